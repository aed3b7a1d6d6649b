"""The store on object storage: the same code, against a real S3 server on loopback."""
import numpy as np
import pyarrow as pa

from engine.contract import PREMASKED, SCHEMAS, dataset_path, fs, is_complete, open_dataset, read_manifest, read_rows
from engine.contract.verify import damaged_shards, list_datasets, verify_dataset


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
