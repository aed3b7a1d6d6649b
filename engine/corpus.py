"""The domain corpus: files of documents, checked on the driver, then read by Ray Data one
file per task. `doc_id` = (file index << 40) + the document's index in its file, so ids are
stable whatever the parallelism."""
from __future__ import annotations

import numpy as np

from engine.contract import fs
from engine.readers import InputError, read_table, require_columns

FILE_SHIFT = 40


def corpus_files(pattern: str, key: str = "domain.corpus") -> list[str]:
    files = fs.expand(pattern)
    if not files:
        raise InputError(f"{key}: no file matches {pattern!r}")
    return files


def file_documents(path: str, columns: list[str], fmt: str, encoding: str) -> list[str]:
    """Every document of one file, in order: each non-blank cell of the text columns, row by row."""
    table = read_table(path, fmt, encoding, columns[0])
    require_columns(path, table, columns)
    cells = table.select(columns).rows()
    return [str(c).strip() for row in cells for c in row if c is not None and str(c).strip()]


def check_corpus(files: list[str], columns: list[str], fmt: str, encoding: str) -> int:
    """Read every file once before any model is loaded; returns the number of documents."""
    total = 0
    for path in files:
        total += len(file_documents(path, columns, fmt, encoding))
    if total == 0:
        raise InputError(f"{files[0] if len(files) == 1 else files}: the corpus has no non-blank "
                         f"text in column(s) {columns}")
    return total


def read_documents(batch: dict[str, np.ndarray], columns: list[str], fmt: str, encoding: str,
                   block_documents: int = 2048):
    """Ray Data step over rows of (file_index, path): yields the documents in blocks of
    `block_documents` rows, so the steps after it stream (and show progress) within a file."""
    for index, path in zip(batch["file_index"], batch["path"]):
        docs = file_documents(str(path), columns, fmt, encoding)
        for start in range(0, len(docs), block_documents):
            chunk = docs[start:start + block_documents]
            yield {"doc_id": (int(index) << FILE_SHIFT) + np.arange(start, start + len(chunk), dtype=np.int64),
                   "text": np.array(chunk, dtype=object)}
