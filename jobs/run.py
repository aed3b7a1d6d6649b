"""The whole pipeline, stage after stage, in one Ray session; a stage whose output is already
in the store is skipped.   python -m jobs.run CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import sys
import time

from engine.contract import fs
from jobs.common import check_inputs, entry_point, say
from jobs.evaluate import evaluate
from jobs.finetune import finetune
from jobs.pretrain import pretrain
from jobs.score import score
from jobs.tag import tag
from jobs.train_tagger import train_tagger


def run(cfg, plan) -> None:
    started = time.time()
    if cfg.description:
        say("run", cfg.description)
    check_inputs(cfg)
    took = []  # "score 41s": where the time went, for the summary
    for number, name, stage in ((1, "finetune", finetune), (2, "score", score), (3, "train-tagger", train_tagger),
                                (4, "tag", tag), (5, "pretrain", pretrain), (6, "evaluate", evaluate)):
        say("run", f"stage {number}/6 {name}")
        stage_started = time.time()
        stage(cfg, plan)
        took.append(f"{name} {time.time() - stage_started:.0f}s")
    say("run", f"done in {time.time() - started:.0f}s ({', '.join(took)}). Written (or reused) under {cfg.store}:")
    outputs = [("importance dataset", plan.importance), ("tagger", plan.tagger),
               *([("premasked dataset (tagger scores)", plan.tagged)] if plan.tagged != plan.premasked else []),
               ("premasked dataset (tagger masks)", plan.premasked), ("premasked dataset (random masks)", plan.random_masks),
               *((f"pretrained model ({arm})", path) for arm, path in plan.pretrained.items()),
               *((f"fine-tuned model ({arm})", path) for arm, path in plan.finetuned.items()),
               ("results", plan.results)]
    for what, path in outputs:
        print(f"  {what:<34} {path}", flush=True)
    say("run", f"training curves of every model: tensorboard --logdir {fs.join(cfg.store, 'models')}")


def main(argv: list[str] | None = None) -> int:
    return entry_point("run", run, argv)


if __name__ == "__main__":
    sys.exit(main())
