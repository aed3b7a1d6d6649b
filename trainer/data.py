"""Training rows from stored datasets, read only through engine.contract."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.contract import IMPORTANCE, PREMASKED, SCHEMAS, open_dataset, read_manifest, read_rows

# Training rows are computed three ways, by the stored dataset's size in wordpieces:
# - up to DRIVER_TOKENS (a task's labeled set, a demo corpus): read and packed on the driver,
#   and handed to Ray as in-memory blocks. No Ray Data job runs, so none of its worker
#   processes start (a tiny pretraining arm on 2 cores: 11.8 s before fit() -> 3.1 s,
#   imports included).
# - up to IN_MEMORY_SHARE of the cluster's object store: read and packed by Ray Data in
#   parallel once, and kept there (`Dataset.materialize`): the row count, every epoch and every
#   dev pass then read them instead of reading and packing the shards again (a 3-step MiniLM
#   pretraining job on 2 cores: 28.4 s -> 22.7 s, bench/train_job.py).
# - larger: streamed, read and packed again at every pass.
# Blocks lost with a node are Ray Core's to rebuild from their lineage (object reconstruction;
# not tested here: the node-loss training test trains on rows the driver holds).
DRIVER_TOKENS = 4_000_000
IN_MEMORY_SHARE = 0.1
BYTES_PER_TOKEN = 16  # a generous bound on a row's size per wordpiece (ids, labels or masks, offsets)
DRIVER_BLOCK_ROWS = 4096  # rows per block of driver-computed rows: several blocks for several workers


def _bucket(ids: np.ndarray, seed: int) -> np.ndarray:
    """A stable pseudo-random number in [0, 1) per id (a split that never moves)."""
    x = (ids.astype(np.uint64) + np.uint64(seed)) * np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(31)
    return (x % np.uint64(1 << 20)).astype(np.float64) / float(1 << 20)


def holdout_part(batch: pa.Table, id_column: str, fraction: float, seed: int, held: bool) -> pa.Table:
    """The rows of `batch` in the held-out part (`held`) or the training part, by id: rows
    sharing an id (sentences of one example or document) stay together, on every run."""
    mask = _bucket(batch.column(id_column).to_numpy(), seed) < fraction
    return batch.filter(pa.array(mask if held else ~mask))


def training_rows(dataset_dir: str, kind: str, columns: list[str], id_column: str, fraction: float, seed: int,
                  transform=None, transform_args: dict | None = None) -> tuple:
    """(train, held-out) Ray datasets of `columns` of the stored dataset at `dataset_dir`,
    split by `id_column` (`holdout_part`), each part's batches passed through
    `transform(batch, **transform_args)` (pyarrow Table -> Table) when given.

    Rows come in the order of the shards however they are computed: unordered, Ray's Parquet
    reads interleave pieces of shards, so a document's sentences can arrive split in two and pack
    differently (a count found 20,117-20,120 instances over runs where training, ordered, read 20,117)."""
    import ray
    import ray.data

    split = dict(id_column=id_column, fraction=fraction, seed=seed)
    tokens = read_manifest(dataset_dir).tokens
    if tokens <= DRIVER_TOKENS:
        return table_rows(read_rows(dataset_dir, kind, columns), id_column, fraction, seed, transform, transform_args)
    ds = open_dataset(dataset_dir, kind).select_columns(columns)
    datasets = [ds.map_batches(holdout_part, fn_kwargs={**split, "held": held}, batch_format="pyarrow")
                for held in (False, True)]
    if transform is not None:
        datasets = [d.map_batches(transform, fn_kwargs=transform_args or {}, batch_format="pyarrow") for d in datasets]
    for d in datasets:
        d.context.execution_options.preserve_order = True
    if tokens * BYTES_PER_TOKEN > IN_MEMORY_SHARE * ray.cluster_resources().get("object_store_memory", 0):
        return tuple(datasets)
    return tuple(d.materialize() for d in datasets)


def table_rows(table: pa.Table, id_column: str, fraction: float, seed: int, transform=None,
               transform_args: dict | None = None) -> tuple:
    """(train, held-out) Ray datasets of a table the driver holds, split by `id_column`
    (`holdout_part`) and passed through `transform` as `training_rows` does, handed to Ray as
    in-memory blocks."""
    import ray.data

    parts = [holdout_part(table, id_column, fraction, seed, held=held) for held in (False, True)]
    if transform is not None:
        parts = [transform(part, **(transform_args or {})) for part in parts]
    return tuple(ray.data.from_arrow([part.slice(i, DRIVER_BLOCK_ROWS)
                                      for i in range(0, max(part.num_rows, 1), DRIVER_BLOCK_ROWS)])
                 for part in parts)


def tagger_rows(importance_dir: str, val_fraction: float, seed: int):
    """(train, validation) of (input_ids, labels) from an `importance` dataset."""
    return training_rows(importance_dir, IMPORTANCE, ["example_id", "input_ids", "labels"], "example_id",
                         val_fraction, seed)


def pack_documents(batch: pa.Table, id_column: str, max_tokens: int, max_predictions: int,
                   short_seq_prob: float, seed: int, drop_unmasked: bool) -> pa.Table:
    """Consecutive sentences of one document become instances of up to `max_tokens`
    wordpieces (a random shorter target with probability `short_seq_prob`, as in BERT), with
    their mask positions shifted and capped at `max_predictions`.

    Each document is packed on its own, its random targets drawn from a stream seeded by
    (seed, document id): its instances do not depend on the batch it arrives in, on what came
    before it, or on the order of shards, as long as its sentences arrive together (they do
    when they are read in order: `training_rows`)."""
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
                out_ids.append(instance)
                out_masks.append(positions[:max_predictions])
    rows_type = pa.list_(pa.int32())
    return pa.table({"input_ids": pa.array(out_ids, rows_type), "mask_positions": pa.array(out_masks, rows_type)})


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
                     short_seq_prob: float, seed: int, stored_masks: bool, holdout: float, pack_seed: int | None = None):
    """(train, held-out) packed instances from a `premasked` (domain) or `importance` (the
    task's own text, for TAPT) dataset: documents held out by `seed`, packed with `pack_seed`
    (default `seed`)."""
    id_column = "doc_id" if kind == PREMASKED else "example_id"
    columns = [id_column, "input_ids"] + (["mask_positions"] if kind == PREMASKED else [])
    pack = dict(id_column=id_column, max_tokens=max_tokens, max_predictions=max_predictions,
                short_seq_prob=short_seq_prob, seed=seed if pack_seed is None else pack_seed, drop_unmasked=stored_masks)
    return training_rows(dataset_dir, kind, columns, id_column, holdout, seed, pack_documents, pack)


def document_rows(table: pa.Table, max_tokens: int, short_seq_prob: float, seed: int, holdout: float):
    """(train, held-out) packed instances, without masks (drawn at every batch), of tokenized
    documents the driver holds: a table of (doc_id, input_ids), a document's sentences in order."""
    pack = dict(id_column="doc_id", max_tokens=max_tokens, max_predictions=0, short_seq_prob=short_seq_prob,
                seed=seed, drop_unmasked=False)
    return table_rows(table.select(["doc_id", "input_ids"]), "doc_id", holdout, seed, pack_documents, pack)


def held_out_sentences(dataset_dir: str, fraction: float, seed: int, limit: int) -> pa.Table:
    """Up to `limit` rows (doc_id, sentence_index, input_ids, mask_positions) of a `premasked`
    dataset's held-out documents, as pretraining holds them out (`holdout_part` by doc_id with
    the same fraction and seed): sentences no pretraining arm trained on. Shard by shard, in
    manifest order, stopping once `limit` rows are found."""
    from engine.contract import fs

    columns = ["doc_id", "sentence_index", "input_ids", "mask_positions"]
    schema = pa.schema([SCHEMAS[PREMASKED].field(c) for c in columns])
    found, count = [], 0
    for shard in read_manifest(dataset_dir).shards:
        table = fs.read_parquet(fs.join(dataset_dir, shard.path), columns).cast(schema)
        held = holdout_part(table, "doc_id", fraction, seed, held=True)
        found.append(held.slice(0, limit - count))
        count += found[-1].num_rows
        if count >= limit:
            break
    return pa.concat_tables(found) if found else schema.empty_table()
