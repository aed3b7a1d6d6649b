"""Writing a contract dataset shard by shard: each shard row of a Ray pipeline becomes
`<name>.parquet`, written whole under a temporary name and renamed into place; `config.yaml`
and then `manifest.json` are written last, once every expected shard is there.

A shard file in place is complete, so a rerun of an interrupted stage computes only the shards
that are missing (`pending_shards`), and the result is the same file for file.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from engine.contract import Manifest, ShardInfo, fs, write_manifest
from engine.contract.schemas import SCHEMAS
from engine.shards import unnest

SUFFIX = ".parquet"


def shard_file(name: str) -> str:
    return name + SUFFIX


def shard_name(path: str) -> str:
    """The shard's name from its file name (the inverse of shard_file)."""
    return path.removesuffix(SUFFIX)


def pending_shards(out_dir: str, names: list[str]) -> list[str]:
    """The expected shards not yet in place, in order."""
    present = fs.file_sizes(out_dir, SUFFIX)
    return [n for n in names if shard_file(n) not in present]


def _tokens(table: pa.Table) -> int:
    return int(pc.sum(pc.list_value_length(table.column("input_ids"))).as_py() or 0)


def write_shard(out_dir: str, name: str, rows: pa.Table) -> ShardInfo:
    """One shard file, visible only once complete (fs.write_bytes: a temporary name and a
    rename; on object stores a single upload). A retry overwrites the same temporary name."""
    buffer = pa.BufferOutputStream()
    pq.write_table(rows, buffer)
    data = buffer.getvalue().to_pybytes()
    fs.write_bytes(fs.join(out_dir, shard_file(name)), data)
    return ShardInfo(path=shard_file(name), rows=rows.num_rows, tokens=_tokens(rows), bytes=len(data),
                     sha256=hashlib.sha256(data).hexdigest())


def write_shards(batch: pa.Table, out_dir: str, kind: str) -> pa.Table:
    """Ray Data step: shard rows -> files; returns each shard's ShardInfo as a row."""
    schema = SCHEMAS[kind]
    written = []
    for name, rows in unnest(batch):
        info = write_shard(out_dir, name, rows.select(schema.names).cast(schema))
        written.append({"shard": name, **dataclasses.asdict(info)})
    return pa.Table.from_pylist(written)


class ShardWriter:
    """Ray Data actor: `write_shards` in a process started with the pipeline. After a model
    actor, the first shard is written as soon as it is tagged. A write task may instead wait
    for a new worker process to start and import pyarrow: Ray ends idle task workers after a
    second when a node runs more workers than CPUs. On 2 cores, 50,000 review sentences: the
    first shard was written 2.6-3.2 s after the model actor's first call began, 1.2-1.6 s with
    this; but the actor's own start there slows the model actor's (docs/performance.md).
    Idempotent, as `write_shard` is, so a restarted actor may redo a call."""

    def __init__(self, out_dir: str, kind: str):
        self.out_dir, self.kind = out_dir, kind

    def __call__(self, batch: pa.Table) -> pa.Table:
        return write_shards(batch, self.out_dir, self.kind)


def existing_shard(out_dir: str, name: str) -> ShardInfo:
    """The ShardInfo of a shard written by an earlier, interrupted run."""
    path = fs.join(out_dir, shard_file(name))
    data = fs.read_bytes(path)
    rows = pq.read_table(pa.BufferReader(data), columns=["input_ids"])
    return ShardInfo(path=shard_file(name), rows=rows.num_rows, tokens=_tokens(rows), bytes=len(data),
                     sha256=hashlib.sha256(data).hexdigest())


def write_sharded(ds, out_dir: str, kind: str, names: list[str], *, fingerprint: str, model: str,
                  params: dict, config_yaml: str, tokenizer: dict | None = None, write_cpus: float = 0.25,
                  writer_actors: int = 0, device: str = "CPU") -> Manifest:
    """Run `ds` (shard rows of the pending shards, or None when none is pending), write its
    shards, then the manifest over all of `names`, in that order. `writer_actors`: 0 writes
    in tasks (fused into the steps before, when those are tasks too), n > 0 in a pool of 1 to n
    `ShardWriter` actors (after model actors). `device`: where the dataset's model ran,
    recorded with the seconds it took. `tokenizer`: the identity of the tokenizer of the rows'
    input_ids (engine.contract.tokenizer.tokenizer_identity)."""
    started = time.time()
    infos: dict[str, ShardInfo] = {}
    if ds is not None:
        # Writing is I/O: a quarter CPU, so it runs beside the model actors on a small machine.
        if writer_actors:
            from ray.data import ActorPoolStrategy

            written = ds.map_batches(ShardWriter, fn_constructor_kwargs=dict(out_dir=out_dir, kind=kind),
                                     compute=ActorPoolStrategy(min_size=1, max_size=writer_actors), batch_size=1,
                                     batch_format="pyarrow", num_cpus=write_cpus)
        else:
            written = ds.map_batches(write_shards, fn_kwargs=dict(out_dir=out_dir, kind=kind), batch_size=1,
                                     batch_format="pyarrow", num_cpus=write_cpus)
        for row in written.iter_rows():
            infos[row["shard"]] = ShardInfo(**{k: v for k, v in row.items() if k != "shard"})
    for name in names:
        if name not in infos:
            if not fs.is_file(fs.join(out_dir, shard_file(name))):
                raise RuntimeError(f"{out_dir}: the pipeline wrote no shard {shard_file(name)}")
            infos[name] = existing_shard(out_dir, name)
    shards = [infos[n] for n in names]
    fs.write_bytes(fs.join(out_dir, "config.yaml"), config_yaml.encode())
    manifest = Manifest(kind=kind, fingerprint=fingerprint, model=model, params=params, shards=shards,
                        rows=sum(s.rows for s in shards), tokens=sum(s.tokens for s in shards),
                        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                        compute={"seconds": round(time.time() - started, 3), "device": device},
                        tokenizer=tokenizer or {})
    write_manifest(out_dir, manifest)
    return manifest
