"""Sentence splitting and tokenization."""
import numpy as np

from engine.text import SentenceTokenizer, split_sentences


def test_splits_on_sentence_punctuation_followed_by_space():
    assert split_sentences("It was fine. Really! Was it? yes.") == ["It was fine.", "Really!", "Was it?", "yes."]


def test_lowercase_dialog_and_closing_quotes_split_too():
    assert split_sentences('you\'re asking me out. that\'s so cute. "what\'s your name?" he said') == [
        "you're asking me out.", "that's so cute.", "\"what's your name?\"", "he said"]


def test_abbreviations_initials_and_ellipsis_inside_words_do_not_split():
    assert split_sentences("Mr. Smith met Dr. Jones at 5 p.m. on J. R. Street.") == [
        "Mr. Smith met Dr. Jones at 5 p.m. on J. R. Street."]
    assert split_sentences("no space...after") == ["no space...after"]


def test_blank_text_has_no_sentence():
    assert split_sentences("   ") == []


def test_tokenizer_step_emits_one_row_per_sentence_and_repeats_other_columns(tiny_bert):
    step = SentenceTokenizer(tiny_bert, max_tokens=4)
    out = step({"doc_id": np.array([10, 11, 12]), "text": np.array(["good movie. bad plot and bad acting!", "   ", "fun"], dtype=object)})
    assert out.column("doc_id").to_pylist() == [10, 10, 12]
    assert out.column("sentence_index").to_pylist() == [0, 1, 0]
    assert [len(x) for x in out.column("input_ids").to_pylist()] == [3, 4, 1]  # "good movie ." ; cut to 4 ; "fun"
    assert str(out.schema.field("input_ids").type) == "list<item: int32>"


def test_tokenizer_step_without_splitting_keeps_whole_texts(tiny_bert):
    out = SentenceTokenizer(tiny_bert, max_tokens=100, split=False)({"label": np.array([1]), "text": np.array(["good. bad."], dtype=object)})
    assert out.column("sentence_index").to_pylist() == [0] and len(out.column("input_ids")[0]) == 4


def test_tokenizer_step_on_no_text_gives_an_empty_table_of_the_same_schema(tiny_bert):
    step = SentenceTokenizer(tiny_bert, max_tokens=8)
    full = step({"doc_id": np.array([1]), "text": np.array(["fun"], dtype=object)})
    empty = step({"doc_id": np.zeros(0, np.int64), "text": np.array([], dtype=object)})
    assert empty.num_rows == 0 and empty.schema == full.schema
