"""Test-split evaluation of a saved classifier (stage 6), in one process: the test split is
small, and this also proves the saved directory loads with `from_pretrained`."""
from __future__ import annotations

import threading

import numpy as np
import torch

from trainer.metrics import classification_metrics
from trainer.objectives import SequenceClassification

# `from_pretrained` swaps torch's init functions (and PreTrainedModel.init_weights) for no-ops
# while it loads and puts back what it found: two loads at once in one process can put back the
# other's no-op for good, and every later model's fresh weights stay uninitialised. Steps that
# run side by side (jobs/graph.py) evaluate in threads of one process, so loads take turns.
_LOADING = threading.Lock()


def predict(model_dir: str, rows: list[np.ndarray], max_seq: int, batch_size: int = 128) -> tuple[np.ndarray, int]:
    """(the predicted class of every row, the model's number of classes)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with _LOADING:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, use_safetensors=True).to(device).eval()
        tok = AutoTokenizer.from_pretrained(model_dir)
    objective = SequenceClassification(num_labels=model.config.num_labels, cls_id=tok.cls_token_id,
                                       sep_id=tok.sep_token_id, pad_id=tok.pad_token_id, max_seq=max_seq)
    predictions = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            batch = objective.collate({"input_ids": chunk, "label": np.zeros(len(chunk), np.int64)}, train=False)
            logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits
            predictions.append(logits.argmax(-1).cpu().numpy())
    return np.concatenate(predictions), model.config.num_labels


def evaluate_classifier(model_dir: str, rows: list[np.ndarray], labels: np.ndarray, max_seq: int) -> dict[str, float]:
    """Accuracy and macro-F1 of the classifier in `model_dir` on tokenized rows."""
    predicted, num_labels = predict(model_dir, rows, max_seq)
    return classification_metrics(np.asarray(labels), predicted, num_labels)
