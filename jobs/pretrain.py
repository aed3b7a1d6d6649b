"""Stage 5: masked-LM continued pretraining of the general model, one run per arm:
selective (the tagger's masks), random (equal budget), dapt / tapt (dynamic 15% masks on the
domain corpus / the task's training text), dapt_tapt (TAPT continued from the DAPT model).
python -m jobs.pretrain CONFIG.yaml [key=value ...]"""
from __future__ import annotations

import functools
import sys

from engine.contract import IMPORTANCE, is_complete, model_is_complete
from engine.contract.tokenizer import check_same_tokenizer
from engine.models import checkpoint_config
from engine.text import load_tokenizer, tokenizer_record
from jobs.common import StageError, entry_point, require_model, say, special_ids, stage_share
from jobs.graph import run_steps
from jobs.plan import CONTINUES_FROM
from trainer.data import pretraining_rows
from trainer.objectives import MaskedLM
from trainer.objectives.masked_lm import lm_head_in_checkpoint
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
                                   short_seq_prob=p.short_seq_prob, seed=cfg.seed, stored_masks=stored, holdout=p.holdout)
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
    metrics = fit(objective, p, start, train, held, out, name=f"pretrain-{arm}", config_yaml=cfg.to_yaml(),
                  info={"stage": "pretrain", "arm": arm, "source": start, "data": dataset,
                        "tokenizer": tokenizer_record(start)}, share=stage_share(cfg),
                  rows=rows)
    say("pretrain", f"{arm}: wrote {out} (held-out masked-LM loss {metrics['dev_mlm_loss']:.4f})")


def masked_lm_objective(model_path: str, p, stored: bool) -> MaskedLM:
    """The masked-LM objective of pretraining config `p` with `model_path`'s vocabulary:
    the dataset's stored masks (`stored`) or dynamic ones."""
    tok = load_tokenizer(model_path)
    return MaskedLM(masking="stored" if stored else "dynamic", vocab_size=len(tok), mask_id=tok.mask_token_id,
                    special_ids=tok.all_special_ids, mask_prob=p.mask_prob, max_predictions=p.max_predictions,
                    seed=p.seed, max_seq=p.max_seq, **special_ids(model_path))


def pretrain_steps(cfg, plan, data_step=None) -> dict:
    """`pretrain-ARM: (steps it waits for, fn)` for every arm of plan.pretrained, for `run_steps`:
    DAPT+TAPT waits for the DAPT model. `data_step(arm)`: the step that writes the arm's
    dataset, where it runs in the same graph (`taskpt experiment`)."""
    return {f"pretrain-{arm}": (([data_step(arm)] if data_step else [])
                                + ([f"pretrain-{CONTINUES_FROM[arm]}"] if arm in CONTINUES_FROM else []),
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
