"""Packing sentences into masked-LM instances, and the held-out split."""
import numpy as np
import pyarrow as pa

from trainer.data import _bucket, pack_documents


def table(docs, rows, masks):
    return pa.table({"doc_id": docs, "input_ids": rows, "mask_positions": masks})


def test_sentences_of_one_document_are_packed_and_mask_positions_shifted():
    batch = table([1, 1, 1, 2], [[10, 11, 12], [20, 21], [30, 31, 32, 33], [40]], [[0], [1], [2, 3], [0]])
    out = pack_documents(batch, "doc_id", max_tokens=7, max_predictions=10, short_seq_prob=0.0, seed=0, drop_unmasked=True)
    assert out["input_ids"].to_pylist() == [[10, 11, 12, 20, 21], [30, 31, 32, 33], [40]]
    assert out["mask_positions"].to_pylist() == [[0, 4], [2, 3], [0]]
    for ids, masks in zip(out["input_ids"].to_pylist(), out["mask_positions"].to_pylist()):
        assert len(ids) <= 7 and all(p < len(ids) for p in masks)


def test_predictions_are_capped_keeping_the_best_first():
    batch = table([1], [list(range(100, 120))], [[5, 1, 9, 3, 7]])
    out = pack_documents(batch, "doc_id", max_tokens=50, max_predictions=3, short_seq_prob=0.0, seed=0, drop_unmasked=True)
    assert out["mask_positions"].to_pylist() == [[5, 1, 9]]


def test_instances_without_masks_are_dropped_only_for_stored_masks():
    batch = table([1, 2], [[1, 2], [3, 4]], [[], [1]])
    stored = pack_documents(batch, "doc_id", 10, 5, 0.0, 0, drop_unmasked=True)
    dynamic = pack_documents(batch, "doc_id", 10, 5, 0.0, 0, drop_unmasked=False)
    assert stored.num_rows == 1 and dynamic.num_rows == 2


def test_short_targets_never_exceed_the_maximum():
    rng = np.random.default_rng(0)
    rows = [rng.integers(5, 99, rng.integers(1, 30)).tolist() for _ in range(300)]
    batch = table(np.repeat(np.arange(30), 10), rows, [[0]] * 300)
    out = pack_documents(batch, "doc_id", max_tokens=64, max_predictions=40, short_seq_prob=0.5, seed=1, drop_unmasked=True)
    lengths = [len(x) for x in out["input_ids"].to_pylist()]
    assert max(lengths) <= 64 and sum(lengths) == sum(len(r) for r in rows)


def test_a_documents_instances_do_not_depend_on_its_batch_or_the_order_of_batches():
    # Ray reads shards in any order and cuts blocks where it likes (between documents): a
    # count of the dataset and the training run must still see the same instances.
    rng = np.random.default_rng(0)
    docs = np.repeat(np.arange(40), 8)
    rows = [rng.integers(5, 99, rng.integers(1, 30)).tolist() for _ in docs]
    masks = [[0]] * len(rows)
    pack = {"id_column": "doc_id", "max_tokens": 48, "max_predictions": 40, "short_seq_prob": 0.5, "seed": 3,
            "drop_unmasked": True}
    whole = pack_documents(table(docs, rows, masks), **pack)["input_ids"].to_pylist()
    pieces = []
    for cut in reversed([(0, 56), (56, 200), (200, 320)]):  # document-aligned, last batch first
        part = slice(*cut)
        pieces += pack_documents(table(docs[part], rows[part], masks[part]), **pack)["input_ids"].to_pylist()
    assert sorted(pieces) == sorted(whole)
    assert len({len(x) for x in whole}) > 10  # short targets were drawn: the stream mattered


def test_holdout_buckets_are_stable_and_roughly_uniform():
    ids = np.arange(20000)
    a, b = _bucket(ids, 42), _bucket(ids, 42)
    assert (a == b).all() and 0.08 < np.mean(a < 0.1) < 0.12
    assert not (a == _bucket(ids, 43)).all()


def test_tapt_rows_pack_the_task_text_by_example_without_stored_masks(write_rows, tmp_path):
    from engine.contract import IMPORTANCE, SCHEMAS
    from trainer.data import pretraining_rows

    n = 40
    rows = pa.table({"example_id": np.repeat(np.arange(20), 2), "sentence_index": np.tile([0, 1], 20).astype(np.int32),
                     "label": np.zeros(n, np.int32), "input_ids": [np.arange(5, 10, dtype=np.int32)] * n,
                     "important": [np.zeros(5, bool)] * n, "labels": [np.zeros(5, np.int8)] * n,
                     "p_full": np.ones(n, np.float32), "correct": np.ones(n, bool)}, schema=SCHEMAS[IMPORTANCE])
    out = str(tmp_path / "importance")
    write_rows(rows, out, IMPORTANCE, shards=2)
    train, held = pretraining_rows(out, IMPORTANCE, max_tokens=254, max_predictions=40, short_seq_prob=0.0,
                                   seed=0, stored_masks=False, holdout=0.25)
    packed = train.take_all() + held.take_all()
    assert len(packed) == 20  # the two sentences of each example packed together
    assert all(len(r["input_ids"]) == 10 and len(r["mask_positions"]) == 0 for r in packed)
    assert 0 < len(held.take_all()) < 20


def premasked_table(documents: int, sentences: int):
    from engine.contract import PREMASKED, SCHEMAS

    n = documents * sentences
    return pa.table({"doc_id": np.repeat(np.arange(documents), sentences),
                     "sentence_index": np.tile(np.arange(sentences), documents).astype(np.int32),
                     "input_ids": [np.full(20, 100 + d, np.int32) for d in range(documents) for _ in range(sentences)],
                     "scores": [np.zeros(20, np.float32)] * n,
                     "mask_positions": [np.array([1, 3], np.int32)] * n}, schema=SCHEMAS[PREMASKED])


def test_small_training_rows_are_computed_once_in_shard_order(write_rows, tmp_path):
    from ray.data.dataset import MaterializedDataset

    from engine.contract import PREMASKED
    from trainer.data import pretraining_rows

    out = str(tmp_path / "premasked")
    write_rows(premasked_table(documents=60, sentences=3), out, PREMASKED, shards=6)
    train, held = pretraining_rows(out, PREMASKED, max_tokens=40, max_predictions=40, short_seq_prob=0.0,
                                   seed=0, stored_masks=True, holdout=0.2)
    assert isinstance(train, MaterializedDataset) and isinstance(held, MaterializedDataset)
    # Two 20-wordpiece sentences per 40-wordpiece instance: 2 instances per document (the
    # first holding masks 1, 3, 21, 23), in the order of the shards (wordpiece = 100 + document).
    rows = train.take_all()
    assert train.count() == len(rows) == 2 * (60 - held.count() // 2)
    assert list(rows[0]["mask_positions"]) == [1, 3, 21, 23] and len(rows[1]["input_ids"]) == 20
    documents = [int(r["input_ids"][0]) - 100 for r in rows]
    assert documents == sorted(documents) and len(set(documents)) > 40


def test_rows_read_on_the_driver_by_ray_once_or_streamed_are_the_same_rows_in_shard_order(
        write_rows, tmp_path, monkeypatch):
    from ray.data.dataset import MaterializedDataset

    import trainer.data
    from engine.contract import PREMASKED

    out = str(tmp_path / "premasked")
    write_rows(premasked_table(documents=60, sentences=3), out, PREMASKED, shards=6)

    def rows(driver_tokens: int, in_memory_share: float):
        monkeypatch.setattr(trainer.data, "DRIVER_TOKENS", driver_tokens)
        monkeypatch.setattr(trainer.data, "IN_MEMORY_SHARE", in_memory_share)
        return trainer.data.pretraining_rows(out, PREMASKED, max_tokens=40, max_predictions=40, short_seq_prob=0.5,
                                             seed=0, stored_masks=True, holdout=0.2)

    on_driver = [ds.take_all() for ds in rows(10**9, 0.1)]
    by_ray, streamed = rows(0, 0.1), rows(0, 0.0)  # 0 tokens: none read on the driver; share 0: none kept
    assert all(isinstance(ds, MaterializedDataset) for ds in by_ray)
    assert not any(isinstance(ds, MaterializedDataset) for ds in streamed)
    for datasets in (by_ray, streamed):
        assert [[{k: list(v) for k, v in r.items()} for r in ds.take_all()] for ds in datasets] == on_driver
    documents = [int(r["input_ids"][0]) - 100 for r in on_driver[0]]
    assert documents == sorted(documents) and 0 < len(on_driver[1]) < len(on_driver[0])
