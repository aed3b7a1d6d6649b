"""Sentence splitting and wordpiece tokenization with the model's fast tokenizer."""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import itertools
import json
import os
import re

import numpy as np
import pyarrow as pa

from engine.contract import fs, model_is_complete
from engine.contract.store import TOKENIZER_FILES, read_model_info
from engine.contract.tokenizer import named_special_tokens

# A sentence ends at . ! or ? (possibly repeated, possibly followed by closing quotes or
# brackets) and whitespace, unless the word before is a known abbreviation, has inner dots
# (p.m., u.s.) or is an initial.
_BOUNDARY = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*\s+")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "vs", "jr", "sr", "prof", "inc", "ltd", "co",
                  "e.g", "i.e", "etc", "no", "vol", "mt", "ft", "gen", "sgt", "lt", "col"}


def split_sentences(text: str) -> list[str]:
    """Rule-based splitter: no model, no download, deterministic."""
    sentences, start = [], 0
    for m in _BOUNDARY.finditer(text):
        words = text[start:m.start()].split()
        last = words[-1].lower().rstrip(".") if words else ""
        abbreviation = last in _ABBREVIATIONS or "." in last or (len(last) == 1 and last.isalpha())
        if text[m.start()] == "." and abbreviation:
            continue
        sentences.append(text[start:m.end()].strip())
        start = m.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return [s for s in sentences if s]


def load_tokenizer(model_path: str):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if not tokenizer.is_fast:
        raise ValueError(f"{model_path}: no fast tokenizer (tokenizer.json) in the checkpoint")
    return tokenizer


def file_tokenizer(model_path: str):
    """The checkpoint's tokenizer.json as the `tokenizers` library loads it (no transformers),
    as it stands on file: not what tokenizer_config.json may change (`configured_tokenizer`)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_str(fs.read_bytes(fs.join(os.fspath(model_path), "tokenizer.json")).decode())


class ModelTokens:
    """What a model actor needs of its checkpoint's tokenizer, read with the `tokenizers`
    library alone (no transformers): the ids of the [CLS], [SEP] and [PAD] tokens as the
    checkpoint names them (tokenizer_config.json, else special_tokens_map.json, else BERT's
    names), every id's token (`convert_ids_to_tokens`, `len`), and what the tokens say of
    words (`forms`: the stop words)."""

    SPECIAL = {"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]"}

    def __init__(self, model_path: str):
        tokenizer = file_tokenizer(model_path)
        named = named_special_tokens(model_path)
        for key, default in self.SPECIAL.items():
            token = named.get(key, default)
            token_id = tokenizer.token_to_id(token)
            if token_id is None:
                raise ValueError(f"{model_path}: the {key} {token!r} is not in tokenizer.json's vocabulary")
            setattr(self, f"{key}_id", token_id)
        self.tokens = [tokenizer.id_to_token(i) for i in range(tokenizer.get_vocab_size())]
        self._tokenizer = tokenizer

    @functools.cached_property
    def forms(self):
        """engine.token_forms.TokenForms of this tokenizer (worked out when first asked for)."""
        from engine.token_forms import TokenForms

        return TokenForms.from_spec(json.loads(self._tokenizer.to_str()), self.tokens)

    def __len__(self) -> int:
        return len(self.tokens)

    def convert_ids_to_tokens(self, ids) -> list[str]:
        return [self.tokens[i] for i in ids]


def configured_tokenizer(model_path: str) -> str:
    """The checkpoint's fast tokenizer as Hugging Face builds it, serialized."""
    return load_tokenizer(model_path).backend_tokenizer.to_str()


def worker_tokenizer(model_path: str) -> str | None:
    """What `SentenceTokenizer` needs besides the checkpoint to build the tokenizer Hugging Face
    builds from it: None when that is tokenizer.json as it stands (the usual case), else the
    configured tokenizer serialized (tokenizer_config.json can change it: do_lower_case=false
    over a lowercasing tokenizer.json). Ray keeps constructor arguments over 100 KB (a BERT
    tokenizer is ~0.5 MB) in the object store, where an actor cannot restart once they are
    lost, so the serialized tokenizer travels only when it must.

    Finding out imports transformers (1.6-5 s in a fresh process on 2 cores), unless the
    checkpoint's model.json already says (`tokenizer_record`) for the tokenizer inputs it has."""
    recorded = read_model_info(model_path).get("tokenizer") if model_is_complete(model_path) else None
    if recorded and recorded.get("as_file") and recorded.get("inputs") == tokenizer_inputs(model_path):
        return None

    def content(serialized: str) -> dict:  # padding and truncation are set per step
        return {k: v for k, v in json.loads(serialized).items() if k not in ("padding", "truncation")}

    configured = configured_tokenizer(model_path)
    on_file = file_tokenizer(model_path).to_str()
    return None if content(configured) == content(on_file) else configured


def tokenizer_inputs(model_path: str) -> str:
    """A sha256 of what Hugging Face builds `model_path`'s tokenizer from: the tokenizer files
    (absent ones too), the config.json keys that can choose its class, and the version of
    transformers that builds it."""
    digest = hashlib.sha256(importlib.metadata.version("transformers").encode())
    for name in TOKENIZER_FILES:
        path = fs.join(model_path, name)
        data = fs.read_bytes(path) if fs.is_file(path) else None
        digest.update(f"{name}:{'absent' if data is None else len(data)}:".encode() + (data or b""))
    config_path = fs.join(model_path, "config.json")
    config = json.loads(fs.read_bytes(config_path)) if fs.is_file(config_path) else {}
    digest.update(json.dumps({k: config.get(k) for k in ("model_type", "tokenizer_class")}, sort_keys=True).encode())
    return digest.hexdigest()


def tokenizer_record(model_path: str) -> dict:
    """For the model.json of a model whose tokenizer files are copied from `model_path`:
    whether tokenizer workers can read its tokenizer.json as it stands. `worker_tokenizer`
    takes it as said while the model's tokenizer inputs hash the same."""
    return {"inputs": tokenizer_inputs(model_path), "as_file": worker_tokenizer(model_path) is None}


class SentenceTokenizer:
    """Ray Data step: rows with a `text` column become one row per sentence with
    `sentence_index` and `input_ids` (wordpieces, no special tokens, at most `max_tokens`);
    every other column is repeated. Sentences with no wordpiece are dropped.

    The tokenizer is loaded with the `tokenizers` library alone, from the checkpoint's
    tokenizer.json or `configured` (`worker_tokenizer` for Ray workers; `for_model`, in a
    process that has transformers anyway, always passes it): a text worker
    never imports torch or transformers, so it starts in a fraction of a second instead of
    ~2 s of CPU and holds less memory (docs/performance.md), and its wordpieces are Hugging
    Face's (same backend, same truncation)."""

    def __init__(self, model_path: str, max_tokens: int, split: bool = True, configured: str | None = None):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_str(configured) if configured is not None else file_tokenizer(model_path)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_tokens)
        self.split = split

    @classmethod
    def for_model(cls, model_path: str, max_tokens: int, split: bool = True) -> SentenceTokenizer:
        return cls(model_path, max_tokens, split, configured_tokenizer(os.fspath(model_path)))

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        texts = [str(t) for t in batch["text"]]
        pieces = [split_sentences(t) if self.split else [t.strip()] for t in texts]
        owner = np.repeat(np.arange(len(texts)), [len(p) for p in pieces])
        index = np.concatenate([np.arange(len(p), dtype=np.int32) for p in pieces] + [np.zeros(0, np.int32)])
        flat = [s for p in pieces for s in p]
        # Without character offsets, which nothing here reads (~15% less time, the same ids).
        ids = [e.ids for e in self.tokenizer.encode_batch_fast(flat, add_special_tokens=False)] if flat else []
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        keep = lengths > 0
        out = {k: np.asarray(v)[owner][keep] for k, v in batch.items() if k != "text"}
        out["sentence_index"] = index[keep]
        # One flat array of every wordpiece and the rows' offsets (a sentence with none has none);
        # typed even when empty, so every shard's table has the same schema.
        values = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(lengths.sum()))
        offsets = np.concatenate([[0], np.cumsum(lengths[keep])]).astype(np.int32)
        out["input_ids"] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
        return pa.table(out)
