"""The mechanism check masks exactly the tagger's positions, and as many others per sentence, on
sentences of the documents pretraining held out; its accuracy is the model's own argmax."""
import types

import numpy as np
import pyarrow as pa
import torch

from engine.contract import PREMASKED, SCHEMAS
from jobs.mechanism import mechanism_inputs
from trainer.data import holdout_part
from trainer.evaluate import masked_accuracy


def premasked_table(n_docs: int) -> pa.Table:
    rng = np.random.default_rng(0)
    rows = [(d, s, rng.integers(5, 60, int(rng.integers(2, 12))).astype(np.int32))
            for d in range(n_docs) for s in range(3)]
    masks = [np.sort(rng.choice(len(ids), int(rng.integers(0, len(ids))), replace=False)).astype(np.int32)
             for _, _, ids in rows]
    return pa.table({"doc_id": [r[0] for r in rows], "sentence_index": np.array([r[1] for r in rows], np.int32),
                     "input_ids": [r[2] for r in rows], "scores": [np.zeros(len(r[2]), np.float32) for r in rows],
                     "mask_positions": masks}, schema=SCHEMAS[PREMASKED])


def test_the_important_tokens_are_the_taggers_positions_and_the_others_as_many_elsewhere(write_rows, tmp_path):
    table = premasked_table(60)
    out = str(tmp_path / "premasked" / "p")
    write_rows(table, out, PREMASKED, shards=3)
    cfg = types.SimpleNamespace(seed=7, pretrain=types.SimpleNamespace(holdout=0.3))
    inputs = mechanism_inputs(cfg, types.SimpleNamespace(premasked=out), limit=10_000)
    held = holdout_part(table, "doc_id", 0.3, 7, held=True)  # the documents pretraining held out
    expected = [(ids, masks) for ids, masks in zip(held["input_ids"].to_pylist(), held["mask_positions"].to_pylist())
                if masks and len(masks) < len(ids)]
    assert 0 < len(inputs.rows) == len(expected) < table.num_rows
    for row, important, other, (ids, masks) in zip(inputs.rows, inputs.important, inputs.other, expected):
        assert row.tolist() == ids and important.tolist() == masks
        assert not set(other) & set(masks) and len(other) == min(len(masks), len(ids) - len(masks))
        assert all(0 <= p < len(ids) for p in other)
    again = mechanism_inputs(cfg, types.SimpleNamespace(premasked=out), limit=10_000)
    assert [o.tolist() for o in again.other] == [o.tolist() for o in inputs.other]  # the same masks for every arm


def test_masked_accuracy_is_the_models_argmax_at_the_masked_positions(tiny_bert, tmp_path):
    from transformers import AutoTokenizer, BertForMaskedLM

    torch.manual_seed(0)
    model = BertForMaskedLM.from_pretrained(tiny_bert).eval()
    model.save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tiny_bert)
    tok.save_pretrained(tmp_path)
    rows = [np.array(tok(t, add_special_tokens=False)["input_ids"]) for t in
            ["the movie was great fun", "a terrible boring mess of a film", "i love it"]]
    positions = [np.array([1, 3]), np.array([0, 2, 5]), np.array([2])]
    correct = total = 0
    for row, picks in zip(rows, positions):  # one row at a time, by hand
        ids = torch.tensor([[tok.cls_token_id, *row, tok.sep_token_id]])
        ids[0, picks + 1] = tok.mask_token_id
        with torch.no_grad():
            predicted = model(input_ids=ids).logits[0, picks + 1].argmax(-1).numpy()
        correct += int((predicted == row[picks]).sum())
        total += len(picks)
    result = masked_accuracy(str(tmp_path), rows, positions, max_seq=32, batch_size=2)
    assert result == {"accuracy": correct / total, "predicted": total}
