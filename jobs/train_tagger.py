"""Stage 3: train the token tagger on the importance labels, keeping the epoch with the best
class-1 F1 on held-out examples.   python -m jobs.train_tagger CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import sys

from engine.contract import is_complete, model_is_complete
from engine.contract.tokenizer import check_same_tokenizer
from engine.text import tokenizer_record
from jobs.common import StageError, entry_point, say, special_ids, stage_share, training_params
from trainer.data import tagger_rows
from trainer.objectives import TokenTagging
from trainer.run import fit


def train_tagger(cfg, plan) -> None:
    out = plan.tagger
    if model_is_complete(out):
        say("train-tagger", f"cache hit, {out}")
        return
    if not is_complete(plan.importance):
        raise StageError(f"the importance dataset is not in the store yet ({plan.importance}); "
                         "run `taskpt score CONFIG` first")
    check_same_tokenizer(plan.importance, cfg.model)
    params = cfg.tagger
    train, val = tagger_rows(plan.importance, params.val_fraction, cfg.seed)
    if val.count() == 0:
        raise StageError("tagger.val_fraction holds out no example; raise it or score more examples")
    objective = TokenTagging(class_weights=params.class_weights, max_seq=params.max_seq, **special_ids(cfg.model))
    metrics = fit(objective, training_params(params), cfg.model, train, val, out, name="train-tagger", config_yaml=cfg.to_yaml(),
                  info={"stage": "train-tagger", "source": cfg.model, "importance": plan.importance,
                        "tokenizer": tokenizer_record(cfg.model)},
                  share=stage_share(cfg))
    say("train-tagger", f"wrote {out} (best epoch {metrics['epoch']}, validation F1 of class 1 {metrics['dev_f1']:.4f})")


def main(argv: list[str] | None = None) -> int:
    return entry_point("train-tagger", train_tagger, argv)


if __name__ == "__main__":
    sys.exit(main())
