"""Stage 4: tag the domain corpus and choose the masks, then derive the equal-budget random
baseline from the stored masks.   python -m jobs.tag CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import dataclasses
import sys

from engine.contract import PREMASKED, fs, is_complete, open_dataset
from engine.corpus import check_corpus, corpus_files
from engine.pipelines import premasked_dataset, random_baseline_dataset
from engine.writer import write_dataset
from jobs.common import actor_pool, entry_point, require_model, say


def tag(cfg, plan) -> None:
    d, t = cfg.domain, cfg.tag
    if is_complete(plan.premasked):
        say("tag", f"cache hit, {plan.premasked}")
    else:
        require_model(plan.tagger, "the tagger", "train-tagger")
        files = corpus_files(d.corpus)
        documents = check_corpus(files, d.columns(), d.format, d.encoding)
        used = min(documents, d.max_documents) if d.max_documents else documents
        say("tag", f"tagging {used} of {documents} documents from {len(files)} file(s)"
                   + (f" (domain.max_documents={d.max_documents})" if d.max_documents else ""))
        ds = premasked_dataset(files, d.columns(), plan.tagger, fmt=d.format, encoding=d.encoding,
                               max_seq=t.max_seq, mask_ratio=t.mask_ratio, split_sentences=t.split_sentences,
                               max_documents=d.max_documents, pool=actor_pool(cfg))
        manifest = write_dataset(ds, plan.premasked, PREMASKED, fs.basename(plan.premasked), plan.tagger,
                                 {**dataclasses.asdict(t), "masks": "tagger"}, cfg.to_yaml())
        say("tag", f"wrote {manifest.rows} sentences in {len(manifest.shards)} shard(s) to {plan.premasked}")
    if is_complete(plan.random_masks):
        say("tag", f"random baseline: cache hit, {plan.random_masks}")
        return
    ds = random_baseline_dataset(open_dataset(plan.premasked, PREMASKED), cfg.seed)
    manifest = write_dataset(ds, plan.random_masks, PREMASKED, fs.basename(plan.random_masks), plan.tagger,
                             {"masks": "random-equal-budget", "seed": cfg.seed, "source": plan.premasked}, cfg.to_yaml())
    say("tag", f"wrote the random baseline ({manifest.rows} sentences, same masks per sentence) to {plan.random_masks}")


def main(argv: list[str] | None = None) -> int:
    return entry_point("tag", tag, argv)


if __name__ == "__main__":
    sys.exit(main())
