"""Masks derived from a `premasked` dataset without any model: another budget or other
candidates chosen from the stored tagger scores, or the random baseline."""
from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.models import list_column
from engine.tagger import select_masks

# Which tokens the tagger's masks may fall on: every token (the published rule), or content
# tokens only (no stop word, no punctuation: engine.stopwords).
CANDIDATES = ("all", "content")


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


@functools.lru_cache(maxsize=4)
def stop_words(model_path: str):
    """engine.stopwords.StopWords of the checkpoint's tokenizer, once per worker process."""
    from engine.stopwords import StopWords
    from engine.token_forms import TokenForms

    return StopWords(TokenForms.for_model(model_path))


def rebudget(batch: pa.Table, mask_ratio: float, candidates: str = "all", model_path: str | None = None) -> pa.Table:
    """Ray Data step: keep every row, choose `mask_positions` again from the stored `scores`
    with another budget ratio (the same rule as tagging, so no model is needed). With
    `candidates` "content", stop words and punctuation (as `model_path`'s tokenizer writes
    them) are never chosen; the budget stays that of the whole sentence."""
    scores = pc.list_flatten(batch.column("scores")).to_numpy(zero_copy_only=False).astype(np.float32)
    offsets, values = list_column(batch.column("input_ids"))
    if candidates == "content":
        words = stop_words(model_path)
        scores = np.where(words.at(values, offsets) | words.punctuation[values], -np.inf, scores)
    elif candidates != "all":
        raise ValueError(f"candidates must be one of {CANDIDATES}, got {candidates!r}")
    positions = [select_masks(scores[a:b], mask_ratio) for a, b in zip(offsets[:-1], offsets[1:])]
    return with_masks(batch, positions)
