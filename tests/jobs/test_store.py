"""`taskpt store ls|verify` and `taskpt inspect` on a real written dataset."""
import numpy as np
import pyarrow as pa
import pytest

from engine.contract import PREMASKED, SCHEMAS, read_manifest
from jobs.inspect_masks import main as inspect_main
from jobs.store import ls
from jobs.store import main as store_main


@pytest.fixture
def store_with_dataset(write_rows, tmp_path, tiny_tagger):
    n = 300
    rows = pa.table({"doc_id": np.arange(n), "sentence_index": np.zeros(n, np.int32),
                     "input_ids": [np.array([5, 30, 14, 36], np.int32)] * n,
                     "scores": [np.array([0.1, -1, 2, 0.5], np.float32)] * n,
                     "mask_positions": [np.array([2], np.int32)] * n}, schema=SCHEMAS[PREMASKED])
    directory = str(tmp_path / "store" / PREMASKED / "feedbeef00")
    write_rows(rows, directory, PREMASKED, shards=3, fingerprint="feedbeef00", model=tiny_tagger,
               params={"masks": "tagger"})
    return str(tmp_path / "store"), directory


def test_ls_lists_complete_datasets_with_rows_and_tokens(store_with_dataset):
    store, _ = store_with_dataset
    table = ls(store)
    assert table.select("id", "kind", "masks", "rows", "tokens").row(0) == ("feedbeef00", PREMASKED, "tagger", 300, 1200)
    assert table["config"][0].endswith("feedbeef00/config.yaml") and table["created"][0]


def test_verify_passes_an_intact_dataset_and_catches_a_truncated_or_missing_shard(store_with_dataset, capsys):
    store, directory = store_with_dataset
    assert store_main(["verify", "feed", "--store", store]) == 0
    shards = read_manifest(directory).shards
    first = f"{directory}/{shards[0].path}"
    with open(first, "r+b") as f:
        f.truncate(100)
    assert store_main(["verify", "feedbeef", "--store", store]) == 1
    out = capsys.readouterr().out
    assert f"{shards[0].path}: sha256 differs" in out and "1 problem(s)" in out
    import os
    os.remove(f"{directory}/{shards[-1].path}")
    assert store_main(["verify", "feedbeef", "--store", store]) == 1
    assert f"{shards[-1].path}: missing" in capsys.readouterr().out


def test_an_unknown_id_is_an_error(store_with_dataset, capsys):
    store, _ = store_with_dataset
    assert store_main(["verify", "0000", "--store", store]) == 2
    assert "no complete dataset(s) with an id starting '0000'" in capsys.readouterr().err


def test_inspect_shows_sentences_with_their_masks_and_the_word_classes(store_with_dataset, capsys):
    store, _ = store_with_dataset
    assert inspect_main(["feed", "--store", store, "--sentences", "2", "--color", "never"]) == 0
    out = capsys.readouterr().out
    assert out.count("the movie [was] great") == 2
    assert "masks per word class" in out and "stop word" in out and "most-masked words" in out


def test_gc_removes_incomplete_outputs_and_never_a_complete_dataset(store_with_dataset, capsys):
    import os
    import pathlib

    store, directory = store_with_dataset
    root = pathlib.Path(store)
    half = root / PREMASKED / "0123interrupted"
    half.mkdir()
    (half / "part.parquet").write_bytes(b"half")
    model = root / "models" / "tagger" / "abc"
    model.mkdir(parents=True)
    (model / "model.safetensors").write_bytes(b"half")
    (pathlib.Path(directory) / "manifest.json.tmp").write_text("{")
    old = 3 * 24 * 3600
    for path in [half / "part.parquet", model / "model.safetensors", pathlib.Path(directory) / "manifest.json.tmp"]:
        os.utime(path, (path.stat().st_mtime - old, path.stat().st_mtime - old))
    assert store_main(["gc", "--store", store, "--dry-run"]) == 0
    assert half.exists() and "would remove" in capsys.readouterr().out
    assert store_main(["gc", "--store", store, "--older-than", "1"]) == 0
    assert not half.exists() and not model.exists() and not (pathlib.Path(directory) / "manifest.json.tmp").exists()
    assert store_main(["verify", "feedbeef00", "--store", store]) == 0
    fresh = root / PREMASKED / "0456running"
    fresh.mkdir()
    (fresh / "part.parquet").write_bytes(b"being written")
    assert store_main(["gc", "--store", store]) == 0
    assert fresh.exists()  # younger than 24 hours: a job may be writing it
