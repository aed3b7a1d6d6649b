"""Masked-LM continued pretraining (stage 5): TaskPT on stored masks, or DAPT/TAPT with masks
drawn at every batch. Rows are (input_ids, mask_positions), packed by trainer/data.py."""
from __future__ import annotations

import numpy as np
import torch

from trainer.objectives.base import Objective

MASKINGS = ("stored", "dynamic")


class MaskedLMAtPositions(torch.nn.Module):
    """BertForMaskedLM with its prediction head run only at the masked positions:
    (N, H) -> (N, V) for N masks instead of (B, T, V) for every position."""

    def __init__(self, mlm):
        super().__init__()
        self.mlm = mlm

    def forward(self, input_ids, attention_mask, rows, cols, targets):
        hidden = self.mlm.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
        logits = self.mlm.cls(hidden[rows, cols])  # (N, V)
        if targets.numel() == 0:  # nothing masked in this batch: a zero loss that keeps the graph
            return hidden.sum() * 0.0, logits
        return torch.nn.functional.cross_entropy(logits.float(), targets), logits


class MaskedLM(Objective):
    metric = "dev_mlm_loss"
    lower_is_better = True

    def __init__(self, masking: str, vocab_size: int, mask_id: int, special_ids: list[int],
                 mask_prob: float = 0.15, max_predictions: int = 40, seed: int = 0, **kw):
        super().__init__(**kw)
        if masking not in MASKINGS:
            raise ValueError(f"masking must be one of {MASKINGS}, got {masking!r}")
        self.masking, self.vocab_size, self.mask_id = masking, vocab_size, mask_id
        self.special_ids = np.asarray(special_ids)
        self.mask_prob, self.max_predictions, self.seed = mask_prob, max_predictions, seed

    def build_model(self, model_path):
        from transformers import BertForMaskedLM

        # A checkpoint without a trained MLM head (e.g. a sentence encoder) gets a fresh one.
        return MaskedLMAtPositions(BertForMaskedLM.from_pretrained(model_path, use_safetensors=True))

    def hf_model(self, module):
        return module.mlm

    def positions(self, row: np.ndarray, stored: np.ndarray, rng) -> np.ndarray:
        """Indexes into the row (no specials) to predict: the stored ones (best first, capped),
        or a fresh 15% draw."""
        if self.masking == "stored":
            return np.asarray(stored, dtype=np.int64)[: self.max_predictions]
        candidates = np.flatnonzero(~np.isin(row, self.special_ids))
        k = min(self.max_predictions, max(1, int(round(self.mask_prob * len(candidates)))))
        return np.sort(rng.choice(candidates, size=min(k, len(candidates)), replace=False))

    def collate(self, batch, train: bool = True, rng: np.random.Generator | None = None):
        # Dev batches get the same masks every time, so dev losses are comparable across epochs.
        rng = rng if train and rng is not None else np.random.default_rng(self.seed)
        rows = [np.asarray(r, dtype=np.int64)[: self.max_seq - 2] for r in batch["input_ids"]]
        stored = batch["mask_positions"] if "mask_positions" in batch else [np.zeros(0)] * len(rows)
        ids, attention = self.pad(rows)
        picks = [self.positions(r, s, rng) for r, s in zip(rows, stored)]
        picks = [p[p < len(r)] for p, r in zip(picks, rows)]
        row_index = np.concatenate([np.full(len(p), i) for i, p in enumerate(picks)] + [np.zeros(0, np.int64)])
        col_index = np.concatenate(picks + [np.zeros(0, np.int64)]).astype(np.int64) + 1  # after [CLS]
        rows_t, cols_t = torch.from_numpy(row_index.astype(np.int64)), torch.from_numpy(col_index)
        targets = ids[rows_t, cols_t].clone()
        # BERT's 80/10/10: [MASK], a random token, or the token unchanged.
        draw = rng.random(len(targets))
        replaced = targets.clone()
        replaced[torch.from_numpy(draw < 0.8)] = self.mask_id
        random_tokens = torch.from_numpy(rng.integers(0, self.vocab_size, len(targets)))
        swap = torch.from_numpy((draw >= 0.8) & (draw < 0.9))
        replaced[swap] = random_tokens[swap]
        ids[rows_t, cols_t] = replaced
        return {"input_ids": ids, "attention_mask": attention, "rows": rows_t, "cols": cols_t, "targets": targets}

    def loss(self, model, batch):
        return model(**batch)[0]

    def evaluate(self, model, batches):
        total, correct, count = 0.0, 0, 0
        for batch in batches:
            loss, logits = model(**batch)
            n = len(batch["targets"])
            total += float(loss) * n
            correct += int((logits.argmax(-1) == batch["targets"]).sum())
            count += n
        return {"dev_mlm_loss": total / max(count, 1), "dev_mlm_accuracy": correct / max(count, 1)}
