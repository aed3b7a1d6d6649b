"""What the masks look like: sentences with their masked wordpieces marked, the share of masks
per word class, and the most-masked words (`taskpt inspect`)."""
from __future__ import annotations

import string

import numpy as np
import polars as pl
import pyarrow as pa

from engine.stopwords import ENGLISH

WORD_CLASSES = ("word", "stop word", "word piece (##)", "punctuation", "number", "special")


def word_class(token: str) -> str:
    if token.startswith("[") and token.endswith("]"):
        return "special"
    if token.startswith("##"):
        return "word piece (##)"
    if all(c in string.punctuation for c in token):
        return "punctuation"
    if token.replace(".", "").replace(",", "").isdigit():
        return "number"
    return "stop word" if token.lower() in ENGLISH else "word"


def token_table(rows: pa.Table, tokenizer) -> pl.DataFrame:
    """One row per wordpiece: token, class, and whether it is masked."""
    ids = rows.column("input_ids").to_pylist()
    masks = rows.column("mask_positions").to_pylist()
    flat = [i for row in ids for i in row]
    masked = np.zeros(len(flat), dtype=bool)
    offset = 0
    for row, positions in zip(ids, masks):
        masked[[offset + p for p in positions]] = True
        offset += len(row)
    tokens = tokenizer.convert_ids_to_tokens(flat)
    return pl.DataFrame({"token": tokens, "class": [word_class(t) for t in tokens], "masked": masked})


def class_shares(tokens: pl.DataFrame) -> pl.DataFrame:
    """Per word class: wordpieces, masks, share of all masks, and how often that class is masked."""
    total = max(1, int(tokens["masked"].sum()))
    return (tokens.group_by("class").agg(pl.len().alias("wordpieces"), pl.col("masked").sum().alias("masks"))
            .with_columns((pl.col("masks") / total).alias("share_of_masks"),
                          (pl.col("masks") / pl.col("wordpieces")).alias("mask_rate"))
            .sort("masks", descending=True))


def most_masked(tokens: pl.DataFrame, top: int = 20) -> pl.DataFrame:
    return (tokens.group_by("token").agg(pl.col("masked").sum().alias("masks"), pl.len().alias("occurrences"))
            .filter(pl.col("masks") > 0)
            .with_columns((pl.col("masks") / pl.col("occurrences")).alias("mask_rate"))
            .sort(["masks", "token"], descending=[True, False]).head(top))


def render(tokens: list[str], positions: list[int], color: bool) -> str:
    """The sentence with masked wordpieces in reverse video (terminal) or [brackets]."""
    chosen, out = set(positions), []
    for i, token in enumerate(tokens):
        piece = token[2:] if token.startswith("##") else token
        if i in chosen:
            piece = f"\x1b[7m{piece}\x1b[0m" if color else f"[{piece}]"
        out.append(piece if token.startswith("##") or not out else " " + piece)
    return "".join(out)
