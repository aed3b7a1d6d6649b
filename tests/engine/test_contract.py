"""The data contract: shards, config and manifest (last); readers check what they read."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray.data

from engine.contract import (
    FORMAT_VERSION,
    IMPORTANCE,
    PREMASKED,
    SCHEMAS,
    fs,
    is_complete,
    open_dataset,
    read_manifest,
    read_rows,
)
from engine.contract.manifest import ManifestError
from engine.contract.tokenizer import check_same_tokenizer, tokenizer_identity
from engine.contract.verify import damaged_shards, reopen_damaged
from engine.shards import nest
from engine.writer import ShardWriter, pending_shards, write_sharded, write_shards


def premasked_rows(n):
    return pa.table({"doc_id": np.arange(n), "sentence_index": np.zeros(n, np.int32),
                     "input_ids": [np.arange(i % 7 + 1, dtype=np.int32) for i in range(n)],
                     "scores": [np.linspace(-1, 1, i % 7 + 1).astype(np.float32) for i in range(n)],
                     "mask_positions": [np.array([i % 7], np.int32) for i in range(n)]}, schema=SCHEMAS[PREMASKED])


def test_written_dataset_reads_back_row_for_row_with_a_verifiable_manifest(write_rows, tmp_path):
    rows = premasked_rows(500)
    out = str(tmp_path / "premasked" / "abc")
    manifest = write_rows(rows, out, PREMASKED, shards=3, fingerprint="abc", params={"k": 1})
    assert is_complete(out) and manifest.rows == 500 and [s.path for s in manifest.shards] == [
        "part0.parquet", "part1.parquet", "part2.parquet"]
    on_disk = read_manifest(out)
    assert on_disk == manifest and on_disk.version == FORMAT_VERSION == 3 and on_disk.kind == PREMASKED
    for shard in on_disk.shards:
        path = fs.join(out, shard.path)
        assert fs.sha256(path) == shard.sha256 and fs.file_info(path).size == shard.bytes
        assert pq.read_metadata(path).num_rows == shard.rows
    assert on_disk.tokens == sum(s.tokens for s in on_disk.shards) == sum(i % 7 + 1 for i in range(500))
    back = pa.concat_tables(open_dataset(out, PREMASKED).iter_batches(batch_format="pyarrow"))
    assert back.schema == SCHEMAS[PREMASKED]
    assert back.sort_by("doc_id").equals(rows)
    assert read_rows(out, PREMASKED).equals(rows)  # shards in manifest order: the rows in their original order
    assert (tmp_path / "premasked" / "abc" / "config.yaml").read_text() == "seed: 1\n"
    assert sorted(p.name for p in (tmp_path / "premasked" / "abc").iterdir()) == [
        "config.yaml", "manifest.json", "part0.parquet", "part1.parquet", "part2.parquet"]


def test_a_rerun_writes_only_the_missing_shards_and_gives_the_same_dataset(write_rows, tmp_path):
    rows = premasked_rows(90)
    out = tmp_path / "premasked" / "r"
    first = write_rows(rows, str(out), PREMASKED, shards=3)
    # An interrupted run: no manifest, one shard not written yet, a half-written temporary file.
    (out / "manifest.json").unlink()
    (out / "part1.parquet").unlink()
    (out / "part1.parquet.tmp").write_bytes(b"half a shard")
    assert not is_complete(str(out))
    with pytest.raises(ManifestError, match="no manifest"):
        open_dataset(str(out), PREMASKED)
    assert pending_shards(str(out), ["part0", "part1", "part2"]) == ["part1"]
    kept = {n: (out / n).stat().st_mtime_ns for n in ("part0.parquet", "part2.parquet")}
    ds = ray.data.from_arrow([nest("part1", rows.slice(30, 30))])
    again = write_sharded(ds, str(out), PREMASKED, ["part0", "part1", "part2"], fingerprint="f", model="m",
                          params={}, config_yaml="seed: 1\n")
    assert again.shards == first.shards and again.rows == 90
    assert {n: (out / n).stat().st_mtime_ns for n in kept} == kept  # not rewritten
    assert not (out / "part1.parquet.tmp").exists()  # the retry wrote over its own temporary name
    assert read_rows(str(out), PREMASKED).equals(rows)


def test_the_shard_writer_actor_writes_what_a_write_task_writes(tmp_path):
    batch = pa.concat_tables([nest("a", premasked_rows(12)), nest("b", premasked_rows(5))])
    by_actor = ShardWriter(str(tmp_path / "actor"), PREMASKED)(batch)
    by_task = write_shards(batch, str(tmp_path / "task"), PREMASKED)
    assert by_actor.equals(by_task) and by_actor.column("shard").to_pylist() == ["a", "b"]
    for name in ("a.parquet", "b.parquet"):
        assert (tmp_path / "actor" / name).read_bytes() == (tmp_path / "task" / name).read_bytes()


def test_writer_actors_give_the_dataset_write_tasks_give(local_ray, tmp_path):
    rows = premasked_rows(40)
    names = ["part0", "part1", "part2"]
    manifests = {}
    for writers in (0, 2):
        ds = ray.data.from_arrow([nest(n, rows.slice(i * 14, 14)) for i, n in enumerate(names)])
        manifests[writers] = write_sharded(ds, str(tmp_path / f"w{writers}"), PREMASKED, names, fingerprint="f",
                                           model="m", params={}, config_yaml="", writer_actors=writers)
    assert manifests[2].shards == manifests[0].shards and manifests[2].rows == 40
    assert read_rows(str(tmp_path / "w2"), PREMASKED).equals(rows)


def test_a_shard_the_pipeline_did_not_write_stops_the_manifest(local_ray, tmp_path):
    out = str(tmp_path / "premasked" / "m")
    ds = ray.data.from_arrow([nest("a", premasked_rows(5))])
    with pytest.raises(RuntimeError, match="wrote no shard b.parquet"):
        write_sharded(ds, out, PREMASKED, ["a", "b"], fingerprint="m", model="m", params={}, config_yaml="")
    assert not is_complete(out) and pending_shards(out, ["a", "b"]) == ["b"]


def test_a_truncated_shard_reopens_the_dataset_for_that_shard_only(write_rows, tmp_path):
    out = tmp_path / "premasked" / "t"
    write_rows(premasked_rows(60), str(out), PREMASKED, shards=3)
    assert damaged_shards(str(out)) == [] and reopen_damaged(str(out)) == []
    with open(out / "part2.parquet", "r+b") as f:
        f.truncate(50)
    assert damaged_shards(str(out)) == ["part2.parquet"]
    assert reopen_damaged(str(out)) == ["part2.parquet"]
    assert not is_complete(str(out)) and pending_shards(str(out), ["part0", "part1", "part2"]) == ["part2"]


def _manifest(tmp_path, **changes):
    data = {"format": "taskpt", "version": FORMAT_VERSION, "kind": IMPORTANCE, "fingerprint": "f", "model": "m",
            "params": {}, "shards": [{"path": "a.parquet", "rows": 1, "tokens": 1, "bytes": 1, "sha256": "0"}],
            "rows": 1} | changes
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    return str(tmp_path)


def test_an_unknown_format_version_is_an_error_that_names_it(tmp_path):
    with pytest.raises(ManifestError, match="format version 7 is not supported"):
        read_manifest(_manifest(tmp_path, version=7))
    with pytest.raises(ManifestError, match=r"format version 1 is not supported \(this taskpt reads versions 2, 3\)"):
        read_manifest(_manifest(tmp_path, version=1))


def test_a_version_2_manifest_reads_with_no_tokenizer_and_pretraining_refuses_it(tmp_path, tiny_bert):
    """Version 3 only adds the tokenizer record: `taskpt store` still lists an older store, and
    no model trains on its ids unchecked."""
    old = _manifest(tmp_path, version=2)
    assert read_manifest(old).tokenizer == {}
    with pytest.raises(ManifestError, match="records no tokenizer .* before format version 3"):
        check_same_tokenizer(old, tiny_bert)


def test_shard_paths_outside_the_dataset_are_rejected(tmp_path):
    for bad in ("../other/a.parquet", "/etc/passwd", "s3://bucket/a.parquet"):
        with pytest.raises(ManifestError, match="points outside the dataset"):
            read_manifest(_manifest(tmp_path, shards=[{"path": bad, "rows": 1, "tokens": 1, "bytes": 1, "sha256": "0"}]))


def test_reading_a_dataset_as_the_wrong_kind_is_refused(tmp_path):
    with pytest.raises(ManifestError, match="kind is 'importance', expected 'premasked'"):
        open_dataset(_manifest(tmp_path), PREMASKED)


def test_a_tokenizer_identity_names_its_class_size_and_special_ids_and_survives_a_copy(tmp_path, tiny_bert,
                                                                                       tiny_roberta):
    import shutil

    bert, roberta = tiny_bert, tiny_roberta
    identity = tokenizer_identity(bert)
    assert identity["class"] == "BertTokenizer" and identity["vocab_size"] == len(fs.read_bytes(
        fs.join(bert, "vocab.txt")).decode().split())
    assert identity["special_ids"] == {"cls_token": 2, "mask_token": 4, "pad_token": 0, "sep_token": 3, "unk_token": 1}
    assert tokenizer_identity(roberta)["special_ids"] == {"cls_token": 0, "mask_token": 4, "pad_token": 1,
                                                          "sep_token": 2, "unk_token": 3}
    copy = shutil.copytree(bert, tmp_path / "copy")  # a model trained from it carries its files
    assert tokenizer_identity(str(copy)) == identity
    # A different lowercasing is another tokenizer, though the vocabulary is the same.
    config = json.loads((copy / "tokenizer_config.json").read_text())
    (copy / "tokenizer_config.json").write_text(json.dumps({**config, "do_lower_case": False}))
    changed = tokenizer_identity(str(copy))
    assert changed["sha256"] != identity["sha256"] and changed["vocab_size"] == identity["vocab_size"]


def test_a_dataset_refuses_a_model_with_another_tokenizer_naming_both(write_rows, tmp_path, tiny_bert, tiny_tagger,
                                                                      tiny_roberta):
    bert, roberta = tiny_bert, tiny_roberta
    out = str(tmp_path / "premasked" / "t")
    write_rows(premasked_rows(10), out, PREMASKED, shards=1, tokenizer=tokenizer_identity(bert))
    assert read_manifest(out).tokenizer == tokenizer_identity(bert)
    check_same_tokenizer(out, tiny_tagger)  # a model trained from it: the same tokenizer files
    with pytest.raises(ManifestError) as refused:
        check_same_tokenizer(out, roberta)
    message = str(refused.value)
    assert "\n" not in message and out in message and roberta in message
    assert "BertTokenizer" in message and "RobertaTokenizer" in message
