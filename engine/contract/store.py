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


def open_dataset(dataset_dir: str, kind: str):
    """A complete dataset of the given kind as a Ray Dataset, shards in manifest order."""
    import ray.data

    manifest: Manifest = read_manifest(dataset_dir)
    if manifest.kind != kind:
        raise ManifestError(f"{dataset_dir}: dataset kind is {manifest.kind!r}, expected {kind!r}")
    paths = [fs.join(dataset_dir, s.path) for s in manifest.shards]
    if not paths:
        raise ManifestError(f"{dataset_dir}: the dataset has no shards")
    filesystem, _ = fs.resolve(dataset_dir)
    resolved = [fs.resolve(p)[1] for p in paths]
    return ray.data.read_parquet(resolved, filesystem=filesystem, schema=SCHEMAS[kind])
