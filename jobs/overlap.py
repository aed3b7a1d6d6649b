"""`taskpt overlap A B ...`: how alike corpora are, as in DAPT (Gururangan et al. 2020): the
top-K most frequent non-stop words of each corpus, and the percent of them each pair shares,
drawn as a heatmap. No Ray: one process, counting with polars.

    taskpt overlap A B ... [--names a,b,...] [--text-column COLS ...] [--format auto] [--top 10000] [--out DIR]

A corpus is a file, a directory or a glob. `--text-column` given once applies to every corpus,
given once per corpus applies in order; each is a comma list (statement,reply: each cell a document).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys

import numpy as np
import polars as pl

from engine.contract import fs
from engine.corpus import check_corpus, corpus_files, file_documents
from engine.errors import InputError
from engine.readers import FORMATS
from engine.vocabulary import add_counts, overlap_matrix, top_words, unigram_counts
from jobs.common import say
from jobs.figures import heatmap_png

PNG_NAME, JSON_NAME = "overlap.png", "overlap.json"


@dataclasses.dataclass(frozen=True)
class Corpus:
    """One corpus as named on the command line, with its files and text columns resolved."""

    name: str
    files: list[str]
    columns: list[str]
    documents: int


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="taskpt overlap", description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", nargs="+", help="two or more corpora: a file, a directory or a glob each")
    parser.add_argument("--names", help="comma list, one name per corpus (default: each file's stem)")
    parser.add_argument("--text-column", action="append", metavar="COLS",
                        help="text column(s), a comma list; once for all corpora or once per corpus (default: text)")
    parser.add_argument("--format", default="auto", choices=("auto", *FORMATS))
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--top", type=int, default=10000, help="the K most frequent words compared (default 10000)")
    parser.add_argument("--out", default="overlap", help="directory (or URI) for overlap.png and overlap.json")
    args = parser.parse_args(argv)
    if len(args.corpora) < 2:
        parser.error("give at least two corpora to compare")
    if args.top < 1:
        parser.error("--top must be at least 1")
    return args


def comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def default_name(pattern: str) -> str:
    """The file stem of a path ("data/reviews.tsv" -> "reviews"); a glob keeps its wildcards."""
    base = fs.basename(pattern)
    return base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base


def corpus_names(patterns: list[str], names: str | None) -> list[str]:
    chosen = comma_list(names) if names is not None else [default_name(p) for p in patterns]
    if len(chosen) != len(patterns):
        raise InputError(f"--names: {len(chosen)} name(s) for {len(patterns)} corpora")
    twice = sorted({n for n in chosen if chosen.count(n) > 1})
    if twice:
        raise InputError(f"--names: two corpora are named {twice[0]!r}; give distinct names with --names")
    return chosen


def columns_per_corpus(values: list[str] | None, count: int) -> list[list[str]]:
    columns = [comma_list(v) for v in values or ["text"]]
    if any(not c for c in columns):
        raise InputError("--text-column: an empty column list")
    if len(columns) == 1:
        return columns * count
    if len(columns) != count:
        raise InputError(f"--text-column: given {len(columns)} times for {count} corpora (give it once, or once per corpus)")
    return columns


def resolve_corpora(args: argparse.Namespace) -> list[Corpus]:
    """Every corpus's files read and checked (they exist, parse, have the columns and some text)
    before anything is counted, so a bad last corpus fails in seconds, not after the first ones."""
    names = corpus_names(args.corpora, args.names)
    columns = columns_per_corpus(args.text_column, len(args.corpora))
    corpora = []
    for name, pattern, cols in zip(names, args.corpora, columns):
        files = corpus_files(pattern, key=f"corpus {name}")
        documents = check_corpus(files, cols, args.format, args.encoding)
        corpora.append(Corpus(name, files, cols, sum(documents)))
    return corpora


def count_corpus(corpus: Corpus, fmt: str, encoding: str) -> pl.DataFrame:
    """(word, count) of one corpus, counted file by file so only one file is in memory."""
    return add_counts([unigram_counts(file_documents(path, corpus.columns, fmt, encoding)) for path in corpus.files])


def matrix_table(names: list[str], matrix: np.ndarray) -> pl.DataFrame:
    """The matrix with row names, percentages to one decimal: for printing."""
    columns = {"": names} | {name: np.round(matrix[:, j], 1) for j, name in enumerate(names)}
    return pl.DataFrame(columns)


def absolute(path: str) -> str:
    """A local path made absolute, so the record still says which file from another directory."""
    return path if "://" in path else os.path.abspath(path)


def report(corpora: list[Corpus], counts: list[pl.DataFrame], top: int, matrix: np.ndarray) -> dict:
    return {
        "names": [c.name for c in corpora],
        "paths": [[absolute(f) for f in c.files] for c in corpora],
        "text_columns": [c.columns for c in corpora],
        "documents": [c.documents for c in corpora],
        "words": [int(t.get_column("count").sum()) for t in counts],  # non-stop words counted
        "vocabulary_sizes": [t.height for t in counts],  # distinct non-stop words
        "top": top,
        "matrix": matrix.tolist(),  # percent of top words shared; row i, column j
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def write_outputs(out: str, png: bytes, summary: dict) -> tuple[str, str]:
    """The PNG first, the JSON last (each through a temporary name): a run killed in between
    leaves no JSON, so it never looks complete, not even with an earlier run's JSON."""
    png_path, json_path = fs.join(out, PNG_NAME), fs.join(out, JSON_NAME)
    fs.delete(json_path)
    fs.write_bytes(png_path, png)
    fs.write_bytes(json_path, (json.dumps(summary, indent=2) + "\n").encode())
    return png_path, json_path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        corpora = resolve_corpora(args)
    except InputError as e:
        print(f"taskpt overlap: error: {e}", file=sys.stderr)
        return 2
    counts = []
    for corpus in corpora:
        counts.append(count_corpus(corpus, args.format, args.encoding))
        say("overlap", f"counted {int(counts[-1].get_column('count').sum())} words in {corpus.documents} "
                       f"documents of {corpus.name} ({counts[-1].height} distinct)")
    names = [c.name for c in corpora]
    matrix = overlap_matrix([top_words(c, args.top) for c in counts])
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                   float_precision=1, tbl_width_chars=200):
        print(f"\npercent of top-{args.top} words shared:")
        print(matrix_table(names, matrix))
    png = heatmap_png(matrix, names, f"Vocabulary overlap (%), top {args.top} words")
    png_path, json_path = write_outputs(args.out, png, report(corpora, counts, args.top, matrix))
    say("overlap", f"wrote {png_path} (heatmap) and {json_path} (matrix, paths, vocabulary sizes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
