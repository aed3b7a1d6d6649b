"""Committed experiment results (docs/results/*) are what `taskpt report` draws from their own
record: the tables, their numbers and the figures, with nothing edited by hand."""
import json
import pathlib

import pytest

from jobs.report import comparisons, compute, markdown, summary

RESULTS = sorted(pathlib.Path(__file__).parents[2].joinpath("docs", "results").glob("*/experiment.json"))


@pytest.mark.parametrize("record_path", RESULTS, ids=[p.parent.name for p in RESULTS])
def test_committed_report_matches_the_record_it_was_drawn_from(record_path):
    run = record_path.parent
    record = json.loads(record_path.read_text())
    numbers = {"summary": summary(record), "comparisons": comparisons(record), "compute": compute(record)}
    assert json.loads((run / "report.json").read_text()) == json.loads(json.dumps(numbers))
    assert (run / "report.md").read_text() == markdown(record, numbers)
    for name in ("accuracy.png", "curves.png"):
        assert (run / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # Every arm has every seed: the paired comparisons are over all of them.
    assert sorted((r["arm"], r["seed"]) for r in record["runs"]) == sorted(
        (arm, seed) for arm in record["arms"] for seed in record["seeds"])


def test_there_is_a_committed_result():
    assert RESULTS, "docs/results/ holds no experiment"
