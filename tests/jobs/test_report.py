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


def two_level_record(rng, pretrain_seeds: int, seeds: int, difference: float, pretrain_sd: float, finetune_sd: float,
                     against_general: bool) -> dict:
    """Runs of arm `a` and of `b` (pretrained with the same seeds, or general: no pretraining)
    drawn from a two-level normal model: a pretraining draw's effect, then each fine-tune's."""

    runs = []
    for arm, mean in (("a", difference), ("b", 0.0)):
        draws = [None] if arm == "b" and against_general else range(pretrain_seeds)
        for p in draws:
            effect = 0.0 if p is None else rng.normal(0.0, pretrain_sd)
            for s in range(seeds):
                runs.append({"arm": arm, "seed": s, "test_accuracy": mean + effect + rng.normal(0.0, finetune_sd),
                             "test_macro_f1": 0.0, **({} if p is None else {"pretrain_seed": 100 + p})})
    return {"runs": runs}


@pytest.mark.parametrize("against_general", [False, True])
def test_the_two_level_interval_covers_the_true_difference_about_95_percent_of_the_time(against_general):
    """400 simulated experiments of 2 pretraining seeds x 5 fine-tuning seeds, pretraining
    effects as large as fine-tuning ones; a fixed seed, so the count is the same every run. An
    interval over the 10 runs' differences, as if they were independent, covers far less."""
    import numpy as np

    from jobs.report import paired, t975

    rng = np.random.default_rng(2026)
    covered = naive = 0
    for _ in range(400):
        rec = two_level_record(rng, 2, 5, 0.003, 0.005, 0.005, against_general)
        c = paired(rec, "a", "b")["test_accuracy"]
        covered += c["ci95"][0] <= 0.003 <= c["ci95"][1]
        assert c["method"] == ("two levels, Welch-Satterthwaite" if against_general else
                               "two levels, t over pretraining seeds")
        a = {(r.get("pretrain_seed"), r["seed"]): r["test_accuracy"] for r in rec["runs"] if r["arm"] == "a"}
        b = {(r.get("pretrain_seed"), r["seed"]): r["test_accuracy"] for r in rec["runs"] if r["arm"] == "b"}
        diffs = np.array([v - b[(None if against_general else k[0], k[1])] for k, v in a.items()])
        half = t975(len(diffs) - 1) * diffs.std(ddof=1) / math.sqrt(len(diffs))
        naive += diffs.mean() - half <= 0.003 <= diffs.mean() + half
    assert 0.91 <= covered / 400 <= 0.99
    assert naive / 400 < 0.85


def test_the_report_gives_the_spread_at_each_level_of_seeds():
    rec = {"arms": ["a"], "runs": [{"arm": "a", "seed": s, "pretrain_seed": p, "test_accuracy": 0.8 + 0.1 * p + 0.01 * s,
                                    "test_macro_f1": 0.5} for p in (0, 1) for s in (0, 1, 2)]}
    [row] = summary(rec)
    assert (row["seeds"], row["pretrain_seeds"]) == (6, 2)
    assert row["test_accuracy_pretrain_std"] == pytest.approx(0.1 / math.sqrt(2))  # of the means 0.81 and 0.91
    assert row["test_accuracy_finetune_std"] == pytest.approx(0.01)


def test_the_mechanism_gap_gets_an_interval_over_pretraining_draws():
    from jobs.report import mechanism_lines

    def arm(accuracies):
        draws = [{"sentences": 10, "important_accuracy": a, "important_predicted": 30, "other_accuracy": 0.4,
                  "other_predicted": 30} for a in accuracies]
        return {**draws[0], "important_accuracy": sum(accuracies) / len(accuracies), "draws": draws}

    text = "\n".join(mechanism_lines({"selective": arm([0.30, 0.34]), "random": arm([0.20, 0.26])}))
    half = 12.706 * math.sqrt(((0.10 - 0.09) ** 2 + (0.08 - 0.09) ** 2)) / math.sqrt(2)  # t, 1 degree of freedom
    assert f"selective - random = +0.0900, 95% interval over 2 pretraining draws [{0.09 - half:+.4f}, " \
           f"{0.09 + half:+.4f}]: selective TaskPT predicted them better than random TaskPT (the interval holds zero)." in text


def test_the_content_only_arm_is_compared_with_random_after_selective_and_before_general():
    runs = [{"arm": arm, "seed": s, "test_accuracy": 0.8 + bump + 0.01 * s, "test_macro_f1": 0.7}
            for arm, bump in (("general", 0.0), ("random", 0.01), ("selective", 0.02), ("selective_content", 0.03))
            for s in (1, 2, 3)]
    rec = {"arms": ["general", "random", "selective", "selective_content"], "runs": runs}
    pairs = [(c["a"], c["b"]) for c in comparisons(rec)]
    assert pairs == [("selective", "random"), ("selective_content", "random"), ("random", "general"),
                     ("selective", "general"), ("selective_content", "general")]
    assert comparisons(rec)[1]["test_accuracy"]["mean_difference"] == pytest.approx(0.02)


def test_the_mechanism_check_says_how_content_only_selective_did_against_random():
    from jobs.report import mechanism_lines

    mechanism = {arm: {"sentences": 10, "important_accuracy": a, "important_predicted": 30, "other_accuracy": 0.4,
                       "other_predicted": 30} for arm, a in (("random", 0.2), ("selective", 0.25),
                                                             ("selective_content", 0.18))}
    text = "\n".join(mechanism_lines(mechanism))
    assert "selective - random = +0.0500: selective TaskPT predicted them better" in text
    assert "selective_content - random = -0.0200: selective_content TaskPT predicted them no better" in text
