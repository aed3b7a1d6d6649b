"""Stage 2: score the importance of every wordpiece of the labeled train split with the
fine-tuned scorer, on a Ray actor pool.   python -m jobs.score CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import dataclasses
import sys

from engine.contract import IMPORTANCE, fs
from engine.pipelines import example_shards, importance_dataset
from engine.writer import pending_shards, write_sharded
from jobs.common import actor_pool, entry_point, load_task, pending_note, require_model, reuse, say


def score(cfg, plan) -> None:
    out = plan.importance
    if reuse("score", out):
        say("score", f"cache hit, {out}")
        return
    require_model(plan.general_finetuned, "the fine-tuned scorer", "finetune")
    task = load_task(cfg)
    s = cfg.score
    examples = task.train.head(s.max_examples) if s.max_examples else task.train
    shards = example_shards(examples, s.shard_examples)
    pending = pending_shards(out, list(shards))
    pending_note("score", out, list(shards), pending)
    say("score", f"scoring {examples.height} training examples in {len(shards)} shard(s) with {plan.general_finetuned}")
    ds = importance_dataset({n: shards[n] for n in pending}, plan.general_finetuned, delta=s.delta, max_seq=s.max_seq,
                            split_sentences=s.split_sentences, filter_stopwords=s.filter_stopwords,
                            pool=actor_pool(cfg)) if pending else None
    manifest = write_sharded(ds, out, IMPORTANCE, list(shards), fingerprint=fs.basename(out),
                             model=plan.general_finetuned, params=dataclasses.asdict(s), config_yaml=cfg.to_yaml())
    say("score", f"wrote {manifest.rows} sentences in {len(manifest.shards)} shard(s) to {out}")


def main(argv: list[str] | None = None) -> int:
    return entry_point("score", score, argv)


if __name__ == "__main__":
    sys.exit(main())
