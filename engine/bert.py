"""BERT-architecture encoders for inference in plain torch: the model actors' encoder, loaded
from a Hugging Face checkpoint (config.json + safetensors) without importing transformers.

A model actor's process then imports torch alone: transformers' import took ~2.7 s on top of
torch's ~1.4 s on 2 cores (fresh processes, warm bytecode cache), and every model actor paid it
before its first batch (a scorer actor's construction: 4.4-5.0 s with it, 1.7-2.0 s without;
docs/performance.md). The layers are Hugging Face's BertFor... / RobertaFor... /
XLMRobertaFor... SequenceClassification and TokenClassification at eval (no dropout), operation
for operation; tests compare the logits with transformers' own. Weights keep Hugging Face's
names (engine.models.ENGINE_FAMILIES says how each family's map onto the flattened layers), so a checkpoint
loads as saved.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import pyarrow.fs as pafs
import torch
from torch import nn
from torch.nn import functional as F

from engine.contract import fs
from engine.models import ENGINE_FAMILIES, Family, check_inference_config
from engine.packed import Packing, packed_attention

HEADS = {"BertForSequenceClassification": "sequence", "BertForTokenClassification": "token"}
# Hugging Face's names inside an encoder layer -> the flattened layer's, applied in turn.
LAYER_RENAMES = (
    (".attention.self.", "."), (".attention.output.dense.", ".attention_dense."),
    (".attention.output.LayerNorm.", ".attention_norm."), (".intermediate.dense.", ".intermediate."),
    (".output.dense.", ".output_dense."), (".output.LayerNorm.", ".output_norm."),
)


def load_bert(path: str, model_class: str, dtype, device) -> Bert:
    """The checkpoint at `path` as a `Bert` with `model_class`'s head (HEADS), in `dtype` on
    `device`, at eval. Raises InputError naming the config.json key it does not run, ValueError
    naming the checkpoint and the weight it lacks."""
    config = json.loads(fs.read_bytes(fs.join(path, "config.json")))
    check_inference_config(config, path)
    family = ENGINE_FAMILIES[config["model_type"]]
    index = fs.join(path, "model.safetensors.index.json")
    files = sorted(set(json.loads(fs.read_bytes(index))["weight_map"].values())) if fs.is_file(index) \
        else ["model.safetensors"]
    weights = {ours(key, family): value for name in files for key, value in safetensors(fs.join(path, name)).items()}
    head = HEADS[model_class]
    if "classifier.weight" not in weights:
        raise ValueError(f"{path}: the checkpoint has no classifier (a {head}-classification head)")
    with torch.device("meta"):  # shapes only; the checkpoint's tensors are assigned below
        model = Bert(config, head, num_labels=weights["classifier.weight"].shape[0])
    missing = sorted(set(model.state_dict()) - set(weights))
    if missing:
        raise ValueError(f"{path}: the checkpoint has no weight for {missing[0]} "
                         f"({len(missing)} missing) of a {config['model_type']} {head}-classification model")
    model.load_state_dict({k: weights[k] for k in model.state_dict()}, assign=True)  # extra weights are ignored
    return model.to(device=device, dtype=dtype).eval()


def safetensors(path: str) -> dict:
    """A safetensors file's tensors: memory-mapped where the file is local (no copy of the whole
    file in memory beside them: the demo scorer's construction peaked at 468 MB RSS read whole),
    read whole from an object store."""
    from safetensors.torch import load, load_file

    filesystem, local = fs.resolve(path)
    if isinstance(filesystem, pafs.LocalFileSystem):
        return load_file(local)
    return load(fs.read_bytes(path))


def ours(name: str, family: Family) -> str:
    """A Hugging Face weight's name in `Bert`."""
    renames = ((f"{family.prefix}.encoder.layer.", "layers."), (f"{family.prefix}.embeddings.", "embeddings."),
               *family.head_renames)
    for theirs, own in renames:
        name = name.replace(theirs, own)
    if name.startswith("layers."):
        for theirs, own in LAYER_RENAMES:
            name = name.replace(theirs, own)
    return name


def activate(x, name: str):
    """config.json's hidden_act applied to x (engine.models.ACTIVATIONS)."""
    if name == "relu":
        return F.relu(x)
    return F.gelu(x, approximate="none" if name == "gelu" else "tanh")


class Embeddings(nn.Module):
    def __init__(self, c: dict):
        super().__init__()
        # RoBERTa's positions count from padding_idx + 1 (its pad token's id); BERT's from 0.
        self.first_position = c["pad_token_id"] + 1 if ENGINE_FAMILIES[c["model_type"]].positions_after_padding else 0
        # Given weights to fill (_weight): a random init on the meta device costs ~1 s of imports.
        self.word_embeddings, self.position_embeddings, self.token_type_embeddings = (
            nn.Embedding(n, c["hidden_size"], _weight=torch.empty(n, c["hidden_size"]))
            for n in (c["vocab_size"], c["max_position_embeddings"], c.get("type_vocab_size", 2)))
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c.get("layer_norm_eps", 1e-12))

    def forward(self, input_ids, position_ids):
        # Every token is of segment 0; the sum in Hugging Face's order.
        x = self.word_embeddings(input_ids) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x + self.position_embeddings(position_ids + self.first_position))


class Layer(nn.Module):
    """One encoder layer: Hugging Face's attention.self / attention.output / intermediate /
    output modules, flattened into one. Its work around attention is two functions of tensors
    (`project`, `finish`), the same for every layer: compiled once for all of them
    (`Bert.compile_layers`), they are one graph each."""

    def __init__(self, c: dict):
        super().__init__()
        hidden, self.eps = c["hidden_size"], c.get("layer_norm_eps", 1e-12)
        self.heads, self.act = c["num_attention_heads"], c.get("hidden_act", "gelu")
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.attention_dense, self.attention_norm = nn.Linear(hidden, hidden), nn.LayerNorm(hidden, eps=self.eps)
        self.intermediate = nn.Linear(hidden, c["intermediate_size"])
        self.output_dense = nn.Linear(c["intermediate_size"], hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=self.eps)
        self.project_fn, self.finish_fn = project, finish  # or their compiled forms

    def forward(self, hidden, attend, queries=None):
        """hidden (..., H) -> (..., H). `attend(q, k, v)`: (..., heads, D) queries, keys and
        values -> (..., heads, D), attention within each sequence. `queries`: the tokens whose
        outputs are wanted, (..., Q, H) taken from `hidden` (None: all of them); keys and values
        still come from every token, and the output is (..., Q, H)."""
        queries = hidden if queries is None else queries
        q, k, v = self.project_fn(queries, hidden, self.query.weight, self.query.bias, self.key.weight,
                                  self.key.bias, self.value.weight, self.value.bias, self.heads)
        return self.finish_fn(
            attend(q, k, v), queries, self.attention_dense.weight, self.attention_dense.bias,
            self.attention_norm.weight, self.attention_norm.bias, self.intermediate.weight, self.intermediate.bias,
            self.output_dense.weight, self.output_dense.bias, self.output_norm.weight, self.output_norm.bias,
            self.eps, self.act)


def project(queries, hidden, wq, bq, wk, bk, wv, bv, heads: int):
    """A layer's queries (from `queries`), keys and values (from `hidden`), (..., heads, D)."""
    def split(x):
        return x.view(*x.shape[:-1], heads, x.shape[-1] // heads)

    return split(F.linear(queries, wq, bq)), split(F.linear(hidden, wk, bk)), split(F.linear(hidden, wv, bv))


def finish(context, queries, wo, bo, g1, b1, wi, bi, wd, bd, g2, b2, eps: float, act: str):
    """A layer's output from its attention's `context` (..., heads, D): the attention's output
    projection, residual and norm, then the feed-forward, residual and norm, as Hugging Face's."""
    shape = queries.shape[-1:]
    attended = F.layer_norm(F.linear(context.reshape(queries.shape), wo, bo) + queries, shape, g1, b1, eps)
    return F.layer_norm(F.linear(activate(F.linear(attended, wi, bi), act), wd, bd) + attended, shape, g2, b2, eps)


class Bert(nn.Module):
    """A BERT encoder with a classification head: "sequence" (the pooler's dense + tanh on
    each sequence's [CLS], then the classifier: BertForSequenceClassification; its last layer
    runs at [CLS] alone, `encode`) or "token" (the classifier on every token:
    BertForTokenClassification)."""

    def __init__(self, config: dict, head: str, num_labels: int):
        super().__init__()
        hidden = config["hidden_size"]
        self.config = SimpleNamespace(**config)  # config.json's fields, as attributes
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(Layer(config) for _ in range(config["num_hidden_layers"]))
        self.pooler = nn.Linear(hidden, hidden) if head == "sequence" else None
        self.classifier = nn.Linear(hidden, num_labels)

    @property
    def num_labels(self) -> int:
        return self.classifier.out_features

    def compile_layers(self) -> None:
        """Every layer's work around attention (`project`, `finish`) through torch.compile, one
        graph each for all layers, with dynamic shapes (a pass's token count changes every pass):
        the elementwise work between the matrix products (bias, GELU, residual, layer norm)
        fused into fewer kernels. Attention stays as it is (flash attention's kernel on a GPU).
        The first passes of each new rank of input compile (seconds to a minute)."""
        compiled = torch.compile(project, dynamic=True), torch.compile(finish, dynamic=True)
        for layer in self.layers:
            layer.project_fn, layer.finish_fn = compiled

    def forward(self, input_ids, attention_mask):
        """Logits of padded rows: input_ids (B, T); attention_mask (B, 1, 1, T), additive
        (engine.models.additive_mask). (B, C) for the sequence head, (B, T, C) per token."""
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None]
        hidden = self.embeddings(input_ids, positions)  # (B, T, H)

        def attend(q, k, v):  # (B, T, heads, D) as SDPA's (B, heads, T, D), and back
            out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                                 attn_mask=attention_mask, scale=q.shape[-1] ** -0.5)
            return out.transpose(1, 2)

        return self.encode(hidden, attend, firsts=lambda h: h[:, 0],  # (B, H): each row's [CLS]
                           attend_firsts=lambda q, k, v: attend(q[:, None], k, v)[:, 0])

    def packed(self, input_ids, position_ids, packing: Packing):
        """Logits of a packed pass (engine.packed), input_ids and position_ids (T,): (N, C) for
        the sequence head (from each sequence's first token, its [CLS]), (T, C) per token."""
        hidden = self.embeddings(input_ids, position_ids)  # (T, H)
        return self.encode(hidden, lambda q, k, v: packed_attention(q, k, v, packing),
                           firsts=lambda h: h[packing.cu_seqlens[:-1].long()],  # (N, H)
                           attend_firsts=lambda q, k, v: packed_attention(q, k, v, packing, firsts_only=True))

    def encode(self, hidden, attend, firsts, attend_firsts):
        """Logits from the embedded tokens `hidden` through every layer, `attend` keeping each
        sequence to itself. The sequence head reads each sequence's [CLS] alone, so its last
        layer's queries, attention output and feed-forward run there only (`firsts(hidden)`: (N,
        H), attended by `attend_firsts`; keys and values still at every token): 10 of the layer's
        12 H^2 multiply-adds per token are skipped, 1/L of the encoder's arithmetic for an
        L-layer scorer (docs/performance.md)."""
        *body, last = self.layers
        for layer in body:
            hidden = layer(hidden, attend)
        if self.pooler is None:
            return self.head(last(hidden, attend))
        return self.head(last(hidden, attend_firsts, queries=firsts(hidden)))

    def head(self, hidden):
        """(..., H) -> (..., C)."""
        return self.classifier(torch.tanh(self.pooler(hidden)) if self.pooler is not None else hidden)
