"""Stage 4: the tagger scores every wordpiece of the corpus and the mask budget picks the best."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.contract import PREMASKED, SCHEMAS
from engine.models import ModelActor


def mask_budget(length: int, ratio: float) -> int:
    """k = int(max(1, ratio * length)): the most positions a sentence may have masked."""
    return int(max(1, ratio * length))


def select_masks(scores: np.ndarray, ratio: float) -> np.ndarray:
    """Positions the tagger predicts important (score > 0), best first, at most the budget.
    Fewer candidates give fewer masks; there is no random fill."""
    candidates = np.flatnonzero(scores > 0)
    ranked = candidates[np.argsort(-scores[candidates], kind="stable")]
    return ranked[: mask_budget(len(scores), ratio)].astype(np.int32)


class MaskTagger(ModelActor):
    """Ray Data actor: rows of (doc_id, sentence_index, input_ids) become `premasked` rows."""

    model_class = "BertForTokenClassification"

    def __init__(self, model_path: str, mask_ratio: float = 0.15, max_batch_tokens: int = 16384):
        super().__init__(model_path, max_batch_tokens)
        self.mask_ratio = mask_ratio

    def process(self, batch: dict[str, np.ndarray]) -> pa.Table:
        rows = [np.asarray(r, dtype=np.int64) for r in batch["input_ids"]]
        # logits: (T, 2) per row with [CLS] at 0; wordpiece j is at j + 1.
        scores = [(x[1:len(r) + 1, 1] - x[1:len(r) + 1, 0]).numpy().astype(np.float32)
                  for x, r in zip(self.logits(rows), rows)]
        return pa.table({
            "doc_id": np.asarray(batch["doc_id"], dtype=np.int64),
            "sentence_index": np.asarray(batch["sentence_index"], dtype=np.int32),
            "input_ids": [r.astype(np.int32) for r in rows],
            "scores": scores,
            "mask_positions": [select_masks(s, self.mask_ratio) for s in scores],
        }, schema=SCHEMAS[PREMASKED])
