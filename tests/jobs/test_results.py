"""Committed experiment results (docs/results/*) are what `taskpt report` draws from their own
record: the tables, their numbers and the figures, with nothing edited by hand."""
import json
import pathlib

import pytest

from jobs.report import markdown, report_numbers


def within_rounding(value):
    """The record's numbers with every float compared to 1e-9: sums of seconds drawn on another
    Python differ in the last bit (3.12's sum() compensates, 3.11's does not)."""
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9)
    if isinstance(value, dict):
        return {k: within_rounding(v) for k, v in value.items()}
    if isinstance(value, list):
        return [within_rounding(v) for v in value]
    return value


RESULTS = sorted(pathlib.Path(__file__).parents[2].joinpath("docs", "results").glob("*/experiment.json"))


@pytest.mark.parametrize("record_path", RESULTS, ids=[p.parent.name for p in RESULTS])
def test_committed_report_matches_the_record_it_was_drawn_from(record_path):
    run = record_path.parent
    record = json.loads(record_path.read_text())
    numbers = report_numbers(record)
    assert json.loads((run / "report.json").read_text()) == within_rounding(json.loads(json.dumps(numbers)))
    assert (run / "report.md").read_text() == markdown(record, numbers)
    for name in ("accuracy.png", "curves.png"):
        assert (run / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # Every arm has every seed, a pretrained arm with every pretraining draw (records of one
    # draw have no pretraining seeds): the paired comparisons are over all of them.
    draws = record.get("pretrain_seeds") or [None]
    assert sorted((r["arm"], r.get("pretrain_seed"), r["seed"]) for r in record["runs"]) == sorted(
        (arm, p, seed) for arm in record["arms"] for p in ([None] if arm == "general" else draws)
        for seed in record["seeds"])


def test_there_is_a_committed_result():
    assert RESULTS, "docs/results/ holds no experiment"
