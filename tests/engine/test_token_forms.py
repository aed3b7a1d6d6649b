"""Which tokens start a word, and their text, for every tokenizer kind: WordPiece (`##`
continuations), byte-level BPE and Unigram (`Ġ` / `▁` word starts); the stop words follow."""
import numpy as np
import pytest
from transformers import AutoTokenizer

from engine.mask_report import render
from engine.stopwords import StopWords
from engine.token_forms import TokenForms

FAMILIES = ["bert", "roberta", "xlm-roberta"]
TEXT = "the movies was boringly slow"  # every tokenizer here splits "boringly", ending in a "y" piece


def encoded(path: str, text: str = TEXT) -> np.ndarray:
    return np.array(AutoTokenizer.from_pretrained(path)(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("model_type", FAMILIES)
def test_a_token_starts_a_word_exactly_where_the_decoded_text_has_one(family_models, model_type):
    path = family_models[model_type][0]
    forms, ids = TokenForms.for_model(path), encoded(path)
    starts = forms.starts(ids, np.array([0, len(ids)]))
    assert starts[0] and starts.sum() == len(TEXT.split())  # RoBERTa's first "the" has no Ġ and starts one
    assert len(ids) > len(TEXT.split())  # some words are in pieces
    assert render(list(ids), [], forms, color=False) == TEXT
    assert render(list(ids), [0], forms, color=False).startswith("[the] movi")


@pytest.mark.parametrize("model_type", FAMILIES)
def test_only_whole_word_stop_words_are_stop_words_never_a_continuation(family_models, model_type):
    path = family_models[model_type][0]
    forms, ids = TokenForms.for_model(path), encoded(path)
    stop = StopWords(forms).at(ids, np.array([0, len(ids)]))
    words = [forms.surfaces[i] for i in ids[stop]]
    assert words == ["the", "was"]  # not the "y" (or "s") that continues a word, though both are in the list
    tokens = AutoTokenizer.from_pretrained(path)
    assert not StopWords(forms).ids[tokens.all_special_ids].any()


def test_stop_words_of_several_rows_take_each_rows_first_token_as_a_word_start(family_models):
    path = family_models["roberta"][0]
    forms = TokenForms.for_model(path)
    rows = [encoded(path, "the plot"), encoded(path, "the movie was slow")]
    values, offsets = np.concatenate(rows), np.array([0, len(rows[0]), len(rows[0]) + len(rows[1])])
    assert forms.tokens[values[offsets[1]]] == "the"  # unmarked, at the start of the second row
    assert [forms.surfaces[i] for i in values[StopWords(forms).at(values, offsets)]] == ["the", "the", "was"]


def test_byte_level_surfaces_are_text_not_byte_symbols():
    spec = {"model": {"type": "BPE"}, "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}]},
            "added_tokens": [{"id": 0, "content": "<s>", "special": True}]}
    forms = TokenForms.from_spec(spec, ["<s>", "ĠcafÃ©", "Ã©s", "Ġ"])
    assert forms.surfaces == ["<s>", "café", "és", ""]
    assert list(forms.word_start) == [True, True, False, True] and list(forms.special) == [True, False, False, False]
