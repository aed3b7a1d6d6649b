"""Stage 4: tag the domain corpus and choose the masks; then derive, from the stored scores and
without the model, the masks at the configured budget and candidates (content tokens only for
the selective_content arm) and the equal-budget random baseline.
python -m jobs.tag CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import dataclasses
import sys

from engine.contract import PREMASKED, read_manifest
from engine.corpus import check_corpus, corpus_files, corpus_shards
from engine.models import forward_path
from engine.pipelines import premasked_dataset, random_baseline_dataset, rebudget_dataset
from engine.writer import shard_name
from jobs.common import actor_pool, entry_point, require_model, reuse, say, write_shards
from jobs.plan import TAGGING_RATIO


def tag_corpus(cfg, plan) -> None:
    """The expensive part: every corpus sentence through the tagger (scores + masks at TAGGING_RATIO)."""
    d, t, out = cfg.domain, cfg.tag, plan.tagged
    if reuse("tag", out):
        say("tag", f"cache hit (no tagger loaded), {out}")
        return
    require_model(plan.tagger, "the tagger", "train-tagger")
    files = corpus_files(d.corpus)
    counts = check_corpus(files, d.columns(), d.format, d.encoding)
    shards = corpus_shards(files, counts, t.shard_documents, d.max_documents)
    used = sum(s.stop - s.start for s in shards)
    say("tag", f"tagging {used} of {sum(counts)} documents from {len(files)} file(s) in {len(shards)} shard(s)"
               + (f" (domain.max_documents={d.max_documents})" if d.max_documents else "")
               + f" on {forward_path(plan.tagger)}")

    pool = actor_pool(cfg)

    def build(pending: list[str]):
        wanted = set(pending)
        return premasked_dataset([s for s in shards if s.name in wanted], d.columns(), plan.tagger, fmt=d.format,
                                 encoding=d.encoding, max_seq=t.max_seq, mask_ratio=TAGGING_RATIO,
                                 split_sentences=t.split_sentences, pool=pool)

    params = {**dataclasses.asdict(t), "mask_ratio": TAGGING_RATIO, "masks": "tagger", "candidates": "all"}
    manifest = write_shards("tag", cfg, out, PREMASKED, [s.name for s in shards], build, model=plan.tagger,
                            params=params, pool=pool)
    say("tag", f"wrote {manifest.rows} sentences in {len(manifest.shards)} shard(s) to {out}")


def derive(cfg, plan, out: str, source: str, build, params: dict, what: str) -> None:
    """A premasked dataset computed shard by shard from another one's stored scores: no model."""
    if reuse("tag", out):
        say("tag", f"{what}: cache hit, {out}")
        return
    names = [shard_name(s.path) for s in read_manifest(source).shards]
    manifest = write_shards("tag", cfg, out, PREMASKED, names, lambda pending: build(source, pending),
                            model=plan.tagger, params={**params, "source": source})
    say("tag", f"wrote {what} ({manifest.rows} sentences, derived from stored scores) to {out}")


def tag(cfg, plan) -> None:
    tag_corpus(cfg, plan)
    ratio, candidates = cfg.tag.mask_ratio, cfg.tag.candidates

    def rebudgeted(among: str):
        return lambda src, names: rebudget_dataset(src, names, ratio, among, plan.tagger)

    def described(among: str) -> str:
        return f"the tagger's masks at budget {ratio}" + (" among content tokens" if among == "content" else "")

    if plan.premasked != plan.tagged:
        derive(cfg, plan, plan.premasked, plan.tagged, rebudgeted(candidates),
               {"masks": "tagger", "mask_ratio": ratio, "candidates": candidates}, described(candidates))
    if "selective_content" in cfg.pretrain.arms and plan.premasked_content != plan.premasked:
        derive(cfg, plan, plan.premasked_content, plan.tagged, rebudgeted("content"),
               {"masks": "tagger", "mask_ratio": ratio, "candidates": "content"}, described("content"))
    random_masks(cfg, plan)


def random_masks(cfg, plan) -> None:
    """The random baseline: the selective arm's masks per sentence at random positions, drawn
    with plan.replicate_seed (each pretraining replicate of `taskpt experiment` has its own)."""
    seed = plan.replicate_seed
    derive(cfg, plan, plan.random_masks, plan.premasked, lambda src, names: random_baseline_dataset(src, names, seed),
           {"masks": "random-equal-budget", "seed": seed}, "the random baseline (same masks per sentence)")


def main(argv: list[str] | None = None) -> int:
    return entry_point("tag", tag, argv, trains=False)


if __name__ == "__main__":
    sys.exit(main())
