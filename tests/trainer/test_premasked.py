"""trainer.premasked: taskpt's masks for other trainers. The collator on hand-built batches; the
reader against taskpt's own pretraining rows; examples/hf_trainer.py with the Hugging Face Trainer."""
import pathlib

import numpy as np
import pyarrow as pa
import pytest
from transformers import AutoTokenizer

from engine.contract import PREMASKED, SCHEMAS
from engine.contract.manifest import ManifestError
from engine.contract.tokenizer import tokenizer_identity
from trainer.data import pretraining_rows
from trainer.premasked import MaskedLMCollator, load_premasked, packed_instances

PROJECT = pathlib.Path(__file__).resolve().parents[2]


def test_labels_are_the_tokens_at_the_stored_positions_and_minus_100_elsewhere(tiny_bert):
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    collate = MaskedLMCollator(tok, max_seq=16, seed=0)
    rows = [[10, 11, 12, 13, 14], [20, 21, tok.sep_token_id, 23]]
    batch = collate([{"input_ids": rows[0], "mask_positions": [0, 3, 40]},  # 40: beyond the row, dropped
                     {"input_ids": rows[1], "mask_positions": [1, 2]}])  # 2 is a special: never masked
    labels, ids = batch["labels"].numpy(), batch["input_ids"].numpy()
    assert labels.shape == ids.shape == (2, 7)
    expected = np.full((2, 7), -100)
    expected[0, [1, 4]] = [10, 13]
    expected[1, 2] = 21
    assert (labels == expected).all()
    assert ids[0, 0] == ids[1, 0] == tok.cls_token_id and ids[0, 6] == tok.sep_token_id
    assert ids[1, 5] == tok.sep_token_id and ids[1, 6] == tok.pad_token_id and ids[1, 3] == tok.sep_token_id
    assert batch["attention_mask"].numpy().tolist() == [[1] * 7, [1] * 6 + [0]]
    for i, row in enumerate(rows):  # every position not predicted shows its own token
        assert all(ids[i, j + 1] == t for j, t in enumerate(row) if labels[i, j + 1] == -100)


def test_masked_positions_show_the_mask_token_80_a_random_ordinary_token_10_and_themselves_10_percent(tiny_bert):
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    collate = MaskedLMCollator(tok, max_seq=64, seed=1)
    row = list(range(10, 60))
    shown = []
    for _ in range(200):
        batch = collate([{"input_ids": row, "mask_positions": list(range(0, 50, 2))}] * 4)
        where = batch["labels"] != -100
        shown.append(np.stack([batch["input_ids"][where].numpy(), batch["labels"][where].numpy()], 1))
    shown = np.concatenate(shown)  # (shown token, original) for 20,000 masked positions
    as_mask = (shown[:, 0] == tok.mask_token_id).mean()
    kept = (shown[:, 0] == shown[:, 1]).mean()
    assert as_mask == pytest.approx(0.8, abs=0.015) and kept == pytest.approx(0.1 + 0.1 / len(tok), abs=0.015)
    others = shown[(shown[:, 0] != tok.mask_token_id) & (shown[:, 0] != shown[:, 1]), 0]
    assert len(others) > 1500 and not np.isin(others, tok.all_special_ids).any()


@pytest.fixture
def premasked(write_rows, tiny_bert, tmp_path):
    """A premasked dataset of 60 documents of 1-4 sentences, masks at random positions, in a store."""
    rng = np.random.default_rng(7)
    rows = []
    for doc in range(60):
        for sentence in range(int(rng.integers(1, 5))):
            ids = rng.integers(10, 60, int(rng.integers(4, 30))).tolist()
            positions = sorted(rng.choice(len(ids), max(1, len(ids) // 6), replace=False).tolist())
            rows.append({"doc_id": doc, "sentence_index": sentence, "input_ids": ids,
                         "scores": [0.5] * len(ids), "mask_positions": positions})
    table = pa.Table.from_pylist(rows, schema=SCHEMAS[PREMASKED])
    out = tmp_path / "store" / PREMASKED / "abc123"
    write_rows(table, str(out), PREMASKED, tokenizer=tokenizer_identity(tiny_bert))
    return tmp_path / "store", "abc123"


def test_the_reader_gives_the_instances_taskpts_pretraining_packs(premasked):
    store, name = premasked
    packing = dict(max_seq=48, max_predictions=6, short_seq_prob=0.3, holdout=0.2, seed=5)
    ours = packed_instances(name, str(store), **packing)
    train, held = pretraining_rows(str(store / PREMASKED / name), PREMASKED, max_tokens=46, max_predictions=6,
                                   short_seq_prob=0.3, seed=5, stored_masks=True, holdout=0.2)
    theirs = pa.Table.from_pylist(train.take_all())
    assert ours.num_rows == theirs.num_rows > 20
    assert ours.column("input_ids").to_pylist() == theirs.column("input_ids").to_pylist()
    assert ours.column("mask_positions").to_pylist() == theirs.column("mask_positions").to_pylist()
    held_out = packed_instances(name, str(store), split="held_out", **packing)
    assert held_out.column("input_ids").to_pylist() == pa.Table.from_pylist(held.take_all()).column("input_ids").to_pylist()


def test_load_premasked_is_a_datasets_dataset_that_carries_the_tokenizer(premasked, tiny_bert):
    import json

    store, name = premasked
    ds = load_premasked(name, str(store), max_seq=48)
    assert ds.column_names == ["input_ids", "mask_positions"] and len(ds) > 20
    assert json.loads(ds.info.description)["tokenizer"] == tokenizer_identity(tiny_bert)


def test_a_dataset_that_is_not_there_or_not_premasked_is_one_clear_error(premasked, tmp_path, write_rows):
    store, _ = premasked
    with pytest.raises(ManifestError, match=r"premasked/nope/manifest.json: no manifest"):
        load_premasked("nope", str(store))
    other = tmp_path / "importance"
    write_rows(pa.Table.from_pylist([{"example_id": 1, "sentence_index": 0, "label": 0, "input_ids": [10],
                                      "important": [True], "labels": [1]}], schema=SCHEMAS["importance"]),
               str(other), "importance", shards=1)
    with pytest.raises(ManifestError, match="is a importance dataset, not a premasked one"):
        packed_instances(str(other))


@pytest.mark.slow
def test_the_hugging_face_trainer_example_pretrains_on_the_masks_and_its_loss_goes_down(premasked, tiny_bert,
                                                                                        tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("hf_trainer", PROJECT / "examples" / "hf_trainer.py")
    hf_trainer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hf_trainer)
    store, name = premasked
    trainer = hf_trainer.main([str(store / PREMASKED / name), tiny_bert, str(tmp_path / "out"), "--max-steps", "40",
                               "--max-seq", "48"])
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) >= 6 and np.mean(losses[-2:]) < losses[0] - 0.3, losses
    assert (tmp_path / "out" / "model.safetensors").exists()
