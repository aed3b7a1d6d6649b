"""What a forward pass costs the host: Hugging Face's BERT against the engine's (engine/bert.py).

    python bench/host_cost.py                     # 12 layers of width 64: the host's cost alone
    python bench/host_cost.py --shape base        # on the GPU machine: BERT-base, a small pass

On a GPU many scoring passes are small (pass i of the rule holds a few tokens per sentence), and
each costs the host its Python and kernel launches whatever its size: at ~6 ms a pass the GPU
waited for the host (docs/performance.md). In the "deep" shape (the default here: 12 layers of
width 64) a pass's arithmetic is negligible on CPU too, so its time is the host's. Each model runs the same rows,
padded (B, T) with an additive mask, and the engine's also packed (one (T,) pass, engine.packed).
Reported: aten operations per pass (counted by a dispatch mode: what a GPU launches, about;
on CPU packed attention runs padded, engine.packed._padded_attention, with more operations
than a GPU's one variable-length kernel), and passes/s over --passes passes queued back to back
(on a GPU: the device drained once, at the end, so the figure is the host's rate where the
device keeps up), the median of --rounds rounds taking turns. Logits are compared.
"""
from __future__ import annotations

import collections
import os
import sys

import numpy as np

import harness


def count_ops(fn) -> int:
    """aten operations `fn()` dispatches."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = collections.Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops[func] += 1
            return func(*args, **(kwargs or {}))

    with Count() as counted:
        fn()
    return sum(counted.ops.values())


def main(argv=None) -> int:
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=16, help="sentences per pass")
    parser.add_argument("--tokens", type=int, default=12, help="tokens per sentence")
    parser.add_argument("--passes", type=int, default=300, help="passes timed per model and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds the models take turns in (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    parser.set_defaults(shape="deep")
    args = parser.parse_args(argv)
    with harness.scratch(args.work, "host-cost") as work:
        return measure(args, work)


def measure(args, work: str) -> int:
    import torch
    import transformers

    from engine.bert import load_bert
    from engine.models import additive_mask
    from engine.packed import Packing

    shape = args.shape
    path = harness.build_model(shape, "BertForSequenceClassification", harness.tokenizer_dir(args.tokenizer),
                               os.path.join(work, "model"))
    dev = harness.device()
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    theirs = transformers.BertForSequenceClassification.from_pretrained(path, dtype=dtype).to(dev).eval()
    ours = load_bert(path, "BertForSequenceClassification", dtype, dev)
    rng = np.random.default_rng(0)
    ids = torch.from_numpy(rng.integers(1000, 2000, (args.rows, args.tokens))).to(dev)
    mask = additive_mask(torch.ones_like(ids, dtype=torch.bool), dtype)
    cu = torch.arange(0, args.rows * args.tokens + 1, args.tokens, dtype=torch.int32, device=dev)
    positions = torch.arange(args.tokens, device=dev).repeat(args.rows)
    runs = {
        "Hugging Face BertForSequenceClassification, padded": lambda: theirs(input_ids=ids, attention_mask=mask).logits,
        "engine.bert, padded": lambda: ours(ids, mask),
        "engine.bert, packed": lambda: ours.packed(ids.flatten(), positions, Packing(cu, args.tokens)),
    }
    if dev.type == "cpu":
        torch.set_num_threads(args.threads)  # this script's process: fewer threads, less noise
    table, logits, times = [], {}, {how: [] for how in runs}
    with torch.inference_mode():
        for how, forward in runs.items():
            for _ in range(10):  # warm-up
                logits[how] = forward().float().cpu()
        for _ in range(args.rounds):  # the models take turns: the machine's drift hits each alike
            for how, forward in runs.items():
                times[how].append(harness.timed(lambda: [forward() for _ in range(args.passes)])[1])
        for how, forward in runs.items():
            seconds = float(np.median(times[how]))
            table.append({"run": how, "aten ops per pass": count_ops(forward), "passes/s": args.passes / seconds,
                          "ms per pass": 1000 * seconds / args.passes})
    reference = logits[next(iter(runs))]
    largest = max(float((x - reference).abs().max()) for x in logits.values())
    for row in table:
        row["x Hugging Face"] = row["passes/s"] / table[0]["passes/s"]
    harness.print_table(f"host cost of a forward pass, {shape} shape, {args.rows} x {args.tokens} tokens, "
                        f"{harness.card()}", table)
    print(f"largest logit difference from Hugging Face's: {largest:.3g}")
    harness.write_json(args.out, f"host-cost-{shape}", {"shape": shape, "rows": args.rows, "tokens": args.tokens,
                                                        "passes": args.passes, "largest_logit_difference": largest,
                                                        "runs": table})
    return 0 if largest < (1e-4 if dtype == torch.float32 else 5e-2) else 1


if __name__ == "__main__":
    sys.exit(main())
