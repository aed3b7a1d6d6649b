"""The data contract: shards, config and manifest (last); readers check what they read."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray.data

from engine.contract import IMPORTANCE, PREMASKED, SCHEMAS, fs, is_complete, open_dataset, read_manifest
from engine.contract.manifest import ManifestError
from engine.writer import write_dataset


def premasked_rows(n):
    return pa.table({"doc_id": np.arange(n), "sentence_index": np.zeros(n, np.int32),
                     "input_ids": [np.arange(i % 7 + 1, dtype=np.int32) for i in range(n)],
                     "scores": [np.linspace(-1, 1, i % 7 + 1).astype(np.float32) for i in range(n)],
                     "mask_positions": [np.array([i % 7], np.int32) for i in range(n)]}, schema=SCHEMAS[PREMASKED])


def test_written_dataset_reads_back_row_for_row_with_a_verifiable_manifest(local_ray, tmp_path):
    rows = premasked_rows(500)
    out = str(tmp_path / "premasked" / "abc")
    manifest = write_dataset(ray.data.from_arrow(rows).repartition(3), out, PREMASKED, "abc", "m", {"k": 1}, "seed: 1\n")
    assert is_complete(out) and manifest.rows == 500 and sum(s.rows for s in manifest.shards) == 500
    on_disk = read_manifest(out)
    assert on_disk == manifest and on_disk.version == 1 and on_disk.kind == PREMASKED
    for shard in on_disk.shards:
        assert fs.sha256(fs.join(out, shard.path)) == shard.sha256
        assert pq.read_metadata(fs.join(out, shard.path)).num_rows == shard.rows
    back = pa.concat_tables(open_dataset(out, PREMASKED).iter_batches(batch_format="pyarrow"))
    assert back.schema == SCHEMAS[PREMASKED]
    assert back.sort_by("doc_id").equals(rows)
    assert (tmp_path / "premasked" / "abc" / "config.yaml").read_text() == "seed: 1\n"


def test_a_directory_without_manifest_is_incomplete_and_is_replaced_on_the_next_write(local_ray, tmp_path):
    out = tmp_path / "premasked" / "x"
    out.mkdir(parents=True)
    (out / "leftover.parquet").write_bytes(b"half a shard")
    assert not is_complete(str(out))
    with pytest.raises(ManifestError, match="no manifest"):
        open_dataset(str(out), PREMASKED)
    write_dataset(ray.data.from_arrow(premasked_rows(10)), str(out), PREMASKED, "x", "m", {}, "")
    assert not (out / "leftover.parquet").exists()
    assert open_dataset(str(out), PREMASKED).count() == 10


def _manifest(tmp_path, **changes):
    data = {"format": "taskpt", "version": 1, "kind": IMPORTANCE, "fingerprint": "f", "model": "m", "params": {},
            "shards": [{"path": "a.parquet", "rows": 1, "sha256": "0"}], "rows": 1} | changes
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    return str(tmp_path)


def test_an_unknown_format_version_is_an_error_that_names_it(tmp_path):
    with pytest.raises(ManifestError, match="format version 7 is not supported"):
        read_manifest(_manifest(tmp_path, version=7))


def test_shard_paths_outside_the_dataset_are_rejected(tmp_path):
    for bad in ("../other/a.parquet", "/etc/passwd", "s3://bucket/a.parquet"):
        with pytest.raises(ManifestError, match="points outside the dataset"):
            read_manifest(_manifest(tmp_path, shards=[{"path": bad, "rows": 1, "sha256": "0"}]))


def test_reading_a_dataset_as_the_wrong_kind_is_refused(tmp_path):
    with pytest.raises(ManifestError, match="kind is 'importance', expected 'premasked'"):
        open_dataset(_manifest(tmp_path), PREMASKED)
