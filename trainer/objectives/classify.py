"""Sequence classification (stages 1 and 6): rows of (input_ids, label)."""
from __future__ import annotations

import numpy as np
import torch

from trainer.metrics import classification_metrics
from trainer.objectives.base import Objective


class SequenceClassification(Objective):
    metric = "dev_accuracy"

    def __init__(self, num_labels: int, **kw):
        super().__init__(**kw)
        self.num_labels = num_labels

    def build_model(self, model_path):
        from transformers import AutoModelForSequenceClassification

        # From a masked-LM or encoder checkpoint the classifier head starts fresh.
        return AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=self.num_labels,
                                                                  use_safetensors=True)

    def collate(self, batch, train=True, rng=None):
        ids, attention = self.pad(batch["input_ids"])
        return {"input_ids": ids, "attention_mask": attention,
                "labels": torch.as_tensor(np.asarray(batch["label"], dtype=np.int64))}

    def loss(self, model, batch):
        return model(**batch).loss

    def evaluate(self, model, batches):
        y_true, y_pred, losses = [], [], []
        for batch in batches:
            out = model(**batch)
            losses.append(float(out.loss))
            y_true.append(batch["labels"].cpu().numpy())
            y_pred.append(out.logits.argmax(-1).cpu().numpy())
        metrics = classification_metrics(np.concatenate(y_true), np.concatenate(y_pred), self.num_labels)
        return {"dev_loss": float(np.mean(losses)), **{f"dev_{k}": v for k, v in metrics.items()}}
