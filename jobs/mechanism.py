"""The mechanism check of `taskpt experiment`: does selective TaskPT predict the tokens the
tagger calls important better than random TaskPT does? Every pretrained arm predicts masked
tokens of the same held-out in-domain sentences, with the same masks: once the tagger's masked
positions (`important`), once as many other positions of the sentence (`other`)."""
from __future__ import annotations

import dataclasses

import numpy as np

from trainer.data import held_out_sentences
from trainer.evaluate import masked_accuracy

SENTENCES = 2000  # held-out sentences read (those with a mask and another token are used)


@dataclasses.dataclass(frozen=True)
class MechanismInputs:
    rows: list          # token rows (no specials)
    important: list     # per row: the tagger's masked positions (the selective arm's masks)
    other: list         # per row: as many other positions, drawn at random per sentence


def mechanism_inputs(cfg, plan, limit: int = SENTENCES) -> MechanismInputs:
    """From the selective arm's dataset, the documents pretraining held out (pretrain.holdout,
    seed): each sentence with a mask and a token that is not masked."""
    table = held_out_sentences(plan.premasked, cfg.pretrain.holdout, cfg.seed, limit)
    rows, important, other = [], [], []
    for doc, sentence, ids, masks in zip(*(table.column(c).to_pylist() for c in
                                          ("doc_id", "sentence_index", "input_ids", "mask_positions"))):
        rest = np.setdiff1d(np.arange(len(ids)), masks)
        if not masks or not len(rest):
            continue
        rng = np.random.default_rng([cfg.seed, doc, sentence])
        rows.append(np.asarray(ids, np.int64))
        important.append(np.sort(np.asarray(masks, np.int64)))
        other.append(np.sort(rng.choice(rest, size=min(len(masks), len(rest)), replace=False)))
    return MechanismInputs(rows, important, other)


def check_arm(model_dir: str, inputs: MechanismInputs, max_seq: int) -> dict:
    """Masked-token accuracy of the masked-LM in `model_dir` on the important and the other tokens."""
    important = masked_accuracy(model_dir, inputs.rows, inputs.important, max_seq)
    other = masked_accuracy(model_dir, inputs.rows, inputs.other, max_seq)
    return {"sentences": len(inputs.rows), "important_accuracy": important["accuracy"],
            "important_predicted": important["predicted"], "other_accuracy": other["accuracy"],
            "other_predicted": other["predicted"]}
