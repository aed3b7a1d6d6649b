"""Reading labeled sets and corpora: CSV, TSV, JSONL, Parquet, or plain text (one document per
line). Every check here runs before any model is loaded, and each error names the file and,
where there is one, the row."""
from __future__ import annotations

import codecs
import io

import polars as pl

from engine.contract import fs
from engine.errors import InputError

FORMATS = ("csv", "tsv", "jsonl", "parquet", "txt")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".txt": "txt", ".jsonl": "jsonl", ".json": "jsonl",
               ".parquet": "parquet", ".pq": "parquet"}


def detect_format(path: str, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    for ext, name in _EXTENSIONS.items():
        if path.lower().endswith(ext):
            return name
    raise InputError(f"{path}: cannot tell the format from the extension; set format to one of {FORMATS}")


def check_decodable(path: str, data: bytes, encoding: str) -> None:
    """Raise naming the line of the first byte sequence that `encoding` cannot decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    step = 1 << 20
    for start in range(0, len(data), step):
        chunk = data[start:start + step]
        try:
            decoder.decode(chunk, final=start + step >= len(data))
        except UnicodeDecodeError as e:
            bad = start + e.start
            line = data.count(b"\n", 0, bad) + 1
            raise InputError(
                f"{path}: line {line}: bytes {data[bad:bad + 4]!r} are not valid {encoding} "
                f"(set the encoding key, e.g. latin-1)"
            ) from None


def read_table(path: str, fmt: str = "auto", encoding: str = "utf-8", text_column: str = "text") -> pl.DataFrame:
    """The whole file as a table of string columns (Parquet keeps its own types)."""
    if not fs.is_file(path):
        raise InputError(f"{path}: file not found")
    fmt = detect_format(path, fmt)
    data = fs.read_bytes(path)
    if fmt == "parquet":
        return pl.read_parquet(io.BytesIO(data))
    check_decodable(path, data, encoding)
    try:
        if fmt == "txt":
            lines = data.decode(encoding).splitlines()
            return pl.DataFrame({text_column: lines}, schema={text_column: pl.String})
        # polars parses UTF-8 bytes; handed a str it encodes it again first (a corpus file of
        # 100,000 reviews: 0.072 s from a str, 0.020 s from its bytes).
        utf8 = data if codecs.lookup(encoding).name == "utf-8" else data.decode(encoding).encode("utf-8")
        if fmt == "jsonl":
            return pl.read_ndjson(io.BytesIO(utf8))
        return pl.read_csv(
            io.BytesIO(utf8), separator="\t" if fmt == "tsv" else ",",
            infer_schema=False, quote_char=None if fmt == "tsv" else '"',
        )
    except pl.exceptions.PolarsError as e:
        raise InputError(f"{path}: cannot parse as {fmt}: {e}") from None


def require_columns(path: str, table: pl.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{path}: no column {missing[0]!r} (columns: {table.columns})")


def blank_rows(table: pl.DataFrame, column: str) -> pl.Series:
    """0-based indexes of rows whose text is null or only whitespace."""
    text = table.get_column(column).cast(pl.String)
    blank = text.is_null() | (text.str.strip_chars().str.len_chars() == 0)
    return pl.Series(range(table.height)).filter(blank)
