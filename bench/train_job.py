"""A training job's fixed cost: one short `taskpt pretrain` job, its rows streamed from the
store (read for the count, again for training, again for the dev pass), against its rows read
and packed once by Ray Data and materialized (`trainer.data` does that for rows that fit a tenth
of the object store), against its rows read and packed on the driver (`trainer.data` does that
up to `DRIVER_TOKENS` wordpieces).

    python bench/train_job.py --shape minilm --documents 20000 --steps 3 --runs 2   # 2-core CPU
    python bench/train_job.py --shape base --documents 40000 --steps 20 --runs 2    # GPU machine

The data: the demo's dialog turns, two per document, with 15% of each sentence's wordpieces
as stored masks, written as a premasked dataset of `--shard-documents` documents per shard.
Each job is what `taskpt pretrain` runs for a stored-mask arm: `trainer.data.pretraining_rows`,
the two counts, then `trainer.run.fit` for `--steps` steps and one dev pass. The variants take
turns, so drift over the run falls on both.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
import types

import numpy as np
import pyarrow as pa

import harness

VARIANTS = ("streamed", "materialized", "on the driver")


def premasked_dataset(data: str, tokenizer: str, documents: int, shard_documents: int, out: str) -> int:
    """Dialog turns as a premasked contract dataset; returns its sentences."""
    from engine.contract import PREMASKED, SCHEMAS, Manifest, write_manifest
    from engine.writer import write_shard

    rows = harness.masked_dialog_sentences(data, tokenizer, turns=2 * documents, turns_per_document=2,
                                           max_tokens=126, seed=0)
    zeros = [np.zeros(len(r), np.float32) for r in rows.column("input_ids").to_pylist()]
    table = rows.append_column("scores", pa.array(zeros, pa.list_(pa.float32())))
    table = table.select(SCHEMAS[PREMASKED].names).cast(SCHEMAS[PREMASKED])
    doc = table.column("doc_id").to_numpy()
    shards = [write_shard(out, f"part{start:08d}", table.filter(pa.array((doc >= start) & (doc < start + shard_documents))))
              for start in range(0, documents, shard_documents)]
    write_manifest(out, Manifest(kind=PREMASKED, fingerprint="bench", model="bench", params={}, shards=shards,
                                 rows=table.num_rows, tokens=sum(s.tokens for s in shards)))
    return table.num_rows


def job(dataset: str, model: str, steps: int, variant: str, out: str) -> dict:
    """One pretraining job as `taskpt pretrain` runs it for a stored-mask arm (128-wordpiece
    rows, at most 20 predictions each, `steps` steps), timed in parts."""
    import trainer.data
    from engine.contract import PREMASKED
    from jobs.config import PretrainConfig
    from jobs.pretrain import masked_lm_objective
    from trainer.run import fit

    p = PretrainConfig(max_seq=128, max_predictions=20, lr=1e-5, max_steps=steps, log_every=max(1, steps))
    saved = trainer.data.IN_MEMORY_SHARE, trainer.data.DRIVER_TOKENS
    # A share of 0: no rows fit the object store, they stream; 0 tokens: none are read on the driver.
    trainer.data.IN_MEMORY_SHARE = 0.0 if variant == "streamed" else saved[0]
    trainer.data.DRIVER_TOKENS = 10**12 if variant == "on the driver" else 0
    try:
        start = time.perf_counter()
        train, held = trainer.data.pretraining_rows(dataset, PREMASKED, max_tokens=p.max_seq - 2,
                                                    max_predictions=p.max_predictions, short_seq_prob=p.short_seq_prob,
                                                    seed=0, stored_masks=True, holdout=p.holdout)
        rows, held_rows = train.count(), held.count()
        counted = time.perf_counter()
    finally:
        trainer.data.IN_MEMORY_SHARE, trainer.data.DRIVER_TOKENS = saved
    fit(masked_lm_objective(model, p, stored=True), p, model, train, held, out, name="bench-train-job", config_yaml="",
        info={}, rows=rows)
    done = time.perf_counter()
    return {"instances": rows, "held_out": held_rows, "rows_and_counts_s": counted - start, "fit_s": done - counted,
            "job_s": done - start}


def main(argv=None) -> int:
    parser = harness.arguments(__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=20000, help="documents (two dialog turns each)")
    parser.add_argument("--shard-documents", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per job")
    parser.add_argument("--runs", type=int, default=2, help="jobs per variant")
    parser.add_argument("--variants", default=list(VARIANTS), type=lambda text: text.split(","),
                        help="comma-separated, of: " + ", ".join(VARIANTS) + "; the first is the baseline")
    args = parser.parse_args(argv)
    if len(args.variants) < 2 or not set(args.variants) <= set(VARIANTS):
        parser.error(f"--variants: two or more of {', '.join(VARIANTS)}")
    with harness.scratch(args.work, "train-job") as work:
        return measure(args, work)


def measure(args, work: str) -> int:
    from jobs.common import ray_session

    tokenizer = harness.tokenizer_dir(args.tokenizer)
    model = harness.build_model(args.shape, "BertModel", tokenizer, os.path.join(work, "model"))
    dataset = os.path.join(work, "premasked")
    sentences = premasked_dataset(args.data, tokenizer, args.documents, args.shard_documents, dataset)
    variants = args.variants  # the first is the baseline
    runs = {v: [] for v in variants}
    local = types.SimpleNamespace(compute=types.SimpleNamespace(address=None, num_cpus=None))
    with ray_session(local):  # a command's local Ray, unless one is running (the test session's)
        for run in range(args.runs):
            for variant in variants:
                runs[variant].append(job(dataset, model, args.steps, variant,
                                         os.path.join(work, f"model-{variant.replace(' ', '-')}-{run}")))
    table = [{"variant": v, "instances": r[0]["instances"],
              **{k: statistics.median(x[k] for x in r) for k in ("rows_and_counts_s", "fit_s", "job_s")}}
             for v, r in runs.items()]
    # Job time of the baseline (the first variant) over each other variant's.
    speedup = {row["variant"]: table[0]["job_s"] / row["job_s"] for row in table[1:]}
    harness.print_table(f"a {args.steps}-step pretraining job, {args.shape}, {sentences:,} sentences in "
                        f"{-(-args.documents // args.shard_documents)} shards, median of {args.runs}, {harness.card()} "
                        f"({variants[0]} job time over: " + ", ".join(f"{v} {x:.2f}x" for v, x in speedup.items()) + ")",
                        table)
    harness.write_json(args.out, f"train-job-{args.shape}", {
        "shape": args.shape, "sentences": sentences, "documents": args.documents, "steps": args.steps,
        "runs": runs, "table": table, "speedup": speedup})
    return 0


if __name__ == "__main__":
    sys.exit(main())
