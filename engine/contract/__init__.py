"""The data contract between stages: schemas, the manifest and the store layout.

This is the only part of `engine` that `trainer` may import. The format is written down in
`docs/format.md`; `FORMAT_VERSION` changes whenever a reader of version N could misread a
dataset written by version N+1.
"""
from engine.contract.manifest import FORMAT_VERSION, Manifest, ShardInfo, read_manifest, write_manifest
from engine.contract.schemas import IMPORTANCE, PREMASKED, SCHEMAS
from engine.contract.store import dataset_path, is_complete, model_is_complete, model_path, open_dataset, read_rows

__all__ = [
    "FORMAT_VERSION",
    "IMPORTANCE",
    "PREMASKED",
    "SCHEMAS",
    "Manifest",
    "ShardInfo",
    "dataset_path",
    "is_complete",
    "model_is_complete",
    "model_path",
    "open_dataset",
    "read_manifest",
    "read_rows",
    "write_manifest",
]
