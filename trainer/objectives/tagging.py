"""The token tagger (stage 3): rows of (input_ids, labels) with 0/1 per wordpiece."""
from __future__ import annotations

import numpy as np
import torch

from trainer.metrics import f1_of_class
from trainer.objectives.base import Objective

IGNORE = -100


class TokenTagging(Objective):
    metric = "dev_f1"

    def __init__(self, class_weights: list[float], **kw):
        super().__init__(**kw)
        self.class_weights = list(class_weights)

    def build_model(self, model_path):
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification.from_pretrained(model_path, num_labels=2, use_safetensors=True)

    def collate(self, batch, train=True, rng=None):
        ids, attention = self.pad(batch["input_ids"])
        # [CLS]/[SEP] are label 0 (they are never important); padding is ignored.
        labels = torch.where(attention.bool(), 0, IGNORE)
        for i, row in enumerate(batch["labels"]):
            row = np.asarray(row, dtype=np.int64)[: self.max_seq - 2]
            labels[i, 1:len(row) + 1] = torch.from_numpy(row)
        return {"input_ids": ids, "attention_mask": attention, "labels": labels}

    def _logits_and_loss(self, model, batch):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        weight = torch.tensor(self.class_weights, device=logits.device)
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten(),
                                                 weight=weight, ignore_index=IGNORE)
        return logits, loss

    def loss(self, model, batch):
        return self._logits_and_loss(model, batch)[1]

    def evaluate(self, model, batches):
        y_true, y_pred, losses = [], [], []
        for batch in batches:
            logits, loss = self._logits_and_loss(model, batch)
            losses.append(float(loss))
            # Score wordpieces only: not [CLS], [SEP] or padding.
            words = (batch["labels"] != IGNORE) & (batch["input_ids"] != self.cls_id) & (batch["input_ids"] != self.sep_id)
            y_true.append(batch["labels"][words].cpu().numpy())
            y_pred.append(logits.argmax(-1)[words].cpu().numpy())
        y_true, y_pred = np.concatenate(y_true), np.concatenate(y_pred)
        return {"dev_loss": float(np.mean(losses)), "dev_f1": f1_of_class(y_true, y_pred, 1),
                "dev_positive_rate": float(np.mean(y_true == 1)) if len(y_true) else 0.0}
