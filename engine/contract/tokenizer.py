"""Which tokenizer a dataset's `input_ids` come from: its identity, recorded in the manifest
(`Manifest.tokenizer`), and the check that a model reading the dataset has the same one.

Token ids mean nothing without their tokenizer: a RoBERTa model reading BERT ids trains on
noise without any error. The identity is read from the checkpoint's files with the
`tokenizers` library alone (no transformers), so writers and readers compute it cheaply.
"""
from __future__ import annotations

import hashlib
import json

from engine.contract import fs
from engine.contract.manifest import ManifestError, read_manifest
from engine.contract.store import TOKENIZER_FILES

# The special tokens an encoder's tokenizer names (tokenizer_config.json, special_tokens_map.json).
SPECIAL_ROLES = ("cls_token", "sep_token", "pad_token", "mask_token", "unk_token")


def named_special_tokens(model_path: str) -> dict[str, str]:
    """The special tokens the checkpoint names, role -> token (`cls_token` -> "<s>"), from
    special_tokens_map.json, then tokenizer_config.json, whose names win."""
    named = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        path = fs.join(model_path, name)
        if fs.is_file(path):
            for role, token in json.loads(fs.read_bytes(path)).items():
                if role in SPECIAL_ROLES and token:
                    named[role] = token["content"] if isinstance(token, dict) else token  # an AddedToken as saved
    return named


def tokenizer_identity(model_path: str) -> dict:
    """What the checkpoint's tokenizer is: `sha256` of its files (TOKENIZER_FILES it has, name
    and bytes), `class` (tokenizer_config.json's tokenizer_class, else tokenizer.json's model
    type), `vocab_size` (added tokens included) and `special_ids` (role -> id)."""
    from tokenizers import Tokenizer

    digest = hashlib.sha256()
    for name in TOKENIZER_FILES:
        path = fs.join(model_path, name)
        if fs.is_file(path):
            data = fs.read_bytes(path)
            digest.update(f"{name}:{len(data)}:".encode() + data)
    spec = fs.read_bytes(fs.join(model_path, "tokenizer.json")).decode()
    tokenizer = Tokenizer.from_str(spec)
    config_path = fs.join(model_path, "tokenizer_config.json")
    config = json.loads(fs.read_bytes(config_path)) if fs.is_file(config_path) else {}
    special = {role: tokenizer.token_to_id(token) for role, token in named_special_tokens(model_path).items()}
    return {"sha256": digest.hexdigest(),
            "class": config.get("tokenizer_class") or json.loads(spec)["model"]["type"],
            "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
            "special_ids": {role: i for role, i in sorted(special.items()) if i is not None}}


def describe(identity: dict) -> str:
    """A tokenizer identity in a few words: `BertTokenizer, 30522 tokens, files 1a2b3c4d`."""
    return f"{identity['class']}, {identity['vocab_size']} tokens, files {identity['sha256'][:8]}"


def check_same_tokenizer(dataset_dir: str, model_path: str) -> None:
    """Raise ManifestError, naming both, when the model at `model_path` has another tokenizer
    than the one the complete dataset at `dataset_dir` recorded in its manifest."""
    recorded = read_manifest(dataset_dir).tokenizer
    if not recorded:
        raise ManifestError(f"{dataset_dir}: the manifest records no tokenizer (written by a taskpt before "
                            "format version 3); write the dataset again")
    model = tokenizer_identity(model_path)
    if model["sha256"] != recorded["sha256"]:
        raise ManifestError(f"{dataset_dir} was tokenized by {describe(recorded)}, but the model {model_path} has "
                            f"another tokenizer ({describe(model)}); use the model the dataset was written for, "
                            "or write the dataset again with this one")
