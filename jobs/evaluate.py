"""Stage 6: fine-tune every arm (the general model and each pretrained one) and report test
accuracy and macro-F1.   python -m jobs.evaluate CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import functools
import json
import sys

import polars as pl

from engine.contract import fs
from engine.contract.store import read_model_info
from jobs.common import entry_point, load_task, say, tokenize_examples
from jobs.finetune import finetune
from jobs.graph import run_steps
from trainer.evaluate import evaluate_classifier


def show(table: pl.DataFrame) -> None:
    with pl.Config(tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, fmt_str_lengths=60):
        print(table.select("arm", "test_accuracy", "test_macro_f1", "dev_accuracy"), flush=True)


def test_arm(cfg, plan, arm: str, test_rows: dict) -> dict:
    """Fine-tune `arm` (skipped when in the store) and score it on the tokenized test split."""
    finetune(cfg, plan, arm)
    model = plan.finetuned[arm]
    test = evaluate_classifier(model, list(test_rows["input_ids"]), test_rows["label"], cfg.finetune.max_seq)
    dev = read_model_info(model)["metrics"]
    return {"arm": arm, "test_accuracy": test["accuracy"], "test_macro_f1": test["macro_f1"],
            "dev_accuracy": dev["dev_accuracy"], "model": model}


def evaluate(cfg, plan) -> pl.DataFrame:
    results_file = fs.join(plan.results, "results.json")  # written last: marks the results complete
    if fs.is_file(results_file):
        say("evaluate", f"cache hit, {plan.results}")
        table = pl.DataFrame(json.loads(fs.read_bytes(results_file))["arms"])
        show(table)
        return table
    task = load_task(cfg)
    rows = tokenize_examples(task.test, cfg.model, cfg.finetune.max_seq)
    arms = ["general", *cfg.pretrain.arms]  # each fine-tuned, `compute.concurrent_stages` side by side
    done = run_steps({arm: ([], functools.partial(test_arm, cfg, plan, arm, rows)) for arm in arms},
                     cfg.compute.concurrent_stages)
    results = [done[arm] for arm in arms]
    table = pl.DataFrame(results)
    fs.write_bytes(fs.join(plan.results, "config.yaml"), cfg.to_yaml().encode())
    fs.write_bytes(fs.join(plan.results, "results.csv"), table.write_csv().encode())
    fs.write_bytes(results_file, json.dumps(
        {"test_examples": task.test.height, "labels": task.labels, "arms": results}, indent=2).encode())
    say("evaluate", f"test split: {task.test.height} examples; results in {plan.results}")
    show(table)
    return table


def main(argv: list[str] | None = None) -> int:
    return entry_point("evaluate", evaluate, argv)


if __name__ == "__main__":
    sys.exit(main())
