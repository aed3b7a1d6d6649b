"""Stage 4: the tagger scores every wordpiece of the corpus and the mask budget picks the best."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.contract import PREMASKED, SCHEMAS
from engine.models import ModelActor, list_column, ragged_index


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
    """Ray Data actor: rows of (doc_id, sentence_index, input_ids) become `premasked` rows.

    Scores and the mask choice (`select_masks`, done for a whole group at once) are computed
    on the model's device; only the scores and the top-k come back. While the host unpacks one
    group, the device already runs the next, so a GPU is not left waiting for Python.
    """

    model_class = "BertForTokenClassification"
    batch_format = "pyarrow"

    def __init__(self, model_path: str, mask_ratio: float = 0.15, max_batch_tokens: int | None = None,
                 dtype: str = "auto", cpu_threads: int | None = None, pack: bool | None = None,
                 compile_model: bool = False):
        super().__init__(model_path, max_batch_tokens, dtype, cpu_threads, pack, compile_model)
        self.mask_ratio = mask_ratio

    def process(self, batch) -> pa.Table:
        rows, column = self.rows_and_wordpieces(batch)
        offsets, _ = list_column(column)
        lengths = np.diff(offsets)
        # The budget as mask_budget computes it, for every row at once (float64, rounded down).
        budgets = np.maximum(1.0, self.mask_ratio * lengths).astype(np.int64)
        scores = np.empty(int(lengths.sum()), np.float32)
        counts = np.zeros(len(lengths), np.int64)
        chosen = []  # (group, mask positions of its rows, row after row)
        in_flight = None
        for group, inputs, gather, flat, row, within in self.groups(column):
            launched = (group, flat, row, within, *self._rank(inputs, gather, lengths[group], budgets[group]))
            if in_flight is not None:
                chosen.append(self._collect(*in_flight, scores, counts))
            in_flight = launched
        if in_flight is not None:
            chosen.append(self._collect(*in_flight, scores, counts))
        mask_offsets = np.concatenate([[0], np.cumsum(counts)])
        masks = np.empty(int(mask_offsets[-1]), np.int32)
        for group, group_masks in chosen:
            masks[ragged_index(mask_offsets, group)[0]] = group_masks
        return pa.table({
            "doc_id": rows.column("doc_id").cast(pa.int64()),
            "sentence_index": rows.column("sentence_index").cast(pa.int32()),
            "input_ids": column,
            "scores": pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(scores)),
            "mask_positions": pa.ListArray.from_arrays(pa.array(mask_offsets, pa.int32()), pa.array(masks)),
        }, schema=SCHEMAS[PREMASKED])

    def _rank(self, inputs: dict, gather, lengths: np.ndarray, budgets: np.ndarray):
        """Queue the forward pass and the ranking on the device; nothing waits for it here.
        Returns scores (B, T) and, per row, the best k positions and their scores (B, k)."""
        torch = self.torch
        logits = self.unpacked(self.forward(inputs).float(), gather)  # (B, T, 2)
        scores = logits[..., 1] - logits[..., 0]  # (B, T); wordpiece j at column j + 1
        column = torch.arange(scores.shape[1], device=scores.device)[None, :]
        last = torch.from_numpy(lengths).to(scores.device, non_blocking=True)[:, None]
        candidate = (column >= 1) & (column <= last) & (scores > 0)
        ranked = torch.where(candidate, scores, torch.full_like(scores, -torch.inf))
        k = int(budgets.max())
        best, order = ranked.sort(dim=1, descending=True, stable=True)  # ties: earlier position first
        return scores, best[:, :k], order[:, :k], budgets

    @staticmethod
    def _collect(group, flat, row, within, scores_t, best_t, order_t, budgets, scores, counts):
        """Bring one group's results to the host: its scores into `scores` (flat, input row
        order), its mask counts into `counts`; returns (group, its masks row after row)."""
        scores[flat] = scores_t.cpu().numpy()[row, within + 1]
        best, order = best_t.cpu().numpy(), order_t.cpu().numpy()
        take = (np.arange(best.shape[1])[None, :] < budgets[:, None]) & np.isfinite(best)
        counts[group] = take.sum(1)
        return group, (order[take] - 1).astype(np.int32)
