"""`manifest.json`: the index of a dataset, written last. A directory without it is incomplete."""
from __future__ import annotations

import dataclasses
import json

from engine.contract import fs

# 2: shards named after their input shard; each shard records its tokens and bytes.
# 3: the manifest records the tokenizer of its input_ids (engine.contract.tokenizer).
FORMAT_VERSION = 3
# Versions this code reads: a version 2 manifest reads with an empty `tokenizer`.
READABLE_VERSIONS = (2, 3)
MANIFEST_NAME = "manifest.json"


class ManifestError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class ShardInfo:
    path: str    # relative to the dataset directory; named after the input shard it came from
    rows: int
    tokens: int  # tokens (input_ids) in its rows
    bytes: int   # file size: a cheap check that the file is the one written
    sha256: str


@dataclasses.dataclass(frozen=True)
class Manifest:
    kind: str
    fingerprint: str
    model: str
    params: dict
    shards: list[ShardInfo]
    rows: int
    tokens: int = 0                     # tokens in all rows (input_ids)
    created: str = ""                   # UTC time the manifest was written, ISO 8601
    # What writing it cost: {"seconds": wall time of the run that completed it, "device": "GPU"
    # or "CPU"}; reports add it up. Absent in manifests written before it was recorded.
    compute: dict = dataclasses.field(default_factory=dict)
    # The tokenizer of input_ids: engine.contract.tokenizer.tokenizer_identity of the model
    # that wrote them. Empty in version 2 manifests.
    tokenizer: dict = dataclasses.field(default_factory=dict)
    format: str = "taskpt"
    version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)


def write_manifest(dataset_dir: str, manifest: Manifest) -> None:
    fs.write_bytes(fs.join(dataset_dir, MANIFEST_NAME), manifest.to_json().encode())


def read_manifest(dataset_dir: str) -> Manifest:
    path = fs.join(dataset_dir, MANIFEST_NAME)
    try:
        raw = json.loads(fs.read_bytes(path))
    except FileNotFoundError:
        raise ManifestError(f"{path}: no manifest (the dataset is missing or incomplete)") from None
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}: not valid JSON ({e})") from None
    if raw.get("format") != "taskpt":
        raise ManifestError(f"{path}: format {raw.get('format')!r} is not 'taskpt'")
    if raw.get("version") not in READABLE_VERSIONS:
        raise ManifestError(
            f"{path}: format version {raw.get('version')!r} is not supported "
            f"(this taskpt reads versions {', '.join(map(str, READABLE_VERSIONS))})"
        )
    shards = [ShardInfo(**s) for s in raw.pop("shards")]
    for s in shards:
        if s.path.startswith("/") or ".." in s.path.split("/") or "://" in s.path:
            raise ManifestError(f"{path}: shard path {s.path!r} points outside the dataset")
    return Manifest(shards=shards, **raw)
