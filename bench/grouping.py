"""How a tagging actor cuts a corpus into forward passes, by shard size: passes, padding and
distinct batch shapes, with no model run and no device needed.

    python bench/grouping.py --source reviews --sentences 200000     # what a GPU's passes look like

A shard's sentences are grouped on their own (one shard per actor call), so the shard size
decides how full and how varied the passes are. The groups are `MaskTagger.groups` itself
(a tiny tagger whose forward never runs), padded as the engine pads them, with widths rounded
up to `--pad-multiple` (8: what a model actor does on a GPU; 1 on CPU), and packed end to end as
`compute.pack_sequences` packs them (no padding; a pass's shape is its token count). Shards
are `--shard-documents` consecutive documents, as `bench/tag.py`'s shard-by-shard timing cuts
them; the last size in the table is the whole corpus at once (the grouping of `bench/tag.py`'s
ceiling).
"""
from __future__ import annotations

import os
import sys

import numpy as np

import harness
import tag


def grouping(tagger, rows, shard_documents: int) -> dict:
    """Passes of `tagger.groups` over `rows` cut into shards of `shard_documents` documents."""
    pieces = tag.shard_pieces(rows, shard_documents)
    shapes = [tuple(inputs["input_ids"].shape) for piece in pieces
              for _, inputs, *_ in tagger.groups(piece.column("input_ids").combine_chunks())]
    real = int(np.diff(rows.column("input_ids").combine_chunks().offsets.to_numpy()).sum()) + 2 * rows.num_rows
    tokens = sum(int(np.prod(shape)) for shape in shapes)  # (rows, width) padded, (tokens,) packed
    return {"shard_documents": shard_documents, "shards": len(pieces), "passes": len(shapes),
            "padding": 1 - real / tokens, "tokens_per_pass": tokens / len(shapes),
            "shapes": sorted(set(shapes))}


def main(argv=None) -> int:
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=("reviews", "dialog"), default="reviews")
    parser.add_argument("--sentences", type=int, default=20_000)
    parser.add_argument("--max-seq", type=int, default=256)
    parser.add_argument("--max-batch-tokens", type=int, default=65536, help="tokens per pass (a GPU actor's default)")
    parser.add_argument("--pad-multiple", type=int, default=8, help="8 as on a GPU, 1 as on CPU")
    parser.add_argument("--shard-documents", type=int, nargs="+", default=[5000, 10000, 20000, 50000])
    args = parser.parse_args(argv)
    with harness.scratch(args.work, "grouping") as work:
        return measure(args, work)


def measure(args, work: str) -> int:
    from engine.tagger import MaskTagger
    from engine.text import SentenceTokenizer

    tagger_dir = harness.build_model(args.shape, "BertForTokenClassification", harness.tokenizer_dir(args.tokenizer),
                                     os.path.join(work, "tagger"))
    docs = tag.synthetic_documents(harness.demo_texts(args.data, args.source), args.sentences)
    rows = SentenceTokenizer.for_model(tagger_dir, args.max_seq - 2)({"doc_id": np.arange(len(docs)),
                                                                      "text": np.array(docs, dtype=object)})
    result = {"source": args.source, "documents": len(docs), "sentences": rows.num_rows,
              "max_batch_tokens": args.max_batch_tokens, "pad_multiple": args.pad_multiple, "runs": {}}
    table = []
    for pack in (False, True):
        tagger = MaskTagger(tagger_dir, max_batch_tokens=args.max_batch_tokens, pack=pack)
        tagger.pad_multiple = args.pad_multiple  # the device's rounding, whatever device this is
        how = "packed" if pack else "padded"
        result["runs"][how] = [grouping(tagger, rows, n) for n in [*args.shard_documents, len(docs)]]
        for run in result["runs"][how]:
            table.append({"grouping": how, "documents per shard": run["shard_documents"], "shards": run["shards"],
                          "sentences per shard": rows.num_rows / run["shards"], "forward passes": run["passes"],
                          "padding": run["padding"], "tokens per pass": run["tokens_per_pass"],
                          "distinct shapes": len(run["shapes"])})
    harness.print_table(f"forward passes of {rows.num_rows:,} {args.source} sentences ({len(docs):,} documents), "
                        f"{args.max_batch_tokens:,} tokens a pass, rounded up to {args.pad_multiple}", table)
    harness.write_json(args.out, f"grouping-{args.source}", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
