"""Stage 1 (and 6): fine-tune a sequence classifier on the task's train split, keeping the
epoch with the best dev accuracy.   python -m jobs.finetune CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import sys

from engine.contract import model_is_complete
from engine.contract.store import read_model_info
from engine.text import tokenizer_record
from jobs.common import (
    classification_rows,
    entry_point,
    load_task,
    require_model,
    say,
    special_ids,
    stage_share,
    training_params,
)
from trainer.objectives import SequenceClassification
from trainer.run import fit


def finetune(cfg, plan, arm: str = "general") -> dict:
    """Fine-tune the general model (arm "general", the scorer) or a pretrained arm."""
    out = plan.finetuned[arm]
    if model_is_complete(out):
        say("finetune", f"{arm}: cache hit, {out}")
        return read_model_info(out)["metrics"]
    source = cfg.model if arm == "general" else plan.pretrained[arm]
    if arm != "general":
        require_model(source, f"the {arm} pretrained model", "pretrain")
    task = load_task(cfg)
    params = cfg.finetune
    objective = SequenceClassification(num_labels=len(task.labels), max_seq=params.max_seq, **special_ids(source))
    say("finetune", f"{arm}: {task.train.height} train / {task.dev.height} dev examples from {source}")
    metrics = fit(objective, training_params(params), source,
                  classification_rows(task.train, source, params.max_seq),
                  classification_rows(task.dev, source, params.max_seq),
                  out, name=f"finetune-{arm}", config_yaml=cfg.to_yaml(),
                  info={"stage": "finetune", "arm": arm, "source": source, "labels": task.labels,
                        "tokenizer": tokenizer_record(source)},
                  share=stage_share(cfg))
    say("finetune", f"{arm}: wrote {out} (best epoch {metrics['epoch']}, dev accuracy {metrics['dev_accuracy']:.4f})")
    return metrics


def main(argv: list[str] | None = None) -> int:
    return entry_point("finetune", finetune, argv)


if __name__ == "__main__":
    sys.exit(main())
