"""Shard rows: how a whole input shard travels through a Ray pipeline as one row.

A shard row has a `shard` name and every column of the shard's rows as a list (`nest`). Ray
may split or merge blocks freely without ever splitting a shard, a step sees each shard on its
own (so a model's output never depends on which other shards were in flight), and the writer
turns each shard row into one output file named after it.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

SHARD = "shard"


def nest(name: str, rows: pa.Table) -> pa.Table:
    """One shard row: `shard` = name, and each column of `rows` as a one-element list column."""
    columns = {SHARD: pa.array([name], pa.string())}
    for field, column in zip(rows.schema, rows.columns):
        values = column.combine_chunks()
        columns[field.name] = pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), values)
    return pa.table(columns)


def unnest(batch: pa.Table) -> list[tuple[str, pa.Table]]:
    """(name, rows) of every shard row in a batch, in order."""
    shards = []
    for i, name in enumerate(batch.column(SHARD).to_pylist()):
        row = batch.slice(i, 1)
        shards.append((name, pa.table({f.name: row.column(f.name).combine_chunks().flatten()
                                       for f in row.schema if f.name != SHARD})))
    return shards


def numpy_batch(rows: pa.Table) -> dict[str, np.ndarray]:
    """Ray's "numpy" batch format: a list column becomes an object array of arrays."""
    return {name: rows.column(name).to_numpy(zero_copy_only=False) for name in rows.column_names}


class PerShard:
    """Ray Data callable class around a row-level step (a model actor, the tokenizer): the step
    is built once here and runs on each shard's rows on their own. The step takes Ray's numpy
    batch format unless its class says `batch_format = "pyarrow"`; it returns a pyarrow Table."""

    def __init__(self, step: type, step_kwargs: dict | None = None):
        self.step = step(**(step_kwargs or {}))
        self.numpy = getattr(step, "batch_format", "numpy") == "numpy"

    def __call__(self, batch: pa.Table) -> pa.Table:
        return pa.concat_tables([nest(name, self.step(numpy_batch(rows) if self.numpy else rows))
                                 for name, rows in unnest(batch)])


def per_shard(batch: pa.Table, step, **kwargs) -> pa.Table:
    """Ray Data task: a stateless step `step(rows: pa.Table, **kwargs) -> pa.Table` on each shard."""
    return pa.concat_tables([nest(name, step(rows, **kwargs)) for name, rows in unnest(batch)])
