"""Finding datasets in a store and checking them against their manifests."""
from __future__ import annotations

from engine.contract import fs
from engine.contract.manifest import MANIFEST_NAME, Manifest, ManifestError, read_manifest
from engine.contract.schemas import SCHEMAS
from engine.contract.store import MODEL_MARKER


def list_datasets(store: str) -> list[tuple[str, Manifest]]:
    """(directory, manifest) of every complete dataset in the store, by kind then creation."""
    found = []
    for kind in SCHEMAS:
        for info in fs.list_dirs(fs.join(store, kind)):
            if fs.is_file(fs.join(info, MANIFEST_NAME)):
                found.append((info, read_manifest(info)))
    return sorted(found, key=lambda item: (item[1].kind, item[1].created))


def find_dataset(store: str, prefix: str) -> str:
    """The directory of the one complete dataset whose fingerprint starts with `prefix`."""
    matches = [d for d, m in list_datasets(store) if m.fingerprint.startswith(prefix)]
    if len(matches) != 1:
        raise ManifestError(f"{store}: {'no' if not matches else len(matches)} complete dataset(s) "
                            f"with an id starting {prefix!r}")
    return matches[0]


def verify_dataset(dataset_dir: str) -> list[str]:
    """Every problem found by re-hashing the shards: missing or changed. Empty when intact."""
    manifest = read_manifest(dataset_dir)
    problems = []
    for shard in manifest.shards:
        path = fs.join(dataset_dir, shard.path)
        if not fs.is_file(path):
            problems.append(f"{shard.path}: missing")
        elif fs.sha256(path) != shard.sha256:
            problems.append(f"{shard.path}: sha256 differs from the manifest (corrupt or changed)")
    return problems


def damaged_shards(dataset_dir: str) -> list[str]:
    """Shards of a complete dataset that are missing or not the size the manifest records: a
    cheap check (one listing, no reads) made before a dataset is reused."""
    sizes = fs.file_sizes(dataset_dir, ".parquet")
    return [s.path for s in read_manifest(dataset_dir).shards if sizes.get(s.path) != s.bytes]


def reopen_damaged(dataset_dir: str) -> list[str]:
    """When a complete dataset has damaged shards: remove them and the manifest, so that the
    next write of the dataset computes those shards again, and only those. Returns them."""
    if not fs.is_file(fs.join(dataset_dir, MANIFEST_NAME)):
        return []
    damaged = damaged_shards(dataset_dir)
    if damaged:
        fs.delete(fs.join(dataset_dir, MANIFEST_NAME))
        for path in damaged:
            fs.delete(fs.join(dataset_dir, path))
    return damaged


def incomplete_outputs(store: str, older_than_s: float, now: float) -> list[str]:
    """Dataset and model directories without their completion marker (manifest.json,
    model.json) whose newest file is older than `older_than_s`, and stray `*.tmp` files:
    what an interrupted run leaves. A complete dataset or model is never listed."""
    candidates = [(d, MANIFEST_NAME) for kind in SCHEMAS for d in fs.list_dirs(fs.join(store, kind))]
    candidates += [(d, MODEL_MARKER) for name in fs.list_dirs(fs.join(store, "models")) for d in fs.list_dirs(name)]
    stale = []
    for directory, marker in candidates:
        if fs.is_file(fs.join(directory, marker)):
            for tmp in fs.list_files(directory, ".tmp"):
                if now - fs.newest_mtime(tmp) > older_than_s:
                    stale.append(tmp)
        elif now - fs.newest_mtime(directory) > older_than_s:
            stale.append(directory)
    return stale
