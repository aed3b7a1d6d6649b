"""Where things live in the store, and how a complete dataset or model is recognised.

    <store>/<kind>/<fingerprint>/            a dataset: Parquet shards + config.yaml + manifest.json
    <store>/models/<name>/<fingerprint>/     a model: a Hugging Face directory + model.json (last)
"""
from __future__ import annotations

import json

from engine.contract import fs
from engine.contract.manifest import MANIFEST_NAME, Manifest, ManifestError, read_manifest
from engine.contract.schemas import SCHEMAS

MODEL_MARKER = "model.json"
# A model directory's tokenizer files (those it has of these): what Hugging Face builds a
# BERT-family tokenizer from. A trained model carries its source's, byte for byte; the order is
# the order model.json's tokenizer record hashes them in.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "vocab.txt", "vocab.json", "merges.txt", "sentencepiece.bpe.model", "spm.model")


def dataset_path(store: str, kind: str, fingerprint: str) -> str:
    return fs.join(store, kind, fingerprint)


def model_path(store: str, name: str, fingerprint: str) -> str:
    return fs.join(store, "models", name, fingerprint)


def is_complete(dataset_dir: str) -> bool:
    return fs.is_file(fs.join(dataset_dir, MANIFEST_NAME))


def model_is_complete(model_dir: str) -> bool:
    return fs.is_file(fs.join(model_dir, MODEL_MARKER))


def commit_model(model_dir: str, info: dict) -> None:
    """Mark a model directory complete; called after every file of it is in place."""
    fs.write_bytes(fs.join(model_dir, MODEL_MARKER), json.dumps(info, indent=2).encode())


def read_model_info(model_dir: str) -> dict:
    return json.loads(fs.read_bytes(fs.join(model_dir, MODEL_MARKER)))


def weight_shapes(model_dir: str) -> dict[str, tuple]:
    """Every weight's shape in a Hugging Face directory's safetensors file(s), read from their
    headers alone (8 bytes of length, then JSON), not their tensors."""
    index = fs.join(model_dir, "model.safetensors.index.json")
    files = sorted(set(json.loads(fs.read_bytes(index))["weight_map"].values())) if fs.is_file(index) \
        else ["model.safetensors"]
    shapes = {}
    for name in files:
        file = fs.join(model_dir, name)
        size = int.from_bytes(fs.read_range(file, 0, 8), "little")
        header = json.loads(fs.read_range(file, 8, size))
        shapes.update({k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"})
    return shapes


def _manifest_of_kind(dataset_dir: str, kind: str) -> Manifest:
    manifest = read_manifest(dataset_dir)
    if manifest.kind != kind:
        raise ManifestError(f"{dataset_dir}: dataset kind is {manifest.kind!r}, expected {kind!r}")
    return manifest


def read_rows(dataset_dir: str, kind: str, columns: list[str] | None = None, limit: int | None = None):
    """The rows of a complete dataset as one pyarrow Table, without Ray, shards in manifest
    order (the order they were written in), at most `limit`: for quick looks and checks."""
    import pyarrow as pa

    schema = SCHEMAS[kind] if columns is None else pa.schema([SCHEMAS[kind].field(c) for c in columns])
    tables, count = [], 0
    for shard in _manifest_of_kind(dataset_dir, kind).shards:
        if limit is not None and count >= limit:
            break
        table = fs.read_parquet(fs.join(dataset_dir, shard.path), schema.names).cast(schema)
        tables.append(table if limit is None else table.slice(0, limit - count))
        count += tables[-1].num_rows
    return pa.concat_tables(tables) if tables else schema.empty_table()


def open_dataset(dataset_dir: str, kind: str):
    """A complete dataset of the given kind as a Ray Dataset (Ray reads shards in parallel, so
    row order is not guaranteed; `doc_id`/`example_id` and `sentence_index` identify rows)."""
    import ray.data

    manifest = _manifest_of_kind(dataset_dir, kind)
    paths = [fs.join(dataset_dir, s.path) for s in manifest.shards]
    if not paths:
        raise ManifestError(f"{dataset_dir}: the dataset has no shards")
    filesystem, _ = fs.resolve(dataset_dir)
    resolved = [fs.resolve(p)[1] for p in paths]
    return ray.data.read_parquet(resolved, filesystem=filesystem, schema=SCHEMAS[kind])
