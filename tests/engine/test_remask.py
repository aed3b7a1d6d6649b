"""The random baseline masks as many positions per sentence as the selective masks; masks chosen
again from the stored scores keep the tagging rule, among every token or content tokens only."""
import numpy as np
import pyarrow as pa
import pytest

from engine.contract import PREMASKED, SCHEMAS
from engine.remask import random_equal_budget, rebudget
from engine.tagger import mask_budget, select_masks


def _premasked(n_rows: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 40, n_rows)
    ids = [rng.integers(5, 100, n).astype(np.int32) for n in lengths]
    scores = [rng.normal(size=n).astype(np.float32) for n in lengths]
    masks = [np.flatnonzero(s > 0)[: max(1, int(0.15 * len(s)))].astype(np.int32) for s in scores]
    return pa.table({"doc_id": np.arange(n_rows) // 3, "sentence_index": (np.arange(n_rows) % 3).astype(np.int32),
                     "input_ids": ids, "scores": scores, "mask_positions": masks}, schema=SCHEMAS[PREMASKED])


def test_random_baseline_masks_the_same_number_per_sentence_at_valid_distinct_positions():
    table = _premasked(200)
    out = random_equal_budget(table, seed=7)
    for before, after, ids in zip(table["mask_positions"].to_pylist(), out["mask_positions"].to_pylist(), out["input_ids"].to_pylist()):
        assert len(after) == len(before)
        assert len(set(after)) == len(after)
        assert all(0 <= p < len(ids) for p in after)
    assert out.drop_columns(["mask_positions"]).equals(table.drop_columns(["mask_positions"]))
    assert out["mask_positions"].to_pylist() != table["mask_positions"].to_pylist()


def test_random_baseline_does_not_depend_on_batching_and_changes_with_the_seed():
    table = _premasked(60)
    whole = random_equal_budget(table, seed=3)["mask_positions"].to_pylist()
    halves = random_equal_budget(table.slice(0, 25), seed=3)["mask_positions"].to_pylist() + \
        random_equal_budget(table.slice(25), seed=3)["mask_positions"].to_pylist()
    assert whole == halves
    assert random_equal_budget(table, seed=4)["mask_positions"].to_pylist() != whole


def test_another_budget_is_chosen_from_the_stored_scores_by_the_tagging_rule():
    table = _premasked(200)
    out = rebudget(table, 0.4)
    for scores, masks in zip(out["scores"].to_pylist(), out["mask_positions"].to_pylist()):
        scores = np.array(scores, np.float32)
        assert masks == select_masks(scores, 0.4).tolist()
        assert len(masks) <= mask_budget(len(scores), 0.4) and all(scores[p] > 0 for p in masks)
    assert out.drop_columns(["mask_positions"]).equals(table.drop_columns(["mask_positions"]))
    more = sum(len(m) for m in out["mask_positions"].to_pylist())
    assert more > sum(len(m) for m in rebudget(table, 0.15)["mask_positions"].to_pylist())


def test_content_candidates_never_include_stop_words_or_punctuation_and_keep_the_budget(tiny_bert):
    from engine.text import load_tokenizer

    tokenizer = load_tokenizer(tiny_bert)
    texts = ["the movie , was great fun .", "it was the best of it !", "."]
    ids = [np.array(tokenizer(t, add_special_tokens=False)["input_ids"], np.int32) for t in texts]
    function = {"the", "was", "it", "of", ",", ".", "!"}
    # The tagger's scores favour exactly the tokens content candidates leave out.
    scores = [np.array([5.0 if t in function else 1.0 for t in tokenizer.convert_ids_to_tokens(row)], np.float32)
              for row in ids]
    table = pa.table({"doc_id": np.arange(3), "sentence_index": np.zeros(3, np.int32), "input_ids": ids,
                      "scores": scores, "mask_positions": [np.zeros(0, np.int32)] * 3}, schema=SCHEMAS[PREMASKED])
    published = rebudget(table, 0.5)["mask_positions"].to_pylist()
    content = rebudget(table, 0.5, candidates="content", model_path=tiny_bert)["mask_positions"].to_pylist()
    words = [tokenizer.convert_ids_to_tokens(row) for row in ids]
    assert [[words[0][p] for p in m] for m in published][0] == ["the", ",", "was"]  # the published rule
    assert [[words[i][p] for p in m] for i, m in enumerate(content)] == [["movie", "great", "fun"], ["best"], []]
    assert all(len(m) <= mask_budget(len(row), 0.5) for m, row in zip(content, ids))
    with pytest.raises(ValueError, match="candidates must be one of"):
        rebudget(table, 0.5, candidates="nouns")
