"""What the masks look like: sentences with their masked tokens marked, the share of masks per
word class, and the most-masked words (`taskpt inspect`)."""
from __future__ import annotations

import string

import numpy as np
import polars as pl
import pyarrow as pa

from engine.stopwords import ENGLISH

WORD_CLASSES = ("word", "stop word", "word piece", "punctuation", "number", "special")


def word_class(surface: str, starts_word: bool, special: bool) -> str:
    """The class of a token with text `surface` (without its tokenizer's marker): a word piece
    is the continuation of a word (`##ing`, or BPE's unmarked `ing` after `Ġbor`)."""
    if special:
        return "special"
    if surface and all(c in string.punctuation for c in surface):
        return "punctuation"
    if not starts_word or not surface:
        return "word piece"
    if surface.replace(".", "").replace(",", "").isdigit():
        return "number"
    return "stop word" if surface.lower() in ENGLISH else "word"


def token_table(rows: pa.Table, forms) -> pl.DataFrame:
    """One row per token: its text, class, and whether it is masked. `forms`: the tokenizer's
    engine.token_forms.TokenForms."""
    ids = rows.column("input_ids").to_pylist()
    masks = rows.column("mask_positions").to_pylist()
    offsets = np.concatenate([[0], np.cumsum([len(row) for row in ids])]).astype(np.int64)
    values = np.fromiter((i for row in ids for i in row), dtype=np.int64, count=int(offsets[-1]))
    masked = np.zeros(len(values), dtype=bool)
    for start, positions in zip(offsets, masks):
        masked[[start + p for p in positions]] = True
    starts = forms.starts(values, offsets)
    surfaces = [forms.surfaces[v] for v in values]
    classes = [word_class(text, bool(s), bool(forms.special[v])) for text, s, v in zip(surfaces, starts, values)]
    return pl.DataFrame({"token": surfaces, "class": classes, "masked": masked}, schema={
        "token": pl.String, "class": pl.String, "masked": pl.Boolean})


def class_shares(tokens: pl.DataFrame) -> pl.DataFrame:
    """Per word class: tokens, masks, share of all masks, and how often that class is masked."""
    total = max(1, int(tokens["masked"].sum()))
    return (tokens.group_by("class").agg(pl.len().alias("tokens"), pl.col("masked").sum().alias("masks"))
            .with_columns((pl.col("masks") / total).alias("share_of_masks"),
                          (pl.col("masks") / pl.col("tokens")).alias("mask_rate"))
            .sort("masks", descending=True))


def most_masked(tokens: pl.DataFrame, top: int = 20) -> pl.DataFrame:
    return (tokens.group_by("token").agg(pl.col("masked").sum().alias("masks"), pl.len().alias("occurrences"))
            .filter(pl.col("masks") > 0)
            .with_columns((pl.col("masks") / pl.col("occurrences")).alias("mask_rate"))
            .sort(["masks", "token"], descending=[True, False]).head(top))


def render(ids: list[int], positions: list[int], forms, color: bool) -> str:
    """The sentence with its masked tokens in reverse video (terminal) or [brackets], word
    pieces joined to their word."""
    chosen, out = set(positions), []
    starts = forms.starts(np.asarray(ids, dtype=np.int64), np.array([0, len(ids)]))
    for i, token_id in enumerate(ids):
        piece = forms.surfaces[token_id]
        if i in chosen:
            piece = f"\x1b[7m{piece}\x1b[0m" if color else f"[{piece}]"
        out.append(" " + piece if starts[i] and out else piece)
    return "".join(out)
