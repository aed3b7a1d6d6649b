"""`taskpt inspect ID`: what the tagger thinks is task-important. Prints sentences of a
`premasked` dataset with their masked tokens highlighted, the share of masks per word
class, and the most-masked words.

    taskpt inspect ID (CONFIG.yaml | --store PATH) [--sentences 20] [--rows 5000]
"""
from __future__ import annotations

import argparse
import sys

import polars as pl
import pyarrow as pa

from engine.contract import PREMASKED, read_manifest, read_rows
from engine.contract.manifest import ManifestError
from engine.contract.verify import find_dataset
from engine.mask_report import class_shares, most_masked, render, token_table
from engine.token_forms import TokenForms
from jobs.config import ConfigError
from jobs.store import resolve_store, store_argument


def first_rows(directory: str, limit: int) -> pa.Table:
    """The first `limit` rows in shard order (no Ray: this is a quick look)."""
    return read_rows(directory, PREMASKED, ["input_ids", "mask_positions"], limit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="taskpt inspect", description=__doc__.split("\n\n")[0])
    parser.add_argument("id", help="dataset id (fingerprint, or a unique prefix of it)")
    store_argument(parser)
    parser.add_argument("--sentences", type=int, default=20, help="sentences to show")
    parser.add_argument("--rows", type=int, default=5000, help="rows the statistics are computed on")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    args = parser.parse_args(argv)
    try:
        directory = find_dataset(resolve_store(args), args.id)
        manifest = read_manifest(directory)
        rows = first_rows(directory, max(args.rows, args.sentences))
    except (ConfigError, ManifestError) as e:
        print(f"taskpt inspect: error: {e}", file=sys.stderr)
        return 2
    forms = TokenForms.for_model(manifest.model)  # the tagger's directory carries the tokenizer
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    print(f"{directory}\n{manifest.rows} sentences, {manifest.tokens} tokens; masks: {manifest.params}\n")
    for ids, positions in zip(rows.column("input_ids").to_pylist()[: args.sentences],
                              rows.column("mask_positions").to_pylist()):
        print("  " + render(ids, positions, forms, color))
    tokens = token_table(rows, forms)
    with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True, float_precision=3):
        print(f"\nmasks per word class (first {rows.num_rows} sentences):")
        print(class_shares(tokens))
        print("\nmost-masked words:")
        print(most_masked(tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main())
