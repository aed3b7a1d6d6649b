"""Stage 2: score the importance of every wordpiece of the labeled train split with the
fine-tuned scorer, on a Ray actor pool.   python -m jobs.score CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import dataclasses
import sys

from engine.contract import IMPORTANCE, fs, is_complete
from engine.pipelines import importance_dataset
from engine.writer import write_dataset
from jobs.common import actor_pool, entry_point, load_task, require_model, say


def score(cfg, plan) -> None:
    out = plan.importance
    if is_complete(out):
        say("score", f"cache hit, {out}")
        return
    require_model(plan.general_finetuned, "the fine-tuned scorer", "finetune")
    task = load_task(cfg)
    examples = task.train.head(cfg.score.max_examples) if cfg.score.max_examples else task.train
    s = cfg.score
    say("score", f"scoring {examples.height} training examples with {plan.general_finetuned}")
    ds = importance_dataset(examples, plan.general_finetuned, delta=s.delta, max_seq=s.max_seq,
                            split_sentences=s.split_sentences, filter_stopwords=s.filter_stopwords,
                            pool=actor_pool(cfg))
    manifest = write_dataset(ds, out, IMPORTANCE, fs.basename(out), plan.general_finetuned,
                             dataclasses.asdict(s), cfg.to_yaml())
    say("score", f"wrote {manifest.rows} sentences in {len(manifest.shards)} shard(s) to {out}")


def main(argv: list[str] | None = None) -> int:
    return entry_point("score", score, argv)


if __name__ == "__main__":
    sys.exit(main())
