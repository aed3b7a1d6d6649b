"""Loading checkpoints for inference, and the base of every model actor."""
from __future__ import annotations

import json

import numpy as np

from engine.contract import fs
from engine.readers import InputError

SUPPORTED_MODEL_TYPES = ("bert",)


def check_bert_checkpoint(path: str, key: str = "model") -> dict:
    """The checkpoint's config.json, after checking it is a BERT model with a fast tokenizer."""
    config_path = fs.join(path, "config.json")
    if not fs.is_file(config_path):
        raise InputError(f"{key}: {path} is not a Hugging Face checkpoint directory (no config.json)")
    config = json.loads(fs.read_bytes(config_path))
    if config.get("model_type") not in SUPPORTED_MODEL_TYPES:
        raise InputError(f"{key}: {path} has model_type {config.get('model_type')!r}; taskpt "
                         f"supports BERT-family encoders with model_type in {SUPPORTED_MODEL_TYPES}")
    if not fs.is_file(fs.join(path, "tokenizer.json")):
        raise InputError(f"{key}: {path} has no tokenizer.json (a fast tokenizer is required)")
    if not any(fs.is_file(fs.join(path, f)) for f in ("model.safetensors", "model.safetensors.index.json")):
        raise InputError(f"{key}: {path} has no safetensors weights (model.safetensors)")
    return config


def length_batches(lengths: np.ndarray, max_tokens: int) -> list[np.ndarray]:
    """Row indexes grouped by similar length, each group padded to its longest row holding at
    most `max_tokens` tokens (at least one row per group). Less padding than fixed batches."""
    order = np.argsort(lengths, kind="stable")
    groups, start = [], 0
    for end in range(1, len(order) + 1):
        if end == len(order) or (end + 1 - start) * lengths[order[end]] > max_tokens:
            groups.append(order[start:end])
            start = end
    return groups


def pad_rows(rows: list[np.ndarray], cls_id: int, sep_id: int, pad_id: int):
    """[CLS] row [SEP] for each row, right-padded: (ids, attention_mask), both int64 (B, T)."""
    import torch

    width = max(len(r) for r in rows) + 2
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, 0] = cls_id
        ids[i, 1:len(r) + 1] = torch.as_tensor(r, dtype=torch.long)
        ids[i, len(r) + 1] = sep_id
    lengths = torch.tensor([len(r) + 2 for r in rows])
    return ids, (torch.arange(width)[None, :] < lengths[:, None]).long()


class ModelActor:
    """A Ray Data callable class: loads its model once in `__init__`, then maps batches.

    Subclasses set `model_class` and fill in `process(batch)`. Runs on CUDA in bf16 when a GPU
    is visible (the pool asks for one per actor), else on CPU in fp32.
    """

    model_class: str = ""

    def __init__(self, model_path: str, max_batch_tokens: int = 16384):
        import torch
        import transformers

        from engine.text import load_tokenizer

        self.torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.tokenizer = load_tokenizer(model_path)
        model = getattr(transformers, self.model_class).from_pretrained(model_path, dtype=self.dtype, use_safetensors=True)
        self.model = model.to(self.device).eval()
        self.max_batch_tokens = max_batch_tokens

    def __call__(self, batch: dict[str, np.ndarray]):
        with self.torch.inference_mode():
            return self.process(batch)

    def process(self, batch: dict[str, np.ndarray]):
        raise NotImplementedError

    def logits(self, rows: list[np.ndarray]):
        """Float32 logits of `[CLS] row [SEP]` for every row, in input order, computed in
        length-sorted groups of at most `max_batch_tokens` tokens. Returns a list of tensors."""
        tok = self.tokenizer
        out = [None] * len(rows)
        lengths = np.array([len(r) + 2 for r in rows])
        for group in length_batches(lengths, self.max_batch_tokens):
            ids, attention = pad_rows([rows[i] for i in group], tok.cls_token_id, tok.sep_token_id, tok.pad_token_id)
            logits = self.model(input_ids=ids.to(self.device), attention_mask=attention.to(self.device)).logits.float().cpu()
            for j, i in enumerate(group):
                out[i] = logits[j]
        return out
