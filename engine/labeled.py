"""The task's labeled sets (train/dev/test): small tables, read and validated with polars."""
from __future__ import annotations

import polars as pl

from engine.errors import InputError
from engine.readers import blank_rows, read_table, require_columns


def load_labeled(path: str, text_column: str, label_column: str, fmt: str = "auto",
                 encoding: str = "utf-8") -> pl.DataFrame:
    """Columns `example_id` (row number, 0-based), `text`, `label` (as a string)."""
    table = read_table(path, fmt, encoding, text_column)
    require_columns(path, table, [text_column, label_column])
    if table.height == 0:
        raise InputError(f"{path}: no rows")
    blank = blank_rows(table, text_column)
    if len(blank):
        raise InputError(f"{path}: row {blank[0] + 1}: empty text in column {text_column!r}"
                         f" ({len(blank)} blank rows in all)")
    labels = table.get_column(label_column).cast(pl.String)
    if labels.is_null().any():
        row = int(labels.is_null().arg_true()[0])
        raise InputError(f"{path}: row {row + 1}: missing label in column {label_column!r}")
    return pl.DataFrame({
        "example_id": pl.Series(range(table.height), dtype=pl.Int64),
        "text": table.get_column(text_column).cast(pl.String),
        "label": labels.str.strip_chars(),
    })


def label_set(train: pl.DataFrame, configured: list[str] | None) -> list[str]:
    """The ordered label names: the configured list, or the sorted labels of the train split."""
    if configured:
        return [str(v) for v in configured]
    return sorted(train.get_column("label").unique().to_list())


def encode_labels(table: pl.DataFrame, labels: list[str], path: str) -> pl.DataFrame:
    """Replace label names by their index in `labels`; unknown names are an error naming the row."""
    index = {name: i for i, name in enumerate(labels)}
    known = table.get_column("label").is_in(labels)
    if not known.all():
        row = int((~known).arg_true()[0])
        raise InputError(f"{path}: row {row + 1}: label {table['label'][row]!r} is not in the "
                         f"label set {labels}")
    return table.with_columns(pl.col("label").replace_strict(index, return_dtype=pl.Int32))
