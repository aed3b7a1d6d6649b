"""Stage 4: tag the domain corpus and choose the masks; then derive, from the stored scores and
without the model, the masks at the configured budget and the equal-budget random baseline.   python -m jobs.tag CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import dataclasses
import sys

from engine.contract import PREMASKED, fs, is_complete, open_dataset
from engine.corpus import check_corpus, corpus_files
from engine.pipelines import premasked_dataset, random_baseline_dataset, rebudget_dataset
from engine.writer import write_dataset
from jobs.common import actor_pool, entry_point, require_model, say
from jobs.plan import TAGGING_RATIO


def tag_corpus(cfg, plan) -> None:
    """The expensive part: every corpus sentence through the tagger (scores + masks at TAGGING_RATIO)."""
    d, t = cfg.domain, cfg.tag
    if is_complete(plan.tagged):
        say("tag", f"cache hit (no tagger loaded), {plan.tagged}")
        return
    require_model(plan.tagger, "the tagger", "train-tagger")
    files = corpus_files(d.corpus)
    documents = check_corpus(files, d.columns(), d.format, d.encoding)
    used = min(documents, d.max_documents) if d.max_documents else documents
    say("tag", f"tagging {used} of {documents} documents from {len(files)} file(s)"
               + (f" (domain.max_documents={d.max_documents})" if d.max_documents else ""))
    ds = premasked_dataset(files, d.columns(), plan.tagger, fmt=d.format, encoding=d.encoding,
                           max_seq=t.max_seq, mask_ratio=TAGGING_RATIO, split_sentences=t.split_sentences,
                           max_documents=d.max_documents, pool=actor_pool(cfg))
    params = {**dataclasses.asdict(t), "mask_ratio": TAGGING_RATIO, "masks": "tagger"}
    manifest = write_dataset(ds, plan.tagged, PREMASKED, fs.basename(plan.tagged), plan.tagger, params, cfg.to_yaml())
    say("tag", f"wrote {manifest.rows} sentences in {len(manifest.shards)} shard(s) to {plan.tagged}")


def derive(cfg, plan, out: str, source: str, transform, params: dict, what: str) -> None:
    """A premasked dataset computed from another one's stored scores: seconds, no model."""
    if is_complete(out):
        say("tag", f"{what}: cache hit, {out}")
        return
    ds = transform(open_dataset(source, PREMASKED))
    manifest = write_dataset(ds, out, PREMASKED, fs.basename(out), plan.tagger, {**params, "source": source}, cfg.to_yaml())
    say("tag", f"wrote {what} ({manifest.rows} sentences, derived from stored scores) to {out}")


def tag(cfg, plan) -> None:
    tag_corpus(cfg, plan)
    ratio = cfg.tag.mask_ratio
    if plan.premasked != plan.tagged:
        derive(cfg, plan, plan.premasked, plan.tagged, lambda ds: rebudget_dataset(ds, ratio),
               {"masks": "tagger", "mask_ratio": ratio}, f"the tagger's masks at budget {ratio}")
    derive(cfg, plan, plan.random_masks, plan.premasked, lambda ds: random_baseline_dataset(ds, cfg.seed),
           {"masks": "random-equal-budget", "seed": cfg.seed}, "the random baseline (same masks per sentence)")


def main(argv: list[str] | None = None) -> int:
    return entry_point("tag", tag, argv)


if __name__ == "__main__":
    sys.exit(main())
