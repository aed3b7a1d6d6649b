"""How tagging cost grows with the corpus: the `taskpt tag` path at several corpus sizes.

    python bench/scaling.py --shape base --sizes 10000 100000 1000000 --tokenizer-actors 12   # GPU machine
    python bench/scaling.py --shape tiny --sizes 10000 100000 1000000                         # 2-core CPU

Each size is a fresh corpus synthesised from the demo's dialog turns (bench/tag.py) and a fresh
store; the run is timed from `tag_corpus` to its manifest, with the peak memory (PSS) of the
whole process tree (driver and every Ray worker) sampled meanwhile. Time should grow linearly
(seconds per sentence flat) and memory should not grow with the corpus: shards stream through.
"""
from __future__ import annotations

import os
import shutil
import sys

import numpy as np

import harness
import tag


def main(argv=None) -> int:
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--source", choices=("reviews", "dialog"), default="dialog")
    parser.add_argument("--tagger", default=None)
    parser.add_argument("--shard-documents", type=int, default=5000)
    parser.add_argument("--docs-per-file", type=int, default=100_000)
    parser.add_argument("--max-batch-tokens", type=int, default=None)
    parser.add_argument("--tokenizer-actors", type=int, default=1)
    parser.add_argument("--cpu-threads", type=int, default=None, help="compute.cpu_threads (default: the engine's)")
    args = parser.parse_args(argv)
    with harness.scratch(args.work, "scaling") as work:
        return measure(args, work)


def measure(args, work: str) -> int:
    tagger_dir = args.tagger or harness.build_model(args.shape, "BertForTokenClassification",
                                                    harness.tokenizer_dir(args.tokenizer), os.path.join(work, "tagger"))
    texts = harness.demo_texts(args.data, args.source)
    runs = []
    for size in args.sizes:
        run_dir = os.path.join(work, f"n{size}")
        files, documents = tag.synthesise_corpus(texts, size, os.path.join(run_dir, "corpus"), args.docs_per_file)
        result, _ = tag.engine_path(tagger_dir, files, run_dir, args.shard_documents, 256, args.max_batch_tokens,
                                    args.tokenizer_actors, args.cpu_threads)
        runs.append({"sentences": result["sentences"], "documents": documents, "files": len(files),
                     "shards": result["shards"], "seconds": result["seconds"],
                     "sentences/s": result["sentences_per_s"],
                     "us per sentence": 1e6 * result["seconds"] / result["sentences"],
                     "peak PSS GiB": result["peak_pss_gib"], "at_peak_gib": result["at_peak_gib"]})
        print(f"{size}: {result['seconds']:.1f} s, peak {result['peak_pss_gib']:.2f} GiB "
              f"(by process at the peak: {result['at_peak_gib']})", flush=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    # Linear fit seconds = a + b * sentences: b is the marginal cost, a the fixed start-up.
    n = np.array([r["sentences"] for r in runs], float)
    t = np.array([r["seconds"] for r in runs])
    slope, intercept = np.polyfit(n, t, 1) if len(runs) > 1 else (t[0] / n[0], 0.0)
    model = f"trained tagger {args.tagger}" if args.tagger else f"{args.shape} shape"
    harness.print_table(f"tagging cost by corpus size ({args.source}), {model}, {harness.card()}",
                        [{k: v for k, v in r.items() if k != "at_peak_gib"} for r in runs])
    print(f"fit: seconds = {intercept:.1f} + {slope * 1e6:.1f} us x sentences; "
          f"peak memory {min(r['peak PSS GiB'] for r in runs):.2f}-{max(r['peak PSS GiB'] for r in runs):.2f} GiB")
    harness.write_json(args.out, f"scaling-{args.shape}", {"shape": args.shape, "source": args.source, "runs": runs,
                                             "fixed_seconds": float(intercept), "seconds_per_sentence": float(slope)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
