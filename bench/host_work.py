"""What one shard costs a model actor's host outside its forward passes.

    python bench/host_work.py                        # 2-core CPU
    python bench/host_work.py --shape base           # on the GPU machine

On a GPU the host builds each pass, launches it and unpacks its results while the device runs
another; the device waits whenever that work takes longer than a pass. Here the actors
(`MaskTagger` over one tagging shard, `ImportanceScorer` over one scoring shard of review
sentences) run with their model replaced by a stand-in that returns logits of the right shape
from a cheap function of the tokens, so what is timed is everything but the encoder: grouping,
building and copying the inputs, the scoring rule's bookkeeping on the device, ranking and
unpacking. Packed and padded, the median of --rounds calls after one warm-up call.
"""
from __future__ import annotations

import os
import sys

import numpy as np

import harness


class StandInModel:
    """In place of an actor's `engine.bert.Bert`: logits (N, C) per sequence or (T, C) / (B, T, C)
    per token, from the tokens' ids (so a scorer's decisions are mixed), with no encoder."""

    def __init__(self, model):
        self.pooler, self.classifier, self.num_labels = model.pooler, model.classifier, model.num_labels
        self.passes = 0

    @staticmethod
    def _logits(ids):  # (...,) ids -> (..., C)
        import torch

        return torch.stack([ids % 13, ids % 11], -1).float() / 4

    def packed(self, input_ids, position_ids, packing):
        import torch

        self.passes += 1
        if self.pooler is None:
            return self._logits(input_ids)
        total = torch.nn.functional.pad(input_ids.cumsum(0), (1, 0))  # one sum per sequence
        cu = packing.cu_seqlens.long()
        return self._logits(total[cu[1:]] - total[cu[:-1]])

    def __call__(self, input_ids, attention_mask):
        self.passes += 1
        if self.pooler is None:
            return self._logits(input_ids)
        return self._logits((input_ids * (attention_mask[:, 0, 0] == 0)).sum(1))


def main(argv=None) -> int:
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--tag-sentences", type=int, default=5770,
                        help="sentences of the tagging shard (5,000 review documents: 5,770 sentences)")
    parser.add_argument("--score-sentences", type=int, default=8192, help="sentences of the scoring shard")
    parser.add_argument("--max-batch-tokens", type=int, default=None,
                        help="tokens per pass (default: the device's, as compute.max_batch_tokens null gives)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with harness.scratch(args.work, "host-work") as work:
        return measure(args, work)


def measure(args, work: str) -> int:
    import time

    import pyarrow as pa
    import pyarrow.compute  # noqa: F401 (pa.compute)

    from engine.scorer import ImportanceScorer
    from engine.shards import numpy_batch
    from engine.tagger import MaskTagger

    from score import review_sentences

    tokenizer = harness.tokenizer_dir(args.tokenizer)
    models = {cls: harness.build_model(args.shape, cls, tokenizer, os.path.join(work, cls))
              for cls in ("BertForTokenClassification", "BertForSequenceClassification")}
    rows = review_sentences(args.data, models["BertForTokenClassification"], max(args.tag_sentences, args.score_sentences))
    def masks_per_sentence(out):
        return pa.compute.mean(pa.compute.list_value_length(out.column("mask_positions"))).as_py()

    def important_fraction(out):
        return pa.compute.mean(out.column("important").combine_chunks().flatten()).as_py()

    results = []
    # Each actor with its shard and what its output says its own logic ran on the stand-in's logits.
    for actor_class, n, made in ((MaskTagger, args.tag_sentences, masks_per_sentence),
                                 (ImportanceScorer, args.score_sentences, important_fraction)):
        batch = pa.table({"doc_id": np.arange(n), "example_id": np.arange(n), "sentence_index": np.zeros(n, np.int32),
                          "label": np.arange(n) % 2, "input_ids": pa.array(rows[:n], pa.list_(pa.int32()))})
        if getattr(actor_class, "batch_format", "numpy") == "numpy":  # as engine.shards.PerShard hands it over
            batch = numpy_batch(batch)
        for pack in (True, False):
            actor = actor_class(models[actor_class.model_class], pack=pack, max_batch_tokens=args.max_batch_tokens)
            actor.model = model = StandInModel(actor.model)
            out = actor(batch)  # warm-up: the first call allocates what the others reuse
            seconds, passes = [], model.passes
            for _ in range(args.rounds):
                start = time.perf_counter()
                actor(batch)
                harness.synchronize()
                seconds.append(time.perf_counter() - start)
            results.append({"actor": actor_class.__name__, "packed": pack, "sentences": n,
                            "passes": (model.passes - passes) // args.rounds, "seconds": seconds,
                            "median_s": float(np.median(seconds)), made.__name__: made(out)})
    table = [{"run": f"{r['actor']}, {'packed' if r['packed'] else 'padded'}", "sentences": r["sentences"],
              "passes": r["passes"], "ms per call": r["median_s"] * 1e3,
              "us per sentence": r["median_s"] / r["sentences"] * 1e6, "ms per pass": r["median_s"] / r["passes"] * 1e3}
             for r in results]
    harness.print_table(f"host work per shard outside the forward passes, {actor.max_batch_tokens} tokens a pass, "
                        f"{harness.card()}", table)
    harness.write_json(args.out, f"host-work-{args.shape}", {"shape": args.shape, "max_batch_tokens": actor.max_batch_tokens,
                                                           "runs": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
