"""Domain similarity (DAPT): which words count, the top-K cut, and the overlap of two top-K sets."""
import numpy as np
import polars as pl

from engine.stopwords import ENGLISH
from engine.vocabulary import add_counts, overlap_matrix, top_words, unigram_counts, words


def as_dict(counts: pl.DataFrame) -> dict[str, int]:
    return dict(counts.iter_rows())


def test_words_are_lowercased_letter_runs_that_keep_inner_apostrophes():
    assert words(["Rock'n'Roll, CAFÉ-au-lait: it’s 'quoted'"]).to_list() == [
        "rock'n'roll", "café", "au", "lait", "it's", "quoted"]


def test_stop_words_never_count():
    counts = unigram_counts(["The film and THE plot", "don't you think it's the film"])
    assert as_dict(counts) == {"film": 2, "plot": 1, "think": 1}
    assert not set(counts["word"]) & ENGLISH


def test_numbers_and_one_letter_words_never_count():
    assert as_dict(unigram_counts(["2024 x 3.5 q ok 1,000 ok"])) == {"ok": 2}


def test_blank_and_null_texts_count_nothing():
    assert unigram_counts(["", None, "   "]).height == 0


def test_counts_run_most_frequent_first_ties_by_word():
    counts = unigram_counts(["pear apple pear fig apple kiwi"])
    assert counts.rows() == [("apple", 2), ("pear", 2), ("fig", 1), ("kiwi", 1)]


def test_top_words_cut_ties_by_word_whatever_the_row_order():
    counts = pl.DataFrame({"word": ["zeta", "beta", "alpha", "gamma"], "count": [1, 3, 1, 1]})
    assert top_words(counts, 2) == ["beta", "alpha"]
    assert top_words(counts, 10) == ["beta", "alpha", "gamma", "zeta"]


def test_counts_of_a_corpus_file_by_file_add_up_to_counting_it_whole():
    parts = [["film plot film"], ["plot actor"], [""]]
    whole = unigram_counts([text for part in parts for text in part])
    assert add_counts([unigram_counts(part) for part in parts]).equals(whole)


def test_identical_corpora_overlap_100_percent_and_disjoint_0():
    matrix = overlap_matrix([{"film", "plot"}, {"plot", "film"}, {"ship", "sea"}])
    assert np.array_equal(matrix, [[100, 100, 0], [100, 100, 0], [0, 0, 100]])


def test_overlap_is_the_shared_share_of_k_top_words():
    # top-4 of each: 3 of 4 shared -> 75%; top-2 vs a top-4 -> shared / 4
    matrix = overlap_matrix([["a", "b", "c", "d"], ["b", "c", "d", "e"], ["a", "e"]])
    assert matrix[0, 1] == matrix[1, 0] == 75.0
    assert matrix[0, 2] == matrix[1, 2] == 25.0
    assert np.array_equal(np.diag(matrix), [100, 100, 100])
