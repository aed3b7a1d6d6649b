"""Masks derived from a `premasked` dataset without any model: another budget chosen from the
stored tagger scores, or the random baseline."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.tagger import select_masks


def with_masks(batch: pa.Table, positions: list[np.ndarray]) -> pa.Table:
    """The batch with its `mask_positions` column replaced; every other column is kept as is."""
    column = pa.array(positions, type=batch.schema.field("mask_positions").type)
    return batch.set_column(batch.schema.get_field_index("mask_positions"), "mask_positions", column)


def random_equal_budget(batch: pa.Table, seed: int) -> pa.Table:
    """Ray Data step: keep every row, replace `mask_positions` by as many uniformly random
    positions. The draw depends only on (seed, doc_id, sentence_index), so it is reproducible
    whatever the batching."""
    docs = batch.column("doc_id").to_numpy()
    sentences = batch.column("sentence_index").to_numpy()
    lengths = pc.list_value_length(batch.column("input_ids")).to_numpy()
    counts = pc.list_value_length(batch.column("mask_positions")).to_numpy()
    positions = [
        np.random.default_rng([seed, int(d), int(s)]).choice(int(n), int(k), replace=False).astype(np.int32)
        for d, s, n, k in zip(docs, sentences, lengths, counts)
    ]
    return with_masks(batch, positions)


def rebudget(batch: pa.Table, mask_ratio: float) -> pa.Table:
    """Ray Data step: keep every row, choose `mask_positions` again from the stored `scores`
    with another budget ratio (the same rule as tagging, so no model is needed)."""
    positions = [select_masks(np.asarray(s, dtype=np.float32), mask_ratio) for s in batch.column("scores").to_pylist()]
    return with_masks(batch, positions)
