"""The store on object storage: the same code, against a real S3 server on loopback."""
import numpy as np
import pyarrow as pa
import ray.data

from engine.contract import PREMASKED, SCHEMAS, dataset_path, fs, is_complete, open_dataset, read_manifest, read_rows
from engine.contract.verify import damaged_shards, list_datasets, reopen_damaged, verify_dataset
from engine.shards import nest
from engine.writer import pending_shards, write_sharded


def test_a_dataset_round_trips_through_s3(write_rows, s3_store):
    n = 200
    rows = pa.table({"doc_id": np.arange(n), "sentence_index": np.zeros(n, np.int32),
                     "input_ids": [np.arange(i % 5 + 1, dtype=np.int32) for i in range(n)],
                     "scores": [np.ones(i % 5 + 1, np.float32) for i in range(n)],
                     "mask_positions": [np.array([0], np.int32)] * n}, schema=SCHEMAS[PREMASKED])
    out = dataset_path(s3_store, PREMASKED, "s3abc")
    assert out.startswith("s3://taskpt-test/store/premasked/s3abc?endpoint_override=")
    assert not is_complete(out)
    manifest = write_rows(rows, out, PREMASKED, shards=2, fingerprint="s3abc")
    assert is_complete(out) and read_manifest(out) == manifest and manifest.rows == n
    back = pa.concat_tables(open_dataset(out, PREMASKED).iter_batches(batch_format="pyarrow"))
    assert back.sort_by("doc_id").equals(rows) and read_rows(out, PREMASKED).equals(rows)
    assert verify_dataset(out) == [] and damaged_shards(out) == []
    assert sorted(fs.file_sizes(out)) == ["config.yaml", "manifest.json", "part0.parquet", "part1.parquet"]
    assert [m.fingerprint for _, m in list_datasets(s3_store)] == ["s3abc"]
    assert fs.read_bytes(fs.join(out, "config.yaml")) == b"seed: 1\n"


def test_a_damaged_shard_on_s3_is_written_again_alone(write_rows, s3_store):
    rows = pa.table({"doc_id": np.arange(30), "sentence_index": np.zeros(30, np.int32),
                     "input_ids": [np.arange(3, dtype=np.int32)] * 30, "scores": [np.ones(3, np.float32)] * 30,
                     "mask_positions": [np.array([1], np.int32)] * 30}, schema=SCHEMAS[PREMASKED])
    out = dataset_path(s3_store, PREMASKED, "s3resume")
    first = write_rows(rows, out, PREMASKED, shards=3, fingerprint="s3resume")
    fs.write_bytes(fs.join(out, "part1.parquet"), b"not the shard that was written")
    assert reopen_damaged(out) == ["part1.parquet"] and not is_complete(out)
    assert pending_shards(out, ["part0", "part1", "part2"]) == ["part1"]
    ds = ray.data.from_arrow([nest("part1", rows.slice(10, 10))])
    again = write_sharded(ds, out, PREMASKED, ["part0", "part1", "part2"], fingerprint="s3resume", model="m",
                          params={}, config_yaml="seed: 1\n")
    assert again.shards == first.shards and verify_dataset(out) == []
    assert read_rows(out, PREMASKED).equals(rows)
