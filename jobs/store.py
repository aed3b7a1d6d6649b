"""`taskpt store ls|verify`: what the store holds, and whether it is intact.

    taskpt store ls (CONFIG.yaml | --store PATH)
    taskpt store verify ID (CONFIG.yaml | --store PATH)     exit 1 when a shard is missing or corrupt
    taskpt store gc (CONFIG.yaml | --store PATH) [--older-than HOURS] [--dry-run]
"""
from __future__ import annotations

import argparse
import sys
import time

import polars as pl

from engine.contract import fs
from engine.contract.manifest import ManifestError
from engine.contract.verify import find_dataset, incomplete_outputs, list_datasets, verify_dataset
from jobs.config import ConfigError, load_config


def store_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="a pipeline config (its `store` is used)")
    parser.add_argument("--store", help="the store path or URI (instead of a config)")


def resolve_store(args) -> str:
    if args.store:
        return args.store
    if not args.config:
        raise ConfigError("give a pipeline config or --store PATH")
    return load_config(args.config).store


def ls(store: str) -> pl.DataFrame:
    rows = [{"id": m.fingerprint, "kind": m.kind, "masks": m.params.get("masks", ""), "rows": m.rows,
             "tokens": m.tokens, "size_mb": round(fs.dir_size(d) / 2**20, 2), "created": m.created,
             "config": fs.join(d, "config.yaml")} for d, m in list_datasets(store)]
    return pl.DataFrame(rows, schema=["id", "kind", "masks", "rows", "tokens", "size_mb", "created", "config"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="taskpt store", description="list and verify the datasets in a store")
    commands = parser.add_subparsers(dest="command", required=True)
    store_argument(commands.add_parser("ls", help="complete datasets: kind, rows, tokens, size, created, config"))
    verify = commands.add_parser("verify", help="re-hash a dataset's shards against its manifest")
    verify.add_argument("id", help="dataset id (fingerprint, or a unique prefix of it)")
    store_argument(verify)
    gc = commands.add_parser("gc", help="remove what interrupted runs left: incomplete datasets and models, *.tmp")
    gc.add_argument("--older-than", type=float, default=24.0, metavar="HOURS",
                    help="only what has not changed for this long (default 24), so running jobs keep theirs")
    gc.add_argument("--dry-run", action="store_true", help="list, do not remove")
    store_argument(gc)
    args = parser.parse_args(argv)
    try:
        store = resolve_store(args)
        if args.command == "gc":
            stale = incomplete_outputs(store, args.older_than * 3600, time.time())
            for path in stale:
                print(f"{'would remove' if args.dry_run else 'removing'} {path}")
                if not args.dry_run:
                    fs.delete(path)
            print(f"{len(stale)} incomplete output(s) {'found' if args.dry_run else 'removed'}; complete ones are never touched")
            return 0
        if args.command == "ls":
            table = ls(store)
            with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                           fmt_str_lengths=40, tbl_width_chars=200):
                print(table.drop("config"))
            for dataset_id, config in zip(table["id"], table["config"]):
                print(f"{dataset_id}  made by {config}")
            return 0
        directory = find_dataset(store, args.id)
        problems = verify_dataset(directory)
    except (ConfigError, ManifestError) as e:
        print(f"taskpt store: error: {e}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"{directory}: {problem}")
    print(f"{directory}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
