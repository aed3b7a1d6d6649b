"""Writing a Ray Dataset as a contract dataset: Parquet shards, config.yaml, then manifest.json
last, so that a directory without a manifest is never mistaken for a complete dataset."""
from __future__ import annotations

import datetime

import pyarrow.compute as pc

from engine.contract import Manifest, ShardInfo, fs, write_manifest
from engine.contract.schemas import SCHEMAS


def write_dataset(ds, out_dir: str, kind: str, fingerprint: str, model: str, params: dict,
                  config_yaml: str) -> Manifest:
    fs.delete_dir(out_dir)  # leftovers of an interrupted run: never complete, never reused
    filesystem, root = fs.resolve(out_dir)
    ds = ds.map_batches(_cast_to(kind), batch_format="pyarrow", zero_copy_batch=True)
    ds.context.execution_options.preserve_order = True
    ds.write_parquet(root, filesystem=filesystem)
    shards, tokens = [], 0
    for path in fs.list_files(out_dir, ".parquet"):
        ids = fs.read_parquet(path, ["input_ids"]).column("input_ids")
        tokens += int(pc.sum(pc.list_value_length(ids)).as_py() or 0)
        shards.append(ShardInfo(path=fs.basename(path), rows=len(ids), sha256=fs.sha256(path)))
    fs.write_bytes(fs.join(out_dir, "config.yaml"), config_yaml.encode())
    manifest = Manifest(kind=kind, fingerprint=fingerprint, model=model, params=params, shards=shards,
                        rows=sum(s.rows for s in shards), tokens=tokens,
                        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    write_manifest(out_dir, manifest)
    return manifest


def _cast_to(kind: str):
    schema = SCHEMAS[kind]

    def cast(batch):
        return batch.select(schema.names).cast(schema)

    return cast
