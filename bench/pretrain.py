"""Stage 5 throughput: one TaskPT optimizer step, the library default against the trainer's.

    python bench/pretrain.py --shape base --steps 60       # GPU machine
    python bench/pretrain.py --shape minilm --steps 4      # 2-core CPU

Both train on the same batches: the demo's dialog turns packed into instances of up to 254
wordpieces (`trainer.data.pack_documents`, as `taskpt pretrain` packs them) with 15% stored
mask positions, collated by the loop's own `ObjectiveCollate`, stepped by the loop's own
`train_step` (bf16 autocast on a GPU, fused AdamW, gradient clipping at 1.0):
- library default: `BertForMaskedLM(..., labels=...)`, logits at every position (B, T, V);
- trainer: `MaskedLM.build_model`, the prediction head only at the masked positions (N, V),
  and the last encoder layer's queries, attention output and feed-forward there too.
Tokens/s counts real (unpadded) tokens; TFLOP/s counts the useful work of both (3x the
forward FLOPs of the encoder on real tokens and of the head at masked positions), the same
count for both: the trainer's last layer does less than it counts.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import torch

from trainer.objectives.masked_lm import MaskedLM

import harness


def masked_instances(data: str, tokenizer_dir: str, count: int, max_seq: int, seed: int) -> dict[str, np.ndarray]:
    """Packed instances with stored masks (15% of each sentence's wordpieces, at random)."""
    from trainer.data import pack_documents

    # ~40 dialog turns fill one instance
    rows = harness.masked_dialog_sentences(data, tokenizer_dir, turns=count * 40, turns_per_document=200,
                                           max_tokens=max_seq - 2, seed=seed)
    packed = pack_documents(rows, "doc_id", max_seq - 2, 40, 0.1, seed, drop_unmasked=True).slice(0, count)
    # As Ray hands them to a collate function: an object array of int32 arrays per column.
    return {k: packed.column(k).to_numpy() for k in packed.column_names}


class LibraryDefault(MaskedLM):
    """The same masked positions, through BertForMaskedLM's own labels path."""

    def build_model(self, model_path):
        from transformers import BertForMaskedLM

        return BertForMaskedLM.from_pretrained(model_path, use_safetensors=True)

    def hf_model(self, module):
        return module

    def collate(self, batch, train=True, rng=None):
        out = super().collate(batch, train, rng)
        labels = torch.full_like(out["input_ids"], -100)
        labels[out["rows"], out["cols"]] = out["targets"]
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"], "labels": labels}

    def loss(self, model, batch):
        return model(**batch).loss


def run(objective, model_dir: str, chunks: list[dict], steps: int, warmup: int, seed: int) -> dict:
    from trainer.loop import ObjectiveCollate, autocast_for, linear_schedule, make_optimizer, train_step
    from trainer.params import TrainParams

    dev = harness.device()
    torch.manual_seed(seed)
    model = objective.build_model(model_dir).to(dev).train()
    params = TrainParams(lr=4e-5, adam_beta2=0.98, adam_eps=1e-6)
    optimizer = make_optimizer(model, params, dev)
    schedule = linear_schedule(optimizer, warmup, steps + warmup)
    collate = ObjectiveCollate(objective, train=True, batch_size=params.batch_size, seed=seed)
    batches = [b for chunk in chunks for b in collate(chunk)][: steps + warmup]
    batches = [{k: v.to(dev) for k, v in b.items()} for b in batches]
    autocast = autocast_for(dev)

    def steps_over(items):
        return [train_step(model, objective, b, optimizer, schedule, autocast, params.grad_clip) for b in items]

    steps_over(batches[:warmup])
    harness.reset_peak_memory()
    losses, seconds = harness.timed(steps_over, batches[warmup:])
    timed_batches = batches[warmup:]
    tokens = sum(int(b["attention_mask"].sum()) for b in timed_batches)
    lengths = np.concatenate([b["attention_mask"].sum(1).cpu().numpy() for b in timed_batches])
    masked = sum(int((b["labels"] != -100).sum()) if "labels" in b else len(b["targets"]) for b in timed_batches)
    config = objective.hf_model(model).config
    head = 2 * config.hidden_size * config.hidden_size + 2 * config.hidden_size * config.vocab_size
    flops = 3 * (harness.encoder_flops(config, lengths) + head * masked)
    return {"steps": len(timed_batches), "seconds": seconds, "tokens_per_s": tokens / seconds,
            "predictions_per_s": masked / seconds, "tflops": flops / seconds / 1e12,
            "peak_gib": harness.peak_memory_gib(), "mean_loss": float(torch.stack(losses).float().mean())}


def main(argv=None) -> int:
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--max-seq", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with harness.scratch(args.work, "pretrain") as work:
        return measure(args, work)


def measure(args, work: str) -> int:
    from engine.text import load_tokenizer

    model_dir = harness.build_model(args.shape, "BertForMaskedLM", harness.tokenizer_dir(args.tokenizer),
                                    os.path.join(work, "mlm"))
    tok = load_tokenizer(model_dir)
    kwargs = dict(masking="stored", vocab_size=len(tok), mask_id=tok.mask_token_id, special_ids=tok.all_special_ids,
                  max_predictions=40, seed=args.seed, max_seq=args.max_seq, cls_id=tok.cls_token_id,
                  sep_id=tok.sep_token_id, pad_id=tok.pad_token_id)
    needed = (args.steps + args.warmup) * 32
    instances = masked_instances(args.data, model_dir, needed, args.max_seq, args.seed)
    chunks = [{k: v[i:i + 512] for k, v in instances.items()} for i in range(0, needed, 512)]
    baseline = run(LibraryDefault(**kwargs), model_dir, chunks, args.steps, args.warmup, args.seed)
    ours = run(MaskedLM(**kwargs), model_dir, chunks, args.steps, args.warmup, args.seed)
    table = [
        {"run": "BertForMaskedLM, logits at every position", "tokens/s": baseline["tokens_per_s"], "x baseline": 1.0,
         "predictions/s": baseline["predictions_per_s"], "real TFLOP/s": baseline["tflops"],
         "peak GiB": baseline["peak_gib"], "mean loss": baseline["mean_loss"]},
        {"run": "trainer: head and last layer at masked positions", "tokens/s": ours["tokens_per_s"],
         "x baseline": ours["tokens_per_s"] / baseline["tokens_per_s"], "predictions/s": ours["predictions_per_s"],
         "real TFLOP/s": ours["tflops"], "peak GiB": ours["peak_gib"], "mean loss": ours["mean_loss"]},
    ]
    mean_tokens = np.mean([len(x) for x in instances["input_ids"]]) + 2
    harness.print_table(f"TaskPT step, {args.shape} shape, batch 32, packed instances (mean {mean_tokens:.0f} "
                        f"tokens), {args.steps} timed steps, {harness.card()}", table)
    harness.write_json(args.out, f"pretrain-{args.shape}", {"shape": args.shape, "steps": args.steps, "baseline": baseline,
                                              "trainer": ours, "speedup": table[1]["x baseline"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
