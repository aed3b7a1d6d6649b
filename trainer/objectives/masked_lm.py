"""Masked-LM continued pretraining (stage 5): TaskPT on stored masks, or DAPT/TAPT with masks
drawn at every batch. Rows are (input_ids, mask_positions), packed by trainer/data.py."""
from __future__ import annotations

import numpy as np
import torch

from trainer.objectives.base import Objective

MASKINGS = ("stored", "dynamic")
# Each family's masked-LM head in its ...ForMaskedLM, hidden states (..., H) -> logits (..., V):
# the modules it runs, in order (the weights' name prefixes in a checkpoint).
LM_HEADS = {"bert": ("cls",), "roberta": ("lm_head",), "xlm-roberta": ("lm_head",), "deberta-v2": ("cls",),
            "electra": ("generator_predictions", "generator_lm_head"), "modernbert": ("head", "decoder"),
            "distilbert": ("vocab_transform", "activation", "vocab_layer_norm", "vocab_projector")}


def lm_head(mlm, hidden):
    """The masked-LM head of `mlm` (a ...ForMaskedLM of a family in LM_HEADS) on `hidden` (N, H) -> (N, V)."""
    for name in LM_HEADS[mlm.config.model_type]:
        hidden = getattr(mlm, name)(hidden)
    return hidden


def lm_head_in_checkpoint(model_path: str, model_type: str) -> bool:
    """Whether the checkpoint's weights hold a masked-LM head (a sentence encoder or a
    classifier has none: pretraining starts one fresh). Reads the safetensors headers only."""
    from engine.contract.store import weight_shapes

    return any(name.startswith(LM_HEADS[model_type][-1] + ".") for name in weight_shapes(model_path))


class MaskedLMAtPositions(torch.nn.Module):
    """A ...ForMaskedLM (`mlm`, of a family in LM_HEADS) with its prediction head run only at
    the masked positions: (N, H) -> (N, V) for N masks instead of (B, T, V) for every position.
    Where its layers are BERT's (BERT, RoBERTa, XLM-R, ELECTRA), so does its last encoder layer, past
    its keys and values: only the masked positions' outputs reach the loss, so the queries, the
    attention's output projection and the feed-forward run there alone (`_last_layer_at`), with
    the layer's own modules and dropouts (~85% of the last layer's arithmetic, forward and
    backward, at 15% masks). `max_predictions`: the most masks a row has (the collate's cap)."""

    def __init__(self, mlm, max_predictions: int):
        super().__init__()
        self.mlm, self.max_predictions = mlm, max_predictions
        config = mlm.config
        layers = getattr(getattr(mlm.base_model, "encoder", None), "layer", None)
        # BERT's layer (BERT, RoBERTa, XLM-R, ELECTRA): its queries, keys and values are separate
        # modules; relative position attention adds terms the masked-position path does not compute.
        self.last_at_masks = (layers is not None and hasattr(getattr(layers[-1].attention, "self", None), "query")
                              and getattr(config, "position_embedding_type", "absolute") in (None, "absolute"))

    def forward(self, input_ids, attention_mask, rows, cols, targets):
        encoder = self.mlm.base_model
        if not self.last_at_masks:
            hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
            logits = lm_head(self.mlm, hidden[rows, cols])  # (N, V)
        else:
            layers = encoder.encoder.layer
            encoder.encoder.layer = layers[:-1]  # the encoder iterates this list: every layer but the last
            try:
                hidden = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, H)
            finally:
                encoder.encoder.layer = layers
            logits = lm_head(self.mlm, self._last_layer_at(layers[-1], hidden, attention_mask, rows, cols))  # (N, V)
        if targets.numel() == 0:  # nothing masked in this batch: a zero loss that keeps every weight in the graph
            return (hidden.sum() + sum(p.sum() for p in self.parameters())) * 0.0, logits
        return torch.nn.functional.cross_entropy(logits.float(), targets), logits

    def _last_layer_at(self, layer, hidden, attention_mask, rows, cols):
        """Hugging Face's BertLayer (or RobertaLayer) `layer` on `hidden` (B, T, H), its outputs at (rows, cols)
        alone (N, H): keys and values from every token of a row, queries from its masked ones.
        `rows` come sorted (MaskedLM.collate), at most `max_predictions` of each row."""
        attention = layer.attention.self
        b, t, _ = hidden.shape
        heads, size = attention.num_attention_heads, attention.attention_head_size
        k, v = (proj(hidden).view(b, t, heads, size).transpose(1, 2) for proj in (attention.key, attention.value))
        queries = hidden[rows, cols]  # (N, H)
        # The masks of a row side by side: row b's j-th mask at [b, j] (rows come sorted).
        first = torch.searchsorted(rows, torch.arange(b, device=rows.device))  # (B,) each row's first mask
        within = torch.arange(len(rows), device=rows.device) - first[rows]  # (N,)
        q = attention.query(queries).view(-1, heads, size)  # (N, heads, D)
        padded = q.new_zeros(b, self.max_predictions, heads, size)  # a bound the host knows: no wait for the device
        padded[rows, within] = q
        context = torch.nn.functional.scaled_dot_product_attention(
            padded.transpose(1, 2), k, v, attn_mask=attention_mask.bool()[:, None, None, :],
            dropout_p=attention.dropout.p if self.training else 0.0, scale=size ** -0.5)  # (B, heads, Q, D)
        context = context.transpose(1, 2)[rows, within].reshape(len(rows), -1)  # (N, H)
        attended = layer.attention.output(context, queries)
        return layer.output(layer.intermediate(attended), attended)


class MaskedLM(Objective):
    metric = "dev_mlm_loss"
    lower_is_better = True

    def __init__(self, masking: str, vocab_size: int, mask_id: int, special_ids: list[int],
                 mask_prob: float = 0.15, max_predictions: int = 40, seed: int = 0, head_only: bool = False, **kw):
        super().__init__(**kw)
        if masking not in MASKINGS:
            raise ValueError(f"masking must be one of {MASKINGS}, got {masking!r}")
        self.masking, self.vocab_size, self.mask_id = masking, vocab_size, mask_id
        self.special_ids = np.asarray(special_ids)
        self.mask_prob, self.max_predictions, self.seed = mask_prob, max_predictions, seed
        self.head_only = head_only  # train the masked-LM head alone: the encoder stays as it is

    def build_model(self, model_path):
        from transformers import AutoModelForMaskedLM

        # A checkpoint without a trained MLM head (e.g. a sentence encoder) gets a fresh one,
        # its decoder tied to the input embeddings where the family's config ties them.
        mlm = AutoModelForMaskedLM.from_pretrained(model_path, use_safetensors=True)
        if self.head_only:  # the encoder's weights, and so a decoder tied to its embeddings, stay fixed
            mlm.base_model.requires_grad_(False)
        return MaskedLMAtPositions(mlm, self.max_predictions)

    def hf_model(self, module):
        return module.mlm

    def positions(self, row: np.ndarray, stored: np.ndarray, rng) -> np.ndarray:
        """Indexes into the row (no specials) to predict: the stored ones (best first, capped),
        or a fresh 15% draw."""
        if self.masking == "stored":
            return np.asarray(stored, dtype=np.int64)[: self.max_predictions]
        candidates = np.flatnonzero(~np.isin(row, self.special_ids))
        k = min(self.max_predictions, max(1, int(round(self.mask_prob * len(candidates)))))
        return np.sort(rng.choice(candidates, size=min(k, len(candidates)), replace=False))

    def collate(self, batch, train: bool = True, rng: np.random.Generator | None = None):
        # Dev batches get the same masks every time, so dev losses are comparable across epochs.
        rng = rng if train and rng is not None else np.random.default_rng(self.seed)
        rows = [np.asarray(r, dtype=np.int64)[: self.max_seq - 2] for r in batch["input_ids"]]
        stored = batch["mask_positions"] if "mask_positions" in batch else [np.zeros(0)] * len(rows)
        ids, attention = self.pad(rows)
        picks = [self.positions(r, s, rng) for r, s in zip(rows, stored)]
        picks = [p[p < len(r)] for p, r in zip(picks, rows)]
        row_index = np.concatenate([np.full(len(p), i) for i, p in enumerate(picks)] + [np.zeros(0, np.int64)])
        col_index = np.concatenate(picks + [np.zeros(0, np.int64)]).astype(np.int64) + 1  # after [CLS]
        rows_t, cols_t = torch.from_numpy(row_index.astype(np.int64)), torch.from_numpy(col_index)
        targets = ids[rows_t, cols_t].clone()
        # BERT's 80/10/10: the tokenizer's mask token, a random token, or the token unchanged.
        draw = rng.random(len(targets))
        replaced = targets.clone()
        replaced[torch.from_numpy(draw < 0.8)] = self.mask_id
        random_tokens = torch.from_numpy(rng.integers(0, self.vocab_size, len(targets)))
        swap = torch.from_numpy((draw >= 0.8) & (draw < 0.9))
        replaced[swap] = random_tokens[swap]
        ids[rows_t, cols_t] = replaced
        return {"input_ids": ids, "attention_mask": attention, "rows": rows_t, "cols": cols_t, "targets": targets}

    def loss(self, model, batch):
        return model(**batch)[0]

    def evaluate(self, model, batches):
        total, correct, count = 0.0, 0, 0
        for batch in batches:
            loss, logits = model(**batch)
            n = len(batch["targets"])
            total += float(loss) * n
            correct += int((logits.argmax(-1) == batch["targets"]).sum())
            count += n
        return {"dev_mlm_loss": total / max(count, 1), "dev_mlm_accuracy": correct / max(count, 1)}
