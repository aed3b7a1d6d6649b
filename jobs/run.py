"""The whole pipeline, stage after stage, in one Ray session; a stage whose output is already
in the store is skipped.   python -m jobs.run CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import sys
import time

from jobs.common import entry_point, say
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
    for name, stage in (("1/6 finetune", finetune), ("2/6 score", score), ("3/6 train-tagger", train_tagger),
                        ("4/6 tag", tag), ("5/6 pretrain", pretrain), ("6/6 evaluate", evaluate)):
        say("run", f"stage {name}")
        stage(cfg, plan)
    say("run", f"done in {time.time() - started:.0f}s; everything is under {cfg.store}")


def main(argv: list[str] | None = None) -> int:
    return entry_point("run", run, argv)


if __name__ == "__main__":
    sys.exit(main())
