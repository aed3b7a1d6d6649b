"""The hooks a training job fills in."""
from __future__ import annotations

import numpy as np
import torch


def pad_with_specials(rows, cls_id: int, sep_id: int, pad_id: int, max_seq: int):
    """[CLS] row [SEP], right-padded to the longest row of the batch rounded up to 8.
    Rows are wordpieces without specials; longer ones are cut to max_seq - 2.
    Returns input_ids (B, T) and attention_mask (B, T), int64."""
    rows = [np.asarray(r, dtype=np.int64)[: max_seq - 2] for r in rows]
    width = -(-(max(len(r) for r in rows) + 2) // 8) * 8
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    lengths = np.array([len(r) + 2 for r in rows])
    for i, r in enumerate(rows):
        ids[i, 0], ids[i, 1:len(r) + 1], ids[i, len(r) + 1] = cls_id, r, sep_id
    attention = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
    return torch.from_numpy(ids), torch.from_numpy(attention)


class Objective:
    """One training job's specifics.

    `metric` names the dev metric that picks the best epoch (higher is better unless
    `lower_is_better`). Implementations keep no state that changes during training, so the
    object can be shipped to every Ray Train worker.
    """

    metric: str = ""
    lower_is_better: bool = False

    def __init__(self, cls_id: int, sep_id: int, pad_id: int, max_seq: int):
        self.cls_id, self.sep_id, self.pad_id, self.max_seq = cls_id, sep_id, pad_id, max_seq

    def pad(self, rows):
        return pad_with_specials(rows, self.cls_id, self.sep_id, self.pad_id, self.max_seq)

    def build_model(self, model_path: str) -> torch.nn.Module:
        """The module to train; its forward is what `loss` calls (so DDP sees it)."""
        raise NotImplementedError

    def hf_model(self, module: torch.nn.Module):
        """The Hugging Face model inside `module`, for save_pretrained."""
        return module

    def collate(self, batch: dict[str, np.ndarray], train: bool = True, rng: np.random.Generator | None = None
                ) -> dict[str, torch.Tensor]:
        """A batch of rows (numpy columns) as model inputs; `train` is False for dev batches.
        Random choices of training batches come from `rng`, which the loop seeds per epoch, so
        an epoch resumed from a checkpoint draws what the interrupted one drew."""
        raise NotImplementedError

    def loss(self, model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def evaluate(self, model, batches) -> dict[str, float]:
        """Dev metrics over an iterable of collated batches (already on the model's device)."""
        raise NotImplementedError
