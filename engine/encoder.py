"""A BERT classifier's forward pass over the real tokens of a padded batch only.

Every pass of the scorer and the tagger is padded: a group is as wide as its longest row, and
a scoring pass as wide as its longest s' (38% of the tokens of 4,000 review sentences at a
GPU's 65,536 tokens/pass, docs/performance.md). Here the padded embeddings become a nested
tensor of the real tokens, and each layer runs as one call of PyTorch's fused encoder layer
(`torch._transformer_encoder_layer_fwd`, the kernel behind `nn.TransformerEncoderLayer`'s
inference fast path): the projections and the feed-forward never see padding, and a layer is
one Python call instead of Hugging Face's dozen. The head runs on the padded result, so the
logits have the shapes Hugging Face's model gives, and equal them to float rounding
(tests/engine/test_encoder.py). Inference only (no autograd through the fused kernel).
"""
from __future__ import annotations

import warnings

import numpy as np

# What PyTorch's fused layer computes: post-norm layers (BERT's), exact GELU.
SUPPORTED_ACTIVATIONS = ("gelu",)


def real_token_encoder_supported(config: dict) -> str | None:
    """Why `RealTokenEncoder` cannot run a model of this config (config.json as a dict), or None."""
    activation = config.get("hidden_act", "gelu")
    if activation not in SUPPORTED_ACTIVATIONS:
        return f"hidden_act is {activation!r}; the fused layer computes {SUPPORTED_ACTIVATIONS}"
    positions = config.get("position_embedding_type", "absolute")
    if positions != "absolute":
        return f"position_embedding_type is {positions!r}, not 'absolute'"
    return None


class RealTokenEncoder:
    """`model` (a Hugging Face `BertForSequenceClassification` or `BertForTokenClassification`,
    in eval mode) as a callable: (input_ids (B, T), attention (B, T) bool, left-aligned) ->
    logits, (B, C) or (B, T, C), in the model's dtype. Shares the model's weights, except the
    query, key and value projections, stacked into one (3H, H) matrix per layer."""

    def __init__(self, model):
        import torch

        reason = real_token_encoder_supported(model.config.to_dict())
        if reason:
            raise ValueError(f"the real-token encoder cannot run this model: {reason}")
        self.torch, self.model = torch, model
        self.hidden, self.heads = model.config.hidden_size, model.config.num_attention_heads
        self.per_token = getattr(model.bert, "pooler", None) is None  # token classifiers have no pooler
        self.layers = []
        for layer in model.bert.encoder.layer:
            attention, projection = layer.attention.self, layer.attention.output
            self.layers.append((
                torch.cat([attention.query.weight, attention.key.weight, attention.value.weight]).detach(),
                torch.cat([attention.query.bias, attention.key.bias, attention.value.bias]).detach(),
                projection.dense.weight, projection.dense.bias,
                True, False, projection.LayerNorm.eps,  # GELU, post-norm, epsilon
                projection.LayerNorm.weight, projection.LayerNorm.bias,
                layer.output.LayerNorm.weight, layer.output.LayerNorm.bias,
                layer.intermediate.dense.weight, layer.intermediate.dense.bias,
                layer.output.dense.weight, layer.output.dense.bias,
            ))
        # PyTorch warns once per process that nested tensors are a prototype API; said here
        # (the API is PyTorch's own inference fast path), so no actor logs it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            torch._nested_tensor_from_mask(torch.zeros(1, 1, 1), torch.ones(1, 1, dtype=torch.bool))

    def __call__(self, input_ids, attention, lengths: np.ndarray | None = None):
        """`lengths`: the rows' real lengths on the host, when known there; else they are read
        from `attention` (a wait for the device)."""
        torch, model = self.torch, self.model
        batch, width = input_ids.shape
        with torch.inference_mode():  # inference only: no autograd graph, whoever calls it
            x = model.bert.embeddings(input_ids=input_ids)  # (B, T, H): positions 0..T-1, token type 0
            if lengths is not None:
                sizes = torch.from_numpy(np.stack([np.asarray(lengths, np.int64), np.full(batch, self.hidden)], 1))
                x = torch._nested_from_padded(x, sizes)  # (B, ragged T_b, H), no wait for the device
            else:
                x = torch._nested_tensor_from_mask(x, attention, mask_check=False)
            for layer in self.layers:
                x = torch._transformer_encoder_layer_fwd(x, self.hidden, self.heads, *layer, None)
            hidden = x.to_padded_tensor(0.0, (batch, width, self.hidden))  # (B, T, H), zeros at padding
            if self.per_token:
                return model.classifier(model.dropout(hidden))  # (B, T, C)
            return model.classifier(model.dropout(model.bert.pooler(hidden)))  # (B, C), from [CLS]
