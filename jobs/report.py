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


def by_seed(record: dict, arm: str, metric: str) -> dict[int, float]:
    return {r["seed"]: r[metric] for r in record["runs"] if r["arm"] == arm}


def summary(record: dict) -> list[dict]:
    """Mean and sample standard deviation over seeds, per arm and metric."""
    rows = []
    for arm in record["arms"]:
        row = {"arm": arm}
        for metric in METRICS:
            values = np.array(list(by_seed(record, arm, metric).values()))
            row |= {f"{metric}_mean": float(values.mean()),
                    f"{metric}_std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
        rows.append(row | {"seeds": len(values)})
    return rows


def paired(record: dict, a: str, b: str) -> dict:
    """a - b on the seeds both have: mean difference, a 95% t interval, and how often a won."""
    out = {"a": a, "b": b}
    for metric in METRICS:
        x, y = by_seed(record, a, metric), by_seed(record, b, metric)
        diffs = np.array([x[s] - y[s] for s in sorted(set(x) & set(y))])
        n, mean = len(diffs), float(diffs.mean())
        half = t975(n - 1) * diffs.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
        out[metric] = {"seeds": n, "mean_difference": mean, "ci95": [mean - half, mean + half],
                       "a_better": int((diffs > 0).sum()), "ties": int((diffs == 0).sum())}
    return out


def comparisons(record: dict) -> list[dict]:
    """Selective vs random first (the question), then every arm against the general model."""
    arms = record["arms"]
    pairs = [("selective", "random")] if {"selective", "random"} <= set(arms) else []
    pairs += [(arm, "general") for arm in arms if arm != "general" and "general" in arms]
    return [paired(record, a, b) for a, b in pairs]


def compute(record: dict) -> list[dict]:
    """Wall seconds per arm: the shared stages its data comes from, its pretraining, its
    fine-tuning runs (all seeds); with the devices they ran on."""
    rows = []
    for arm in record["arms"]:
        shared = [record["stages"][s] for s in record["uses"][arm]]
        pretrained = [record["pretrain"][arm]] if arm in record["pretrain"] else []
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
             "| arm | test accuracy | test macro-F1 | seeds |", "| --- | --- | --- | --- |"]
    for r in numbers["summary"]:
        lines.append(f"| {r['arm']} | {r['test_accuracy_mean']:.4f} ± {r['test_accuracy_std']:.4f} | "
                     f"{r['test_macro_f1_mean']:.4f} ± {r['test_macro_f1_std']:.4f} | {r['seeds']} |")
    lines += ["", "Paired differences (same seeds), mean and 95% t interval:", "",
              "| comparison | metric | mean difference | 95% CI | first better |", "| --- | --- | --- | --- | --- |"]
    for c in numbers["comparisons"]:
        for metric in METRICS:
            d = c[metric]
            lines.append(f"| {c['a']} - {c['b']} | {metric.removeprefix('test_')} | {d['mean_difference']:+.4f} | "
                         f"{_interval(d['ci95'])} | {d['a_better']} of {d['seeds']} |")
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
    """The mechanism check's table, and whether selective predicted the tagger's tokens better
    than random did."""
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
    if {"selective", "random"} <= set(mechanism):
        gap = mechanism["selective"]["important_accuracy"] - mechanism["random"]["important_accuracy"]
        lines += ["", f"On the tagger's tokens selective - random = {gap:+.4f}: selective TaskPT predicted them "
                      + ("better" if gap > 0 else "no better") + " than random TaskPT."]
    return lines


def _interval(ci: list[float]) -> str:
    return "n/a (one seed)" if any(math.isnan(x) for x in ci) else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"


def write_report(run_dir: str, record: dict | None = None) -> dict:
    """Draw the report of `record` (None: read the run's experiment.json) into `run_dir`; a new
    record is written last. Prints the report and returns its numbers."""
    if record is None:
        record = json.loads(fs.read_bytes(fs.join(run_dir, EXPERIMENT_JSON)))
    table = summary(record)
    numbers = {"summary": table, "comparisons": comparisons(record), "compute": compute(record),
               "mechanism": record.get("mechanism") or {}}
    for name, png in figures(record, table).items():
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
