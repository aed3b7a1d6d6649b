"""The experiment report's numbers, from a hand-built record (no training)."""
import math

import pytest

from jobs.report import comparisons, compute, markdown, summary


def record(seeds: list[int], selective: list[float], random: list[float]) -> dict:
    runs = [{"arm": arm, "seed": s, "test_accuracy": a, "test_macro_f1": a - 0.01, "seconds": 10.0}
            for arm, values in (("selective", selective), ("random", random)) for s, a in zip(seeds, values)]
    stages = {"tag": {"seconds": 5.0, "device": "CPU", "path": "store/premasked/x"}}
    return {"arms": ["selective", "random"], "seeds": seeds, "runs": runs, "stages": stages,
            "uses": {"selective": ["tag"], "random": ["tag"]}, "pretrain": {}, "model": "m", "task": {"train": "t"},
            "corpus": "c", "test_examples": 100, "created": "2026-11-26T00:00:00+00:00"}


def test_the_paired_interval_is_the_t_interval_of_the_per_seed_differences():
    rec = record([1, 2, 3], selective=[0.80, 0.82, 0.81], random=[0.79, 0.80, 0.81])
    [c] = comparisons(rec)
    diffs = [0.01, 0.02, 0.0]
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    half = 4.303 * sd / math.sqrt(3)  # Student's t, 2 degrees of freedom
    assert c["test_accuracy"]["mean_difference"] == pytest.approx(mean)
    assert c["test_accuracy"]["ci95"] == pytest.approx([mean - half, mean + half])
    assert (c["test_accuracy"]["a_better"], c["test_accuracy"]["ties"]) == (2, 1)
    text = markdown(rec, {"summary": summary(rec), "comparisons": [c], "compute": compute(rec)})
    assert f"[{mean - half:+.4f}, {mean + half:+.4f}]" in text


def test_one_seed_gives_no_interval_and_the_report_says_so_instead_of_nan():
    rec = record([42], selective=[0.80], random=[0.78])
    numbers = {"summary": summary(rec), "comparisons": comparisons(rec), "compute": compute(rec)}
    assert all(math.isnan(x) for x in numbers["comparisons"][0]["test_accuracy"]["ci95"])
    assert numbers["summary"][0]["seeds"] == 1 and numbers["summary"][0]["test_accuracy_std"] == 0.0
    text = markdown(rec, numbers)
    assert "n/a (one seed)" in text and "nan" not in text.lower()
    assert numbers["compute"][0]["total_seconds"] == 5.0 + 10.0  # tagging, then one fine-tune


def test_the_head_warmup_and_the_mechanism_check_are_reported_with_their_numbers():
    rec = record([1, 2], selective=[0.80, 0.82], random=[0.79, 0.80])
    rec["stages"]["warm-head"] = {"steps": 40, "seconds": 3.0, "device": "CPU", "path": "store/models/warm-head/w",
                                  "before": {"dev_mlm_loss": 9.5}, "history": [{"dev_mlm_loss": 6.25},
                                                                               {"dev_mlm_loss": 6.5}]}
    rec["mechanism"] = {arm: {"sentences": 300, "important_accuracy": important, "important_predicted": 900,
                              "other_accuracy": 0.4, "other_predicted": 880}
                        for arm, important in (("selective", 0.31), ("random", 0.35))}
    text = markdown(rec, {"summary": summary(rec), "comparisons": comparisons(rec), "compute": compute(rec)})
    assert "held-out masked-LM loss 9.5000 before, 6.2500 after" in text  # the best epoch's, which is kept
    assert "| selective | 0.3100 (900) | 0.4000 (880) |" in text
    assert "selective - random = -0.0400: selective TaskPT predicted them no better than random TaskPT." in text
