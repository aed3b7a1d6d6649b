"""Stage 2: score the importance of every token of the labeled train split with the
fine-tuned scorer, on a Ray actor pool.   python -m jobs.score CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import dataclasses
import sys

from engine.contract import IMPORTANCE
from engine.models import forward_path
from engine.pipelines import example_shards, importance_dataset
from jobs.common import actor_pool, entry_point, load_task, require_model, reuse, say, write_shards


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
    pool = actor_pool(cfg)
    say("score", f"scoring {examples.height} training examples in {len(shards)} shard(s) with {plan.general_finetuned} "
                 f"on {forward_path(plan.general_finetuned)}")
    manifest = write_shards(
        "score", cfg, out, IMPORTANCE, list(shards),
        lambda pending: importance_dataset({n: shards[n] for n in pending}, plan.general_finetuned, delta=s.delta,
                                           max_seq=s.max_seq, split_sentences=s.split_sentences,
                                           filter_stopwords=s.filter_stopwords, pool=pool),
        model=plan.general_finetuned, params=dataclasses.asdict(s), pool=pool)
    say("score", f"wrote {manifest.rows} sentences in {len(manifest.shards)} shard(s) to {out}")


def main(argv: list[str] | None = None) -> int:
    return entry_point("score", score, argv, trains=False)


if __name__ == "__main__":
    sys.exit(main())
