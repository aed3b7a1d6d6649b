"""The experiment's report, drawn from its record (`experiment.json`): accuracy and macro-F1 per
arm over seeds, paired differences with 95% confidence intervals, the compute each arm cost,
and two figures. `taskpt report RUN_DIR` rebuilds it without training.

Files in RUN_DIR: accuracy.png, curves.png, report.md, report.json (the numbers the tables and
figures show), then experiment.json, written last by `taskpt experiment` (the commit marker).
"""
from __future__ import annotations

import json
import math
import sys

import numpy as np

from engine.contract import fs
from jobs.common import say
from jobs.figures import error_bars_png, lines_png

EXPERIMENT_JSON, REPORT_JSON, REPORT_MD = "experiment.json", "report.json", "report.md"
METRICS = ("test_accuracy", "test_macro_f1")
# Two-sided 95% quantiles of Student's t, by degrees of freedom.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df: int) -> float:
    if df <= len(T975):
        return T975[df - 1]
    z = 1.959964  # beyond the table: the Cornish-Fisher expansion around the normal quantile
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def by_seed(record: dict, arm: str, metric: str) -> dict[tuple, float]:
    """`arm`'s runs by (pretraining seed, fine-tuning seed); the pretraining seed is None for
    an arm without pretraining (general) and in records of one pretraining draw."""
    return {(r.get("pretrain_seed"), r["seed"]): r[metric] for r in record["runs"] if r["arm"] == arm}


def levels(values: dict[tuple, float]) -> dict[object, np.ndarray]:
    """Values grouped by pretraining seed, each group in fine-tuning seed order."""
    groups: dict[object, list] = {}
    for (pretrain_seed, seed), value in sorted(values.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        groups.setdefault(pretrain_seed, []).append(value)
    return {k: np.array(v) for k, v in groups.items()}


def summary(record: dict) -> list[dict]:
    """Per arm and metric: the mean over every run, the sample standard deviation over runs,
    and the spread at each level: between pretraining seeds (of their means; with two or
    more) and between fine-tuning seeds (pooled within a pretraining seed)."""
    rows = []
    for arm in record["arms"]:
        row = {"arm": arm}
        for metric in METRICS:
            values = by_seed(record, arm, metric)
            groups = list(levels(values).values())
            flat = np.array(list(values.values()))
            means = np.array([g.mean() for g in groups])
            within = [((g - g.mean()) ** 2).sum() for g in groups]
            within_df = sum(len(g) - 1 for g in groups)
            row |= {f"{metric}_mean": float(flat.mean()),
                    f"{metric}_std": float(flat.std(ddof=1)) if len(flat) > 1 else 0.0,
                    f"{metric}_pretrain_std": float(means.std(ddof=1)) if len(means) > 1 else None,
                    f"{metric}_finetune_std": float(math.sqrt(sum(within) / within_df)) if within_df else None}
        rows.append(row | {"seeds": len(flat), "pretrain_seeds": len(groups)})
    return rows


def paired(record: dict, a: str, b: str) -> dict:
    """a - b, run paired with run (the same fine-tuning seed, and the same pretraining seed
    where both arms pretrain), with a 95% interval that accounts for both levels of seeds:

    - one pretraining draw (or none): Student's t over the paired differences, fine-tuning seed
      by seed (the interval is conditional on that draw);
    - both arms pretrained with the same P >= 2 pretraining seeds: t with P - 1 degrees of
      freedom over the P mean differences of the pretraining seeds, each a mean over fine-tuning
      seeds: their spread holds both levels' variance (exact for a balanced normal two-level model);
    - a pretrained arm against one without pretraining (general, the same fine-tuning seeds):
      the difference of means with the variance of each part, the pretrained arm's from its P
      pretraining seeds' means, the other's from its fine-tuning seeds, and Welch-Satterthwaite
      degrees of freedom.
    Also how often a won, pair by pair."""
    out = {"a": a, "b": b}
    for metric in METRICS:
        x, y = by_seed(record, a, metric), by_seed(record, b, metric)
        gx, gy = levels(x), levels(y)
        if len(gx) == 1 and len(gy) == 1:  # one pretraining draw each, or none: pair by fine-tuning seed
            x, y = {k[1]: v for k, v in x.items()}, {k[1]: v for k, v in y.items()}
            pairs = [(x[k], y[k]) for k in sorted(set(x) & set(y))]
            draws = np.array([p - q for p, q in pairs])
            method = "fine-tuning seeds, one pretraining draw"
        elif set(gx) == set(gy):  # both pretrained with the same P >= 2 pretraining seeds
            keys = sorted(set(x) & set(y))
            pairs = [(x[k], y[k]) for k in keys]
            draws = np.array([d.mean() for d in levels({k: x[k] - y[k] for k in keys}).values()])
            method = "two levels, t over pretraining seeds"
        elif set(gy) == {None}:  # a pretrained arm against general
            pairs = [(x[k], y[(None, k[1])]) for k in sorted(x) if (None, k[1]) in y]
            means, other = np.array([g.mean() for g in gx.values()]), gy[None]
            v1, v2 = means.var(ddof=1) / len(means), (other.var(ddof=1) / len(other) if len(other) > 1 else 0.0)
            mean = float(means.mean() - other.mean())
            parts = v1 ** 2 / (len(means) - 1) + (v2 ** 2 / (len(other) - 1) if len(other) > 1 else 0.0)
            df = (v1 + v2) ** 2 / parts if parts > 0 else 1.0
            half = t975(max(1, int(df))) * math.sqrt(v1 + v2)
            method = "two levels, Welch-Satterthwaite"
            draws = None
        else:
            raise ValueError(f"{a} and {b} were pretrained with different seeds: no pairing")
        if draws is not None:
            mean, n = float(draws.mean()), len(draws)
            half = t975(n - 1) * draws.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
        diffs = np.array([p - q for p, q in pairs])
        out[metric] = {"seeds": len(pairs), "mean_difference": mean, "ci95": [mean - half, mean + half],
                       "a_better": int((diffs > 0).sum()), "ties": int((diffs == 0).sum()), "method": method}
    return out


def comparisons(record: dict) -> list[dict]:
    """Selective (then content-only selective) vs random first (the question), then every arm
    against the general model."""
    arms = record["arms"]
    pairs = [(arm, "random") for arm in ("selective", "selective_content") if {arm, "random"} <= set(arms)]
    pairs += [(arm, "general") for arm in arms if arm != "general" and "general" in arms]
    return [paired(record, a, b) for a, b in pairs]


def compute(record: dict) -> list[dict]:
    """Wall seconds per arm: the shared stages its data comes from, its pretraining (every
    draw), its fine-tuning runs (all seeds); with the devices they ran on."""
    rows = []
    for arm in record["arms"]:
        shared = [record["stages"][s] for s in record["uses"][arm]]
        # Every pretraining draw of the arm (records of one draw have only `pretrain`).
        pretrained = record.get("pretrain_draws", {}).get(arm) or ([record["pretrain"][arm]] if arm in record["pretrain"] else [])
        finetuned = [r for r in record["runs"] if r["arm"] == arm]
        parts = {"shared_seconds": sum(s.get("seconds", 0.0) for s in shared),
                 "pretrain_seconds": sum(p.get("seconds", 0.0) for p in pretrained),
                 "finetune_seconds": sum(r.get("seconds", 0.0) for r in finetuned)}
        devices = sorted({s.get("device", "?") for s in shared + pretrained + finetuned})
        rows.append({"arm": arm, **parts, "total_seconds": sum(parts.values()), "devices": devices,
                     "pretrain_steps": pretrained[0].get("steps") if pretrained else None})
    return rows


def figures(record: dict, table: list[dict]) -> dict[str, bytes]:
    arms = record["arms"]
    accuracy = error_bars_png(
        arms, {"accuracy": ([r["test_accuracy_mean"] for r in table], [r["test_accuracy_std"] for r in table]),
               "macro-F1": ([r["test_macro_f1_mean"] for r in table], [r["test_macro_f1_std"] for r in table])},
        points={"accuracy": [list(by_seed(record, a, "test_accuracy").values()) for a in arms],
                "macro-F1": [list(by_seed(record, a, "test_macro_f1").values()) for a in arms]},
        ylabel="test score", title=f"Test accuracy and macro-F1 per arm (mean ± std over {len(record['seeds'])} seeds)")
    mlm = {}
    for arm, p in record["pretrain"].items():
        mlm[f"{arm} train"] = ([c["step"] for c in p["curve"]], [c["train_loss"] for c in p["curve"]], arm, False)
        mlm[f"{arm} held-out"] = ([h["step"] for h in p["history"]], [h.get("dev_mlm_loss") for h in p["history"]],
                                  arm, True)
    # One legend entry per arm: matplotlib leaves out labels that start with "_".
    first_seed = record["seeds"][0]

    def name(r):
        return r["arm"] if r["seed"] == first_seed else f"_{r['arm']} seed {r['seed']}"

    loss = {name(r): ([c["step"] for c in r.get("curve", [])], [c["train_loss"] for c in r.get("curve", [])], r["arm"], False)
            for r in record["runs"]}
    dev = {name(r): ([h["step"] for h in r["history"]], [h.get("dev_accuracy") for h in r["history"]], r["arm"], True)
           for r in record["runs"]}
    curves = lines_png([("masked-LM loss (TaskPT / DAPT / TAPT)", "step", "loss", mlm),
                        ("fine-tuning: training loss, every seed", "step", "loss", loss),
                        ("fine-tuning: dev accuracy per epoch, every seed", "step", "dev accuracy", dev)], groups=arms)
    return {"accuracy.png": accuracy, "curves.png": curves}


def markdown(record: dict, numbers: dict) -> str:
    where = (f"Model {record['model']}; task {record['task']['train']}; corpus {record['corpus']}; "
             f"test split {record['test_examples']} examples; seeds {record['seeds']}; {record['created']}.")
    lines = [f"# Experiment: {', '.join(record['arms'])}", "", *([record["description"]] if record.get("description") else []),
             where, "",
             "| arm | test accuracy | test macro-F1 | runs | pretraining seeds | accuracy spread: pretraining, fine-tuning |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in numbers["summary"]:
        spread = ", ".join("n/a" if r.get(f"test_accuracy_{level}_std") is None else f"{r[f'test_accuracy_{level}_std']:.4f}"
                           for level in ("pretrain", "finetune"))
        lines.append(f"| {r['arm']} | {r['test_accuracy_mean']:.4f} ± {r['test_accuracy_std']:.4f} | "
                     f"{r['test_macro_f1_mean']:.4f} ± {r['test_macro_f1_std']:.4f} | {r['seeds']} | "
                     f"{r.get('pretrain_seeds', 1)} | {spread} |")
    lines += ["", "Paired differences (same seeds), mean and 95% interval (jobs/report.py `paired`: with two or more "
                  "pretraining seeds it accounts for both levels):", "",
              "| comparison | metric | mean difference | 95% CI | first better | interval |",
              "| --- | --- | --- | --- | --- | --- |"]
    for c in numbers["comparisons"]:
        for metric in METRICS:
            d = c[metric]
            lines.append(f"| {c['a']} - {c['b']} | {metric.removeprefix('test_')} | {d['mean_difference']:+.4f} | "
                         f"{_interval(d['ci95'])} | {d['a_better']} of {d['seeds']} | {d.get('method', '')} |")
    lines += ["", "Compute (wall seconds; shared stages count in full for every arm that needs them):", "",
              "| arm | shared stages | pretraining | fine-tuning (all seeds) | total | devices |",
              "| --- | --- | --- | --- | --- | --- |"]
    for r in numbers["compute"]:
        lines.append(f"| {r['arm']} | {r['shared_seconds']:.1f} | {r['pretrain_seconds']:.1f} | {r['finetune_seconds']:.1f} | "
                     f"{r['total_seconds']:.1f} | {', '.join(r['devices'])} |")
    warm = record["stages"].get("warm-head")
    if warm and warm.get("before"):
        lines += ["", f"Head warm-up ({warm.get('steps')} steps of the masked-LM head alone on general text, "
                      f"{warm.get('seconds', 0.0):.1f} s): held-out masked-LM loss {warm['before']['dev_mlm_loss']:.4f} "
                      f"before, {min(h['dev_mlm_loss'] for h in warm['history']):.4f} after; every pretrained arm starts "
                      "from it."]
    lines += mechanism_lines(record.get("mechanism") or {})
    lines += ["", "| shared stage | seconds | device | output |", "| --- | --- | --- | --- |"]
    for name, s in record["stages"].items():
        lines.append(f"| {name} | {s.get('seconds', float('nan')):.1f} | {s.get('device', '?')} | {s['path']} |")
    lines += ["", "![accuracy](accuracy.png)", "", "![curves](curves.png)", ""]
    return "\n".join(lines)


def mechanism_lines(mechanism: dict) -> list[str]:
    """The mechanism check's table, and whether selective (and content-only selective) predicted
    the tagger's tokens better than random did."""
    if not mechanism:
        return []
    sentences = next(iter(mechanism.values()))["sentences"]
    lines = ["", f"Masked-token prediction on {sentences} held-out in-domain sentences, the same masks for every "
                 "arm: the tokens the tagger masks, and as many other tokens per sentence "
                 "(general: the general encoder with the head every arm starts from):", "",
             "| arm | tagger's tokens | other tokens |", "| --- | --- | --- |"]
    for arm, m in mechanism.items():
        lines.append(f"| {arm} | {m['important_accuracy']:.4f} ({m['important_predicted']}) | "
                     f"{m['other_accuracy']:.4f} ({m['other_predicted']}) |")
    for arm in ("selective", "selective_content"):
        if {arm, "random"} <= set(mechanism):
            lines += ["", gap_line(mechanism, arm)]
    return lines


def gap_line(mechanism: dict, arm: str) -> str:
    """Whether `arm` predicted the tagger's tokens better than random did, with a t interval over
    the pretraining draws where there are several."""
    gap = mechanism[arm]["important_accuracy"] - mechanism["random"]["important_accuracy"]
    draws = [s["important_accuracy"] - r["important_accuracy"]
             for s, r in zip(mechanism[arm].get("draws", []), mechanism["random"].get("draws", []))]
    interval = ""
    if len(draws) > 1:  # one difference per pretraining draw: Student's t over them
        half = t975(len(draws) - 1) * float(np.std(draws, ddof=1)) / math.sqrt(len(draws))
        interval = f", 95% interval over {len(draws)} pretraining draws {_interval([gap - half, gap + half])}"
    return (f"On the tagger's tokens {arm} - random = {gap:+.4f}{interval}: {arm} TaskPT predicted them "
            + ("better" if gap > 0 else "no better") + " than random TaskPT"
            + (" (the interval holds zero)" if interval and gap - half <= 0 <= gap + half else "") + ".")


def _interval(ci: list[float]) -> str:
    return "n/a (one seed)" if any(math.isnan(x) for x in ci) else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"


def report_numbers(record: dict) -> dict:
    """What report.json holds: every number the report shows."""
    return {"summary": summary(record), "comparisons": comparisons(record), "compute": compute(record),
            "mechanism": record.get("mechanism") or {}}


def write_report(run_dir: str, record: dict | None = None) -> dict:
    """Draw the report of `record` (None: read the run's experiment.json) into `run_dir`; a new
    record is written last. Prints the report and returns its numbers."""
    if record is None:
        record = json.loads(fs.read_bytes(fs.join(run_dir, EXPERIMENT_JSON)))
    numbers = report_numbers(record)
    for name, png in figures(record, numbers["summary"]).items():
        fs.write_bytes(fs.join(run_dir, name), png)
    text = markdown(record, numbers)
    fs.write_bytes(fs.join(run_dir, REPORT_MD), text.encode())
    fs.write_bytes(fs.join(run_dir, REPORT_JSON), json.dumps(numbers, indent=2).encode())
    if not fs.is_file(fs.join(run_dir, EXPERIMENT_JSON)):
        fs.write_bytes(fs.join(run_dir, EXPERIMENT_JSON), json.dumps(record, indent=2).encode())
    print(text, flush=True)
    say("report", f"wrote {REPORT_MD}, {REPORT_JSON}, accuracy.png and curves.png in {run_dir}")
    return numbers


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: taskpt report RUN_DIR   (a directory `taskpt experiment` wrote, with experiment.json)",
              file=sys.stderr)
        return 2
    if not fs.is_file(fs.join(argv[0], EXPERIMENT_JSON)):
        print(f"taskpt report: error: {argv[0]} has no {EXPERIMENT_JSON} (not an experiment, or not finished)",
              file=sys.stderr)
        return 2
    write_report(argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
