"""Training rows from stored datasets, read only through engine.contract."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.contract import IMPORTANCE, PREMASKED, open_dataset, read_manifest

# Training rows that fit in this share of the cluster's object store are computed once and kept
# there (`Dataset.materialize`): the row count, every epoch and every dev pass then read them
# instead of reading and packing the stored shards again (a 3-step MiniLM pretraining job on 2
# cores: 28.4 s -> 22.7 s, bench/train_job.py). Larger ones stream and are read again each time.
# Blocks lost with a node are Ray Core's to rebuild from their lineage (object reconstruction;
# not tested here: the node-loss training test trains on rows the driver holds).
IN_MEMORY_SHARE = 0.1
BYTES_PER_TOKEN = 16  # a generous bound on a row's size per wordpiece (ids, labels or masks, offsets)


def _bucket(ids: np.ndarray, seed: int) -> np.ndarray:
    """A stable pseudo-random number in [0, 1) per id (a split that never moves)."""
    x = (ids.astype(np.uint64) + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(31)
    return (x % np.uint64(1 << 20)).astype(np.float64) / float(1 << 20)


def holdout_split(ds, id_column: str, fraction: float, seed: int):
    """(train, held-out) by id: rows sharing an id (sentences of one example or document) stay
    together, and the split is the same on every run."""
    def keep(batch: pa.Table, held: bool) -> pa.Table:
        mask = _bucket(batch.column(id_column).to_numpy(), seed) < fraction
        return batch.filter(pa.array(mask if held else ~mask))

    train = ds.map_batches(keep, fn_kwargs={"held": False}, batch_format="pyarrow")
    held = ds.map_batches(keep, fn_kwargs={"held": True}, batch_format="pyarrow")
    return train, held


def computed_once_if_small(datasets: tuple, dataset_dir: str) -> tuple:
    """`datasets` (derived from the stored dataset at `dataset_dir`), read in the order of its
    shards, and materialized when its wordpieces fit IN_MEMORY_SHARE of the object store.

    Ordered whether or not they are materialized: unordered, Ray's Parquet reads interleave
    pieces of shards, so a document's sentences can arrive split in two and pack differently
    (a count found 20,117-20,120 instances over runs where training, ordered, read 20,117)."""
    import ray

    for ds in datasets:
        ds.context.execution_options.preserve_order = True
    tokens = read_manifest(dataset_dir).tokens
    if tokens * BYTES_PER_TOKEN > IN_MEMORY_SHARE * ray.cluster_resources().get("object_store_memory", 0):
        return datasets
    return tuple(ds.materialize() for ds in datasets)


def tagger_rows(importance_dir: str, val_fraction: float, seed: int):
    """(train, validation) of (input_ids, labels) from an `importance` dataset."""
    ds = open_dataset(importance_dir, IMPORTANCE).select_columns(["example_id", "input_ids", "labels"])
    return computed_once_if_small(holdout_split(ds, "example_id", val_fraction, seed), importance_dir)


def pack_documents(batch: pa.Table, id_column: str, max_tokens: int, max_predictions: int,
                   short_seq_prob: float, seed: int, drop_unmasked: bool) -> dict[str, np.ndarray]:
    """Consecutive sentences of one document become instances of up to `max_tokens`
    wordpieces (a random shorter target with probability `short_seq_prob`, as in BERT), with
    their mask positions shifted and capped at `max_predictions`.

    Each document is packed on its own, its random targets drawn from a stream seeded by
    (seed, document id): its instances do not depend on the batch it arrives in, on what came
    before it, or on the order of shards, as long as its sentences arrive together (they do
    when Ray reads in order: `computed_once_if_small`)."""
    ids = batch.column(id_column).to_numpy()
    rows = batch.column("input_ids").to_pylist()
    masks = batch.column("mask_positions").to_pylist() if "mask_positions" in batch.column_names else [[]] * len(rows)
    # A document's rows are consecutive (shards are written document by document).
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, np.int64)
    out_ids, out_masks = [], []
    for begin, end in zip(starts, np.r_[starts[1:], len(ids)]):
        rng = np.random.default_rng([seed, int(ids[begin])])
        for instance, positions in pack_document(rows[begin:end], masks[begin:end], rng, max_tokens, short_seq_prob):
            if positions or not drop_unmasked:
                out_ids.append(np.asarray(instance, dtype=np.int32))
                out_masks.append(np.asarray(positions[:max_predictions], dtype=np.int32))
    column_ids, column_masks = np.empty(len(out_ids), object), np.empty(len(out_ids), object)
    column_ids[:], column_masks[:] = out_ids, out_masks
    return {"input_ids": column_ids, "mask_positions": column_masks}


def pack_document(rows: list, masks: list, rng, max_tokens: int, short_seq_prob: float):
    """One document's (wordpieces, mask positions) instances, sentences kept whole (a sentence
    longer than `max_tokens` is cut), each instance's target length drawn from `rng`."""
    def target() -> int:
        return int(rng.integers(2, max_tokens + 1)) if rng.random() < short_seq_prob else max_tokens

    current, positions, length = [], [], target()
    for row, mask in zip(rows, masks):
        if current and len(current) + len(row) > length:
            yield current, positions
            current, positions, length = [], [], target()
        positions.extend(len(current) + p for p in mask if p < max_tokens)
        current.extend(row[:max_tokens])
    if current:
        yield current, positions


def pretraining_rows(dataset_dir: str, kind: str, max_tokens: int, max_predictions: int,
                     short_seq_prob: float, seed: int, stored_masks: bool, holdout: float):
    """(train, held-out) packed instances from a `premasked` (domain) or `importance` (the
    task's own text, for TAPT) dataset."""
    id_column = "doc_id" if kind == PREMASKED else "example_id"
    columns = [id_column, "input_ids"] + (["mask_positions"] if kind == PREMASKED else [])
    ds = open_dataset(dataset_dir, kind).select_columns(columns)
    pack = dict(id_column=id_column, max_tokens=max_tokens, max_predictions=max_predictions,
                short_seq_prob=short_seq_prob, seed=seed, drop_unmasked=stored_masks)
    train, held = holdout_split(ds, id_column, holdout, seed)
    return computed_once_if_small((train.map_batches(pack_documents, fn_kwargs=pack, batch_format="pyarrow"),
                                   held.map_batches(pack_documents, fn_kwargs=pack, batch_format="pyarrow")), dataset_dir)
