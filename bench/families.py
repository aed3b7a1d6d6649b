"""Every encoder family on the same shapes and the same token rows: tagging sentences/s and a
masked-LM step's tokens/s, each against a baseline run in the same process.

    python bench/families.py --shape minilm --sentences 800 --rounds 2 --parts tagging       # 2-core CPU
    python bench/families.py --shape minilm --steps 2 --batch-size 4 --max-seq 128 --parts masked-lm
    python bench/families.py --shape base --sentences 100000 --steps 30 --batch-size 32     # GPU machine

- Tagging: the engine's tagging actor (`engine.tagger.MaskTagger`, called in this process on one
  batch, as Ray Data calls it) against a plain transformers loop over the same rows
  (`AutoModelForTokenClassification`, batches of 32 in input order padded to their longest,
  logits to the host): sentences/s, and each family's engine rate over BERT's.
- Masked-LM: one optimizer step of the trainer's objective (`MaskedLM.build_model`: the
  family's head at the masked positions) against the family's `AutoModelForMaskedLM` with
  `labels` (logits at every position), on the same collated batches: tokens/s.

Models have random weights of one shape and one vocabulary size; rows are random ids with
review-like lengths (mean ~21 tokens), the same for every family, so only the forward differs.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import torch

import harness

FAMILIES = ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "deberta-v2", "modernbert")
VOCAB = 30522
# Each family's tokenizer kind and special tokens' names (ids 0-4 in this order).
BERT_NAMES = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ROBERTA_NAMES = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
TOKENIZERS = {"bert": ("WordPiece", BERT_NAMES), "distilbert": ("WordPiece", BERT_NAMES),
              "electra": ("WordPiece", BERT_NAMES), "roberta": ("ByteLevel", ROBERTA_NAMES),
              "xlm-roberta": ("Unigram", ROBERTA_NAMES), "deberta-v2": ("Unigram", BERT_NAMES),
              "modernbert": ("ByteLevel", BERT_NAMES)}


def family_config(model_type: str, shape: str):
    """`model_type`'s config at `shape` (the same width, depth and heads for every family)."""
    import transformers

    s = harness.SHAPES[shape]
    common = dict(vocab_size=VOCAB, num_labels=2)
    if model_type == "distilbert":
        return transformers.DistilBertConfig(dim=s["hidden_size"], n_layers=s["num_hidden_layers"],
                                             n_heads=s["num_attention_heads"], hidden_dim=s["intermediate_size"],
                                             max_position_embeddings=512, pad_token_id=0, **common)
    extra = {"roberta": dict(pad_token_id=1, type_vocab_size=1, layer_norm_eps=1e-5, max_position_embeddings=514),
             "xlm-roberta": dict(pad_token_id=1, type_vocab_size=1, layer_norm_eps=1e-5, max_position_embeddings=514),
             "electra": dict(embedding_size=s["hidden_size"]),
             "deberta-v2": dict(relative_attention=True, position_biased_input=False, pos_att_type=["p2c", "c2p"],
                                max_relative_positions=-1, position_buckets=256, norm_rel_ebd="layer_norm",
                                share_att_key=True, type_vocab_size=0, pad_token_id=0),
             "modernbert": dict(pad_token_id=0, cls_token_id=2, sep_token_id=3, bos_token_id=2, eos_token_id=3)}
    return transformers.AutoConfig.for_model(model_type, **{"max_position_embeddings": 512, **extra.get(model_type, {}),
                                                            **s, **common})


def build(model_type: str, shape: str, out: str) -> str:
    """A random `model_type` token classifier of `shape`, with a small tokenizer of the family's
    kind (WordPiece, byte-level BPE, Unigram) whose special tokens are ids 0-4."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    kind, specials = TOKENIZERS[model_type]
    words = [f"w{i}" for i in range(500)]
    if kind == "WordPiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=specials[1]))
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(vocab_size=600, special_tokens=specials, show_progress=False)
    elif kind == "ByteLevel":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer, tokenizer.decoder = pre_tokenizers.ByteLevel(), decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials, show_progress=False)
    else:
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.pre_tokenizer, tokenizer.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=600, special_tokens=specials, unk_token=specials[1],
                                          show_progress=False)
    tokenizer.train_from_iterator([" ".join(words[i:i + 10]) for i in range(0, 500, 5)], trainer)
    pad, unk, cls, sep, mask = specials if specials is BERT_NAMES else [specials[i] for i in (1, 3, 0, 2, 4)]
    transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=pad, unk_token=unk, cls_token=cls,
                                         sep_token=sep, mask_token=mask).save_pretrained(out)
    torch.manual_seed(0)
    transformers.AutoModelForTokenClassification.from_config(family_config(model_type, shape)).save_pretrained(out)
    return out


def token_rows(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(2.9, 0.55, count).astype(int), 3, 126)  # mean ~21, as review sentences
    return [rng.integers(5, VOCAB, n) for n in lengths]


def engine_tagging(path: str, rows: list[np.ndarray], rounds: int) -> list[float]:
    """Sentences/s of the engine's tagging actor, one call over all rows per round."""
    import pyarrow as pa

    from engine.tagger import MaskTagger

    actor = MaskTagger(path, cpu_threads=torch.get_num_threads())
    batch = pa.table({"doc_id": np.arange(len(rows)), "sentence_index": np.zeros(len(rows), np.int32),
                      "input_ids": pa.array([r.astype(np.int32) for r in rows], pa.list_(pa.int32()))})
    actor(batch.slice(0, 64))  # first-call costs out of the timing
    return [len(rows) / harness.timed(actor, batch)[1] for _ in range(rounds)]


def plain_tagging(path: str, rows: list[np.ndarray], rounds: int, batch_size: int = 32) -> list[float]:
    """Sentences/s of a plain transformers loop: batches in input order, padded to their longest."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model = AutoModelForTokenClassification.from_pretrained(path).to(harness.device()).eval()
    tok = AutoTokenizer.from_pretrained(path)

    def run():
        with torch.inference_mode():
            for start in range(0, len(rows), batch_size):
                chunk = rows[start:start + batch_size]
                width = max(len(r) for r in chunk) + 2
                ids = torch.full((len(chunk), width), tok.pad_token_id)
                for i, r in enumerate(chunk):
                    ids[i, :len(r) + 2] = torch.tensor([tok.cls_token_id, *r, tok.sep_token_id])
                model(input_ids=ids.to(harness.device()), attention_mask=(ids != tok.pad_token_id).long()
                      .to(harness.device())).logits.float().cpu()

    run()
    return [len(rows) / harness.timed(run)[1] for _ in range(rounds)]


def masked_lm_steps(path: str, rows: list[np.ndarray], steps: int, batch_size: int, max_seq: int) -> dict:
    """Tokens/s of one optimizer step: the trainer's objective and the library default, same batches."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from trainer.objectives.masked_lm import MaskedLM

    tok = AutoTokenizer.from_pretrained(path)
    objective = MaskedLM(masking="stored", vocab_size=VOCAB, mask_id=tok.mask_token_id,
                         special_ids=tok.all_special_ids, max_seq=max_seq, cls_id=tok.cls_token_id,
                         sep_id=tok.sep_token_id, pad_id=tok.pad_token_id)
    rng = np.random.default_rng(1)
    instances = [np.concatenate(rows[i:i + 12])[:max_seq - 2] for i in range(0, 12 * batch_size * (steps + 1), 12)]
    masks = [np.sort(rng.choice(len(r), max(1, int(0.15 * len(r))), replace=False)) for r in instances]
    batches = [objective.collate({"input_ids": instances[i:i + batch_size], "mask_positions": masks[i:i + batch_size]},
                                 rng=rng) for i in range(0, len(instances), batch_size)][:steps + 1]
    tokens = [int(b["attention_mask"].sum()) for b in batches]
    dev = harness.device()
    torch.manual_seed(0)  # the fresh masked-LM head drawn alike for both
    ours = objective.build_model(path).to(dev).train()
    torch.manual_seed(0)
    library = AutoModelForMaskedLM.from_pretrained(path).to(dev).train()
    with torch.no_grad():  # the same loss computed two ways, before either steps (eval: no dropout)
        first = {k: v.to(dev) for k, v in batches[0].items()}
        losses = {"trainer": float(objective.loss(ours.eval(), first)),
                  "library": float(library_loss_of(library.eval(), first))}
    ours.train(), library.train()

    rates = {"first_loss": losses}
    for name, module, loss_of in (("trainer", ours, lambda b: objective.loss(ours, b)),
                                  ("library", library, lambda b: library_loss_of(library, b))):
        optimizer = torch.optim.AdamW(module.parameters(), lr=1e-5)

        def step(batch):
            loss_of({k: v.to(dev) for k, v in batch.items()}).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        step(batches[0])  # first-step costs out of the timing
        seconds = sum(harness.timed(step, b)[1] for b in batches[1:])
        rates[name] = sum(tokens[1:]) / seconds
    return rates


def library_loss_of(model, batch: dict):
    """The library default's loss: labels at the masked positions, -100 elsewhere, logits everywhere."""
    labels = torch.full_like(batch["input_ids"], -100)
    labels[batch["rows"], batch["cols"]] = batch["targets"]
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels).loss


def main(argv: list[str] | None = None) -> int:
    import transformers

    transformers.logging.set_verbosity_error()  # the fresh heads' load reports, once per model
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=4000, help="token rows tagged per round")
    parser.add_argument("--rounds", type=int, default=3, help="tagging rounds per family (interleaved)")
    parser.add_argument("--steps", type=int, default=4, help="masked-LM steps timed per family and model")
    parser.add_argument("--batch-size", type=int, default=8, help="masked-LM instances per step")
    parser.add_argument("--max-seq", type=int, default=256, help="masked-LM instance length")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--parts", default="tagging,masked-lm", help="what to measure: tagging, masked-lm or both")
    args = parser.parse_args(argv)
    families, parts = args.families.split(","), args.parts.split(",")
    rows = token_rows(args.sentences, seed=0)
    tagging, steps = {f: {"engine": [], "plain": []} for f in families}, {}
    with harness.scratch(args.work, "families") as work:
        paths = {f: build(f, args.shape, os.path.join(work, f)) for f in families}
        for _ in range(args.rounds if "tagging" in parts else 0):  # interleaved: a slower spell hits every family
            for f in families:
                tagging[f]["engine"] += engine_tagging(paths[f], rows, 1)
                tagging[f]["plain"] += plain_tagging(paths[f], rows, 1)
        for f in families if "masked-lm" in parts else ():
            steps[f] = masked_lm_steps(paths[f], rows, args.steps, args.batch_size, max_seq=args.max_seq)
    median = {f: {k: float(np.median(v)) if v else None for k, v in rates.items()} for f, rates in tagging.items()}
    bert_engine = median.get("bert", {}).get("engine")
    table = []
    for f in families:
        engine, plain, mlm = median[f]["engine"], median[f]["plain"], steps.get(f, {})
        table.append({"family": f, "tagging engine sent/s": engine, "plain loop sent/s": plain,
                      "engine / plain": engine / plain if engine else None,
                      "engine / bert's engine": engine / bert_engine if engine and bert_engine else None,
                      "MLM step trainer tok/s": mlm.get("trainer"), "library tok/s": mlm.get("library"),
                      "trainer / library": mlm["trainer"] / mlm["library"] if mlm else None})
    harness.print_table(f"families, shape {args.shape}, {args.sentences} rows, {harness.card()}", table)
    harness.write_json(args.out, f"families-{args.shape}-{'-'.join(parts)}",
                       {"shape": args.shape, "sentences": args.sentences, "rounds": args.rounds, "steps": args.steps,
                        "batch_size": args.batch_size, "max_seq": args.max_seq, "tagging": tagging,
                        "masked_lm": steps, "table": table})
    return 0


if __name__ == "__main__":
    sys.exit(main())
