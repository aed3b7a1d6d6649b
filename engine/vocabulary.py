"""Domain similarity as in DAPT (Gururangan et al. 2020): each corpus's top-K most frequent
non-stop-word unigrams, and the share of top-K words two corpora have in common.

A word is a run of letters (any script) joined by inner apostrophes, on lowercased text:
"Don't" -> "don't", "rock'n'roll" -> "rock'n'roll", "'90s" -> "s". Digits are never part of a
word, so purely numeric tokens never count; stop words (engine.stopwords.ENGLISH) and words
shorter than 2 characters are dropped."""
from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import polars as pl

from engine.stopwords import ENGLISH

WORD = r"\p{L}+(?:'\p{L}+)*"
MIN_LENGTH = 2


def words(texts: pl.Series | Sequence[str]) -> pl.Series:
    """Every word of every text, in order, lowercased (stop words included)."""
    text = pl.Series("text", texts, dtype=pl.String)
    # typographic apostrophes (’) are as common as ASCII ones in scraped text
    normalised = text.str.to_lowercase().str.replace_all("\u2019", "'", literal=True)
    return normalised.str.extract_all(WORD).explode().drop_nulls().rename("word")


def unigram_counts(texts: pl.Series | Sequence[str], stopwords: Collection[str] = ENGLISH) -> pl.DataFrame:
    """(word, count) of the non-stop words of `texts`, most frequent first, ties by word."""
    return (
        words(texts).to_frame().lazy()
        .filter(pl.col("word").str.len_chars() >= MIN_LENGTH, ~pl.col("word").is_in(list(stopwords)))
        .group_by("word").agg(pl.len().cast(pl.Int64).alias("count"))
        .sort(["count", "word"], descending=[True, False])
        .collect()
    )


def add_counts(counts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """The (word, count) tables of several parts (files) of one corpus, summed into one."""
    return (
        pl.concat(counts).lazy()
        .group_by("word").agg(pl.col("count").sum())
        .sort(["count", "word"], descending=[True, False])
        .collect()
    )


def top_words(counts: pl.DataFrame, k: int) -> list[str]:
    """The `k` most frequent words; ties broken by word, so the cut is deterministic."""
    return counts.sort(["count", "word"], descending=[True, False]).head(k).get_column("word").to_list()


def overlap_matrix(tops: Sequence[Collection[str]]) -> np.ndarray:
    """Percent of top words shared by each pair: |A & B| / max(|A|, |B|) * 100. With the full K
    words in either corpus this is the paper's |A & B| / K; smaller vocabularies still give 100
    on the diagonal."""
    sets = [set(top) for top in tops]
    matrix = np.zeros((len(sets), len(sets)))
    for i, a in enumerate(sets):
        for j, b in enumerate(sets):
            matrix[i, j] = 100.0 * len(a & b) / max(len(a), len(b), 1)
    return matrix
