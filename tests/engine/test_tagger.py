"""Stage 4: masks respect the budget, hold only positive scores, and are the top-k by score."""
import numpy as np
import pytest

from engine.tagger import MaskTagger, mask_budget, select_masks
from engine.text import load_tokenizer


@pytest.mark.parametrize("length,budget", [(1, 1), (5, 1), (6, 1), (7, 1), (14, 2), (20, 3), (126, 18)])
def test_budget_is_15_percent_rounded_down_and_at_least_one(length, budget):
    assert mask_budget(length, 0.15) == budget


def test_masks_are_the_top_k_positive_scores_best_first():
    scores = np.array([0.5, -1.0, 2.0, 0.1, 3.0, -0.2, 1.0, 0.7, 0.0, 0.3, 0.2, 0.9, 1.5, -3.0], np.float32)
    assert select_masks(scores, 0.15).tolist() == [4, 2]  # budget int(0.15 * 14) = 2


def test_fewer_candidates_than_budget_gives_fewer_masks_and_none_gives_none():
    assert select_masks(np.array([-1, 2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1.0]), 0.3).tolist() == [1]
    assert select_masks(np.full(30, -0.5), 0.15).tolist() == []


def test_tagger_actor_masks_respect_budget_sign_and_rank(tiny_tagger):
    tokenizer = load_tokenizer(tiny_tagger)
    texts = ["the movie was great fun and the acting was wonderful", "bad", "i love it so much you know",
             "what a dull slow awful story with no plot and no actor worth the time of night"]
    rows = [np.array(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    tagger = MaskTagger(tiny_tagger, mask_ratio=0.15, max_batch_tokens=40)
    out = tagger({"doc_id": np.arange(4), "sentence_index": np.zeros(4, np.int32), "input_ids": np.array(rows, dtype=object)})
    assert out.column_names == ["doc_id", "sentence_index", "input_ids", "scores", "mask_positions"]
    masked_somewhere = False
    for row in out.to_pylist():
        scores, masks = np.array(row["scores"]), row["mask_positions"]
        assert len(scores) == len(row["input_ids"])
        assert len(masks) <= mask_budget(len(scores), 0.15)
        assert all(scores[p] > 0 for p in masks)
        positive = np.sort(scores[scores > 0])[::-1]
        assert [scores[p] for p in masks] == list(positive[: len(masks)])
        assert len(masks) == min(len(positive), mask_budget(len(scores), 0.15))
        masked_somewhere |= bool(masks)
    assert masked_somewhere


def test_tagger_scores_do_not_depend_on_batching(tiny_tagger):
    tokenizer = load_tokenizer(tiny_tagger)
    rows = [np.array(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in
            ["great fun", "a terrible boring mess of a film with no story", "i love it"]]
    batch = {"doc_id": np.arange(3), "sentence_index": np.zeros(3, np.int32), "input_ids": np.array(rows, dtype=object)}
    together = MaskTagger(tiny_tagger, max_batch_tokens=10_000)(batch).column("scores").to_pylist()
    apart = MaskTagger(tiny_tagger, max_batch_tokens=1)(batch).column("scores").to_pylist()
    for a, b in zip(together, apart):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_tagger_masks_equal_select_masks_on_its_own_scores_across_groups(tiny_tagger):
    import pyarrow as pa

    tokenizer = load_tokenizer(tiny_tagger)
    texts = ["the movie was great fun and the acting was wonderful and i love it so much", "bad",
             "i love it so much you know", "dull slow awful story", "what a film"] * 3
    ids = pa.array([tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts], pa.list_(pa.int32()))
    rows = pa.table({"doc_id": pa.array(range(len(texts)), pa.int64()),
                     "sentence_index": pa.array([0] * len(texts), pa.int32()), "input_ids": ids})
    # A sliced table (offsets not starting at 0) and small groups: several passes, reordered rows.
    out = MaskTagger(tiny_tagger, mask_ratio=0.3, max_batch_tokens=24)(rows.slice(2)).to_pylist()
    assert [r["input_ids"] for r in out] == ids.to_pylist()[2:]
    for row in out:
        assert row["mask_positions"] == select_masks(np.array(row["scores"], np.float32), 0.3).tolist()
    empty = MaskTagger(tiny_tagger)(rows.slice(0, 0))
    assert empty.num_rows == 0 and empty.column_names[-1] == "mask_positions"


def _mixed_length_rows(model_dir):
    """`premasked` input rows of sentences 1 to 16 wordpieces long, from a sliced table."""
    import pyarrow as pa

    tokenizer = load_tokenizer(model_dir)
    texts = ["the movie was great fun and the acting was wonderful and i love it so much", "bad",
             "i love it so much you know", "dull slow awful story", "what a film", "fun"] * 4
    ids = pa.array([tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts], pa.list_(pa.int32()))
    return pa.table({"doc_id": pa.array(range(len(texts)), pa.int64()),
                     "sentence_index": pa.array([0] * len(texts), pa.int32()), "input_ids": ids}).slice(1)


def _assert_same_tags(got: list[dict], expected: list[dict]) -> None:
    assert [r["input_ids"] for r in got] == [r["input_ids"] for r in expected]
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-5)
        assert a["mask_positions"] == b["mask_positions"]


def test_packed_sentences_give_the_scores_and_masks_of_padded_groups(tiny_tagger):
    rows = _mixed_length_rows(tiny_tagger)
    padded = MaskTagger(tiny_tagger, mask_ratio=0.3)(rows).to_pylist()
    # Passes of at most 128 tokens end to end: several passes, several sentences in each.
    tagger = MaskTagger(tiny_tagger, mask_ratio=0.3, max_batch_tokens=128, pack=True)
    passes = [(len(group), inputs["input_ids"].shape) for group, inputs, *_ in tagger.groups(rows.column("input_ids"))]
    assert len(passes) >= 2 and all(len(shape) == 1 and shape[0] <= 128 for _, shape in passes)
    assert max(n for n, _ in passes) > 1
    _assert_same_tags(tagger(rows).to_pylist(), padded)
