"""Pre-masked datasets for other trainers (the Hugging Face Trainer, Accelerate, Lightning).

`load_premasked` reads a premasked dataset of the store as the packed training instances
taskpt's own pretraining reads (trainer.data.pack_documents: a document's consecutive sentences
packed up to `max_seq` - 2 wordpieces, their stored mask positions shifted along), as a Hugging
Face `datasets.Dataset`; `MaskedLMCollator` applies the stored masks with BERT's 80/10/10 rule
and returns what `AutoModelForMaskedLM` takes: `input_ids`, `attention_mask`, `labels` (-100
where nothing is predicted). examples/hf_trainer.py pretrains with the Hugging Face Trainer on
them; docs/format.md ("Using the masks elsewhere") shows both.

The defaults are taskpt's pretraining defaults (jobs/config.py PretrainConfig, `seed`), so the
instances are the ones `taskpt pretrain` trains on with the same settings.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import torch

from engine.contract import PREMASKED, dataset_path, read_manifest, read_rows
from engine.contract.manifest import ManifestError
from trainer.data import holdout_part, pack_documents


def premasked_path(dataset: str, store: str | None = None) -> str:
    """A dataset directory, or a dataset id (its folder name) under `store`/premasked."""
    if store is not None and "/" not in dataset and "\\" not in dataset:
        return dataset_path(store, PREMASKED, dataset)
    return dataset


def packed_instances(dataset: str, store: str | None = None, *, max_seq: int = 256, max_predictions: int = 40,
                     short_seq_prob: float = 0.1, holdout: float = 0.01, seed: int = 42, pack_seed: int | None = None,
                     split: str = "train") -> pa.Table:
    """(input_ids, mask_positions) instances of a premasked dataset's `split` ("train", or
    "held_out": the documents `holdout` of them set aside by `seed`, as pretraining does), packed
    with `pack_seed` (default `seed`); instances without a masked position are left out, as
    pretraining on stored masks does. Read on this machine, shard by shard."""
    if split not in ("train", "held_out"):
        raise ValueError(f"split must be 'train' or 'held_out', got {split!r}")
    path = premasked_path(dataset, store)
    manifest = read_manifest(path)  # a missing or incomplete dataset: ManifestError naming it
    if manifest.kind != PREMASKED:
        raise ManifestError(f"{path} is a {manifest.kind} dataset, not a premasked one")
    table = read_rows(path, PREMASKED, ["doc_id", "input_ids", "mask_positions"])
    part = holdout_part(table, "doc_id", holdout, seed, held=split == "held_out")
    return pack_documents(part, "doc_id", max_tokens=max_seq - 2, max_predictions=max_predictions,
                          short_seq_prob=short_seq_prob, seed=seed if pack_seed is None else pack_seed,
                          drop_unmasked=True)


def load_premasked(dataset: str, store: str | None = None, **packing):
    """`packed_instances` as a Hugging Face `datasets.Dataset` (columns input_ids,
    mask_positions); its `info.description` holds the dataset's path and tokenizer identity
    (JSON), to check against the model's (engine.contract.tokenizer)."""
    import datasets

    path = premasked_path(dataset, store)
    table = packed_instances(path, **packing)
    about = {"source": path, "tokenizer": read_manifest(path).tokenizer}
    return datasets.Dataset(table, info=datasets.DatasetInfo(description=json.dumps(about)))


class MaskedLMCollator:
    """Batches of packed instances -> input_ids (B, T) as [CLS] wordpieces [SEP] [PAD]...,
    attention_mask (B, T) and labels (B, T): the original token at each stored mask position
    (at most `max_seq` - 2 wordpieces in), -100 elsewhere. Of the masked positions 80% show
    the tokenizer's mask token, 10% a random non-special token, 10% the token itself; special
    tokens are never masked. Draws come from one generator seeded with `seed`."""

    def __init__(self, tokenizer, max_seq: int = 256, seed: int = 0):
        self.cls_id, self.sep_id, self.pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
        self.mask_id = tokenizer.mask_token_id
        if None in (self.cls_id, self.sep_id, self.pad_id, self.mask_id):
            raise ValueError(f"{type(tokenizer).__name__} lacks a cls, sep, pad or mask token")
        self.special_ids = np.asarray(sorted(set(tokenizer.all_special_ids)))
        self.ordinary_ids = np.setdiff1d(np.arange(len(tokenizer)), self.special_ids)
        self.max_seq = max_seq
        self.rng = np.random.default_rng(seed)

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        rows = [np.asarray(f["input_ids"], dtype=np.int64)[: self.max_seq - 2] for f in features]
        width = max(len(r) for r in rows) + 2
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        labels = np.full((len(rows), width), -100, dtype=np.int64)
        for i, (row, feature) in enumerate(zip(rows, features)):
            ids[i, 0], ids[i, 1:len(row) + 1], ids[i, len(row) + 1] = self.cls_id, row, self.sep_id
            positions = np.asarray(feature["mask_positions"], dtype=np.int64)
            positions = positions[positions < len(row)]
            positions = positions[~np.isin(row[positions], self.special_ids)] + 1  # after [CLS]
            labels[i, positions] = ids[i, positions]
        masked = np.flatnonzero(labels.ravel() != -100)
        draw = self.rng.random(len(masked))
        flat = ids.reshape(-1)  # a view: writes land in ids
        flat[masked[draw < 0.8]] = self.mask_id
        swapped = masked[(draw >= 0.8) & (draw < 0.9)]
        flat[swapped] = self.rng.choice(self.ordinary_ids, size=len(swapped))
        attention = np.arange(width)[None, :] < np.array([len(r) + 2 for r in rows])[:, None]
        return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(attention.astype(np.int64)),
                "labels": torch.from_numpy(labels)}
