"""Stage 5: masked-LM continued pretraining of the general model, one run per arm:
selective (the tagger's masks), selective_content (the same among content tokens), random
(equal budget), dapt / tapt (dynamic 15% masks on the domain corpus / the task's training text),
dapt_tapt (TAPT continued from the DAPT model). With pretrain.head_warmup, a checkpoint without
a masked-LM head first has one trained alone on general text, and every arm starts from it.
python -m jobs.pretrain CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import functools
import math
import sys

import numpy as np
import polars as pl

from engine.contract import IMPORTANCE, is_complete, model_is_complete
from engine.contract.tokenizer import check_same_tokenizer
from engine.corpus import corpus_files, file_documents
from engine.models import checkpoint_config
from engine.text import SentenceTokenizer, load_tokenizer, tokenizer_record
from jobs.common import StageError, entry_point, require_model, say, special_ids, stage_share, training_params
from jobs.graph import run_steps
from jobs.plan import CONTINUES_FROM
from trainer.data import document_rows, pretraining_rows
from trainer.objectives import MaskedLM
from trainer.objectives.masked_lm import lm_head_in_checkpoint
from trainer.params import TrainParams
from trainer.run import fit

STORED_MASKS = ("selective", "selective_content", "random")


def pretrain_arm(cfg, plan, arm: str) -> None:
    out = plan.pretrained[arm]
    if model_is_complete(out):
        say("pretrain", f"{arm}: cache hit, {out}")
        return
    dataset, kind = plan.sources(arm)
    if not is_complete(dataset):
        command = "score" if kind == IMPORTANCE else "tag"
        raise StageError(f"{arm} pretrains on {dataset}, which is not in the store yet; run `taskpt {command} CONFIG` first")
    start = plan.pretrain_start[arm]  # the general model, or DAPT's for DAPT+TAPT
    if arm in CONTINUES_FROM:
        require_model(start, f"the {CONTINUES_FROM[arm]} pretrained model", "pretrain")
    check_same_tokenizer(dataset, start)
    p = cfg.pretrain
    stored = arm in STORED_MASKS
    train, held = pretraining_rows(dataset, kind, max_tokens=p.max_seq - 2, max_predictions=p.max_predictions,
                                   short_seq_prob=p.short_seq_prob, seed=cfg.seed, stored_masks=stored, holdout=p.holdout,
                                   pack_seed=plan.replicate_seed)
    rows = train.count()
    if stored and rows == 0:
        raise StageError(f"{dataset} has no masked position: the tagger predicted no token as important; "
                         "train it longer or weigh class 1 more (tagger.epochs, tagger.class_weights)")
    if held.count() == 0:
        raise StageError(f"pretrain.holdout={p.holdout} holds out no document of {dataset}; raise it")
    objective = masked_lm_objective(cfg.model, p, stored)
    say("pretrain", f"{arm}: masked-LM from {start} on {dataset} ({'stored' if stored else 'dynamic'} masks)")
    start_config = checkpoint_config(start)
    if not lm_head_in_checkpoint(start, start_config["model_type"]):
        tied = start_config.get("tie_word_embeddings", True)  # as the family's config ties them
        say("pretrain", f"{arm}: {start} has no masked-LM head: it starts fresh"
                        + (", its decoder tied to the input embeddings" if tied else ""))
    metrics = fit(objective, training_params(p), start, train, held, out, name=f"pretrain-{arm}", config_yaml=cfg.to_yaml(),
                  info={"stage": "pretrain", "arm": arm, "source": start, "data": dataset,
                        "tokenizer": tokenizer_record(start)}, share=stage_share(cfg),
                  rows=rows)
    say("pretrain", f"{arm}: wrote {out} (held-out masked-LM loss {metrics['dev_mlm_loss']:.4f})")


def masked_lm_objective(model_path: str, p, stored: bool, seed: int | None = None, head_only: bool = False) -> MaskedLM:
    """The masked-LM objective of pretraining config `p` (or head_warmup's) with `model_path`'s
    vocabulary: the dataset's stored masks (`stored`) or dynamic ones; `head_only`: the encoder frozen."""
    tok = load_tokenizer(model_path)
    return MaskedLM(masking="stored" if stored else "dynamic", vocab_size=len(tok), mask_id=tok.mask_token_id,
                    special_ids=tok.all_special_ids, mask_prob=p.mask_prob, max_predictions=p.max_predictions,
                    seed=p.seed if seed is None else seed, max_seq=p.max_seq, head_only=head_only,
                    **special_ids(model_path))


def warm_head(cfg, plan) -> None:
    """The general model's masked-LM head trained alone (encoder frozen, decoder tied to the
    input embeddings) with random masks on general text: the head every arm starts from, so
    their encoders do not learn through a random head. The held-out loss before and after is
    kept in its model.json and printed."""
    out, h, p = plan.warm_head, cfg.pretrain.head_warmup, cfg.pretrain
    if model_is_complete(out):
        say("pretrain", f"head warm-up: cache hit, {out}")
        return
    files = corpus_files(h.corpus, "pretrain.head_warmup.corpus")
    documents = pl.concat([file_documents(f, [h.text_column], h.format, h.encoding) for f in files])
    if h.max_documents:
        documents = documents.head(h.max_documents)
    tokenize = SentenceTokenizer.for_model(cfg.model, h.max_seq - 2)
    table = tokenize({"doc_id": np.arange(len(documents)), "text": documents.to_numpy()})
    train, held = document_rows(table, max_tokens=h.max_seq - 2, short_seq_prob=p.short_seq_prob, seed=p.seed,
                                holdout=h.holdout)
    rows = train.count()
    if rows == 0 or held.count() == 0:
        raise StageError(f"pretrain.head_warmup.corpus {h.corpus}: {len(documents)} document(s) leave no "
                         f"{'training' if rows == 0 else 'held-out'} text at holdout={h.holdout}")
    steps_per_epoch = math.ceil(rows / (h.batch_size * p.num_workers))
    params = TrainParams(epochs=math.ceil(h.steps / steps_per_epoch), max_steps=h.steps, batch_size=h.batch_size,
                         lr=h.lr, warmup_ratio=h.warmup_ratio, max_seq=h.max_seq, seed=p.seed, log_every=p.log_every,
                         num_workers=p.num_workers, use_gpu=p.use_gpu, max_failures=p.max_failures)
    say("pretrain", f"head warm-up: {h.steps} steps of {cfg.model}'s masked-LM head alone on {len(documents)} "
                    f"document(s) of {h.corpus} ({table.num_rows} sentences)")
    metrics = fit(masked_lm_objective(cfg.model, h, stored=False, seed=p.seed, head_only=True), training_params(params), cfg.model,
                  train, held, out, name="warm-head", config_yaml=cfg.to_yaml(),
                  info={"stage": "pretrain", "arm": "warm-head", "source": cfg.model, "data": h.corpus,
                        "tokenizer": tokenizer_record(cfg.model)}, share=stage_share(cfg), rows=rows,
                  evaluate_first=True)
    say("pretrain", f"head warm-up: wrote {out} (held-out masked-LM loss {metrics['before']['dev_mlm_loss']:.4f} "
                    f"before, {metrics['dev_mlm_loss']:.4f} after)")


def pretrain_steps(cfg, plan, data_step=None, suffix: str = "") -> dict:
    """`pretrain-ARM: (steps it waits for, fn)` for every arm of plan.pretrained, for `run_steps`:
    DAPT+TAPT waits for the DAPT model, the others for the head warm-up where there is one.
    `data_step(arm)`: the step that writes the arm's dataset, where it runs in the same graph
    (`taskpt experiment`). `suffix`: added to every step's name (a pretraining replicate's)."""
    warm = {f"warm-head{suffix}": ([], functools.partial(warm_head, cfg, plan))} if plan.warm_head else {}
    return warm | {f"pretrain-{arm}{suffix}": (([data_step(arm)] if data_step else [])
                                               + ([f"pretrain-{CONTINUES_FROM[arm]}{suffix}"] if arm in CONTINUES_FROM
                                                  else list(warm)),
                                               functools.partial(pretrain_arm, cfg, plan, arm))
                   for arm in plan.pretrained}


def pretrain(cfg, plan) -> None:
    """Every arm of pretrain.arms (and the DAPT model DAPT+TAPT continues from);
    `compute.concurrent_stages` of them side by side."""
    run_steps(pretrain_steps(cfg, plan), cfg.compute.concurrent_stages)


def main(argv: list[str] | None = None) -> int:
    return entry_point("pretrain", pretrain, argv)


if __name__ == "__main__":
    sys.exit(main())
