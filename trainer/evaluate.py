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


def masked_accuracy(model_dir: str, rows: list[np.ndarray], positions: list[np.ndarray], max_seq: int,
                    batch_size: int = 64) -> dict[str, float]:
    """How often the masked-LM in `model_dir` predicts the token at `positions` of `rows` (token
    rows without specials) when they are replaced by its mask token, all of a row at once, in
    `[CLS] row [SEP]`: {"accuracy", "predicted"}. Positions past max_seq - 2 are left out."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from trainer.objectives.base import pad_with_specials

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with _LOADING:
        model = AutoModelForMaskedLM.from_pretrained(model_dir, use_safetensors=True).to(device).eval()
        tok = AutoTokenizer.from_pretrained(model_dir)
    correct = total = 0
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            chunk = [np.asarray(r, np.int64)[: max_seq - 2] for r in rows[start:start + batch_size]]
            picks = [np.asarray(p, np.int64) for p in positions[start:start + batch_size]]
            picks = [p[p < len(r)] for p, r in zip(picks, chunk)]
            ids, attention = pad_with_specials(chunk, tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, max_seq)
            row = torch.from_numpy(np.repeat(np.arange(len(chunk)), [len(p) for p in picks]))
            col = torch.from_numpy(np.concatenate(picks + [np.zeros(0, np.int64)]) + 1)  # after [CLS]
            targets = ids[row, col].clone()
            ids[row, col] = tok.mask_token_id
            logits = model(input_ids=ids.to(device), attention_mask=attention.to(device)).logits  # (B, T, V)
            correct += int((logits[row.to(device), col.to(device)].argmax(-1).cpu() == targets).sum())
            total += len(targets)
    return {"accuracy": correct / max(total, 1), "predicted": total}
