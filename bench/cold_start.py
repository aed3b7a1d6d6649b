"""Where a tagging model actor's start goes, in a fresh process: imports, the device, the model,
then its first calls.

    python bench/cold_start.py                       # 2-core CPU
    python bench/cold_start.py --shape base          # on the GPU machine

In `taskpt tag` the model actor is the last to be ready: on an H200 (2026-11-27, run 4) its
`__init__` ran from 2.5 to 5.0 s into the job and the first shard was written at 7.3 s, against
~0.08 s a shard later on. A child process does what that actor does, one step at a time, and
reports each step's seconds: `import torch`, `import engine.tagger`, the device's first use
(CUDA's context; nothing on CPU), `MaskTagger(...)` (tokenizer, weights, onto the device), then
--calls calls on shards of --shard-sentences review sentences each (the first meets every kernel,
allocation and batch shape for the first time). Ray's share (a new worker process, its imports)
is not in it: bench/tag.py's start breakdown has that.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import harness


def child(model_dir: str, shards_path: str, out_path: str, calls: int) -> None:
    """The actor's steps, timed; writes {step: seconds} to out_path."""
    steps, mark = {}, time.perf_counter()

    def step(name):
        nonlocal mark
        now = time.perf_counter()
        steps[name], mark = now - mark, now

    import torch
    step("import torch")
    import pyarrow.parquet as pq

    from engine.tagger import MaskTagger
    step("import engine.tagger")
    if torch.cuda.is_available():
        torch.empty(1, device="cuda")
        torch.cuda.synchronize()
    step("device's first use")
    tagger = MaskTagger(model_dir)
    harness.synchronize()
    step("MaskTagger(...): tokenizer, weights onto the device")
    shards = pq.read_table(shards_path)
    step("(reading the bench's shards)")
    per_call = shards.num_rows // calls
    for i in range(calls):
        tagger(shards.slice(i * per_call, per_call))
        harness.synchronize()
        step(f"call {i + 1}")
    with open(out_path, "w") as f:
        json.dump({"steps": steps, "device": str(tagger.device), "sentences_per_call": per_call}, f)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[1], argv[2], argv[3], int(argv[4]))
        return 0
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--shard-sentences", type=int, default=5770,
                        help="sentences a call (5,000 review documents: 5,770 sentences)")
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args(argv)
    with harness.scratch(args.work, "cold-start") as work:
        return measure(args, work)


def measure(args, work: str) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from score import review_sentences

    model_dir = harness.build_model(args.shape, "BertForTokenClassification", harness.tokenizer_dir(args.tokenizer),
                                    os.path.join(work, "tagger"))
    n = args.shard_sentences * args.calls
    rows = review_sentences(args.data, model_dir, n)
    shards_path, out_path = os.path.join(work, "shards.parquet"), os.path.join(work, "steps.json")
    pq.write_table(pa.table({"doc_id": np.arange(n), "sentence_index": np.zeros(n, np.int32),
                             "input_ids": pa.array(rows, pa.list_(pa.int32()))}), shards_path)
    here = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(here), here, os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    subprocess.run([sys.executable, os.path.abspath(__file__), "--child", model_dir, shards_path, out_path,
                    str(args.calls)], env=env, check=True)
    whole = time.perf_counter() - started
    with open(out_path) as f:
        result = json.load(f)
    steps = result["steps"]
    steps["(the interpreter's start and exit)"] = whole - sum(steps.values())
    table = [{"step": name, "seconds": seconds} for name, seconds in steps.items()]
    harness.print_table(f"a tagging model actor's start, {args.shape} shape, {result['sentences_per_call']} sentences a "
                        f"call, {harness.card()}", table)
    harness.write_json(args.out, f"cold-start-{args.shape}", {"shape": args.shape, "whole_s": whole, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
