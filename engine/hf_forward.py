"""The model actors' forward for the families the engine has no forward of its own for
(engine.models.TRANSFORMERS_FAMILIES: DistilBERT, ELECTRA, DeBERTa-v2/v3, ModernBERT):
transformers' own ...ForSequenceClassification / ...ForTokenClassification, with PyTorch's
scaled-dot-product attention where the family has it, behind the interface the actors call
on the engine's forward (engine.bert.Bert): padded passes with an additive mask, logits out.
Passes are padded, length-grouped as on the engine's forward; packing needs the engine's."""
from __future__ import annotations

import torch

HEADS = {"sequence": "AutoModelForSequenceClassification", "token": "AutoModelForTokenClassification"}


class TransformersForward(torch.nn.Module):
    """A checkpoint with a `head` ("sequence" or "token") run by transformers, at eval."""

    def __init__(self, path: str, head: str, dtype, device):
        super().__init__()
        import transformers

        auto = getattr(transformers, HEADS[head])
        try:  # SDPA where the family has it (DeBERTa's disentangled attention has not)
            model = auto.from_pretrained(path, dtype=dtype, use_safetensors=True, attn_implementation="sdpa")
        except ValueError:
            model = auto.from_pretrained(path, dtype=dtype, use_safetensors=True)
        self.model = model.to(device).eval()
        self.config = model.config
        self.num_labels = model.config.num_labels

    def forward(self, input_ids, attention_mask):
        """Logits of padded rows: input_ids (B, T); attention_mask (B, 1, 1, T), additive
        (engine.models.additive_mask), read back as transformers' (B, T) 1s and 0s.
        (B, C) for the sequence head, (B, T, C) per token."""
        seen = (attention_mask[:, 0, 0, :] == 0).long()
        return self.model(input_ids=input_ids, attention_mask=seen).logits

    def compile_layers(self) -> None:
        """The whole model through torch.compile (dynamic shapes: a pass's width changes)."""
        self.model = torch.compile(self.model, dynamic=True)

    def packed(self, *args, **kwargs):
        raise NotImplementedError("packed passes run on the engine's own forward only")
