"""Loading checkpoints for inference, and the base of every model actor."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pyarrow as pa

from engine.contract import fs
from engine.contract.store import weight_shapes
from engine.errors import InputError
from engine.packed import Packing


@dataclasses.dataclass(frozen=True)
class Family:
    """How a model_type's checkpoints map onto the model actors' encoder (engine.bert.Bert): the
    encoder's weight prefix, the renames of its sequence head (onto `pooler` + `classifier`), and
    where its position ids start."""
    prefix: str
    head_renames: tuple
    positions_after_padding: bool  # RoBERTa: token j at position padding_idx + 1 + j


ENGINE_FAMILIES = {
    # BertForSequenceClassification: the pooler's dense + tanh on [CLS], then `classifier`.
    "bert": Family("bert", (("bert.pooler.dense.", "pooler."),), positions_after_padding=False),
    # RobertaClassificationHead: `classifier.dense` + tanh on <s>, then `classifier.out_proj`: the
    # same operations under other names. A RobertaModel's own pooler is not part of it.
    "roberta": Family("roberta", (("roberta.pooler.dense.", "unused_pooler."), ("classifier.dense.", "pooler."),
                                  ("classifier.out_proj.", "classifier.")), positions_after_padding=True),
}
ENGINE_FAMILIES["xlm-roberta"] = ENGINE_FAMILIES["roberta"]  # XLM-R is RoBERTa's architecture
# Families the model actors run with transformers' own forward (engine.hf_forward), padded passes.
TRANSFORMERS_FAMILIES = ("distilbert", "electra", "deberta-v2", "modernbert")
SUPPORTED_MODEL_TYPES = (*ENGINE_FAMILIES, *TRANSFORMERS_FAMILIES)
INFERENCE_DTYPES = ("auto", "float32", "bfloat16")
# config.json's hidden_act values the model actors' encoder (engine.bert) runs, as Hugging Face does
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")


def check_checkpoint(path: str, key: str = "model", weights: bool = True) -> dict:
    """The checkpoint's config.json, after checking it is of a supported family
    (SUPPORTED_MODEL_TYPES), with a fast tokenizer and safetensors weights, and, where
    `weights`, that these have the shapes config.json describes (`check_weights`: it imports
    transformers, 3.6-3.9 s in a fresh process on 2 cores)."""
    config_path = fs.join(path, "config.json")
    if not fs.is_file(config_path):
        raise InputError(f"{key}: {path} is not a Hugging Face checkpoint directory (no config.json)")
    config = checkpoint_config(path)
    if config.get("model_type") not in SUPPORTED_MODEL_TYPES:
        raise InputError(f"{key}: {path} has model_type {config.get('model_type')!r}; taskpt supports "
                         f"model_type {', '.join(SUPPORTED_MODEL_TYPES)}")
    if not fs.is_file(fs.join(path, "tokenizer.json")):
        raise InputError(f"{key}: {path} has no tokenizer.json (a fast tokenizer is required)")
    if not any(fs.is_file(fs.join(path, f)) for f in ("model.safetensors", "model.safetensors.index.json")):
        raise InputError(f"{key}: {path} has no safetensors weights (model.safetensors)")
    if config["model_type"] in ENGINE_FAMILIES:
        check_inference_config(config, f"{key}: {path}")
    if weights:
        check_weights(path, config, f"{key}: {path}")
    return config


def check_weights(path: str, config: dict, where: str) -> None:
    """Raise InputError, naming `where`, the weight and both shapes, where the checkpoint's
    weights do not fit the encoder its config.json describes: a weight of another shape, or
    one of the encoder's missing (a sequence head may replace the pooler). The encoder is built
    on PyTorch's meta device: shapes only, no memory, whatever its size."""
    import torch
    import transformers
    from huggingface_hub.errors import StrictDataclassError

    try:
        family_config = transformers.CONFIG_MAPPING[config["model_type"]].from_dict(config)
    except (ValueError, TypeError, StrictDataclassError) as e:  # transformers' own validation of the config
        cause = getattr(e, "__cause__", None) or e
        raise InputError(f"{where}: config.json is not a valid {config['model_type']} config: "
                         f"{str(cause).strip().splitlines()[-1].strip()}") from None
    with torch.device("meta"):
        encoder = transformers.AutoModel.from_config(family_config)
    expected = {k: tuple(v.shape) for k, v in encoder.state_dict().items()}
    prefix = encoder.base_model_prefix + "."
    found = {k.removeprefix(prefix): shape for k, shape in weight_shapes(path).items()}
    for name, shape in expected.items():
        if name in found and found[name] != shape:
            raise InputError(f"{where}: weight {name} has shape {list(found[name])}, but config.json describes "
                             f"{list(shape)}: the weights are not those of the model config.json describes")
    missing = [k for k in expected if k not in found and not k.startswith("pooler.")]
    if missing:
        raise InputError(f"{where}: no weight {missing[0]} ({len(missing)} of the {config['model_type']} "
                         f"encoder's {len(expected)} missing): the weights are not those of the model config.json "
                         "describes")


def checkpoint_config(path: str) -> dict:
    """The checkpoint's config.json."""
    return json.loads(fs.read_bytes(fs.join(path, "config.json")))


def forward_path(path: str) -> str:
    """Which forward the model actors run the checkpoint at `path` with, in words."""
    model_type = checkpoint_config(path)["model_type"]
    if model_type in ENGINE_FAMILIES:
        return f"the engine's own {model_type} forward"
    return f"transformers' {model_type} forward (padded passes)"


def check_inference_config(config: dict, where: str) -> None:
    """Raise InputError, naming `where` and the config.json key, where a BERT config asks for
    what the model actors' encoder (engine.bert) does not run."""
    if config.get("hidden_act", "gelu") not in ACTIVATIONS:
        raise InputError(f"{where}: config.json hidden_act {config.get('hidden_act')!r} is not one of {ACTIVATIONS}")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise InputError(f"{where}: config.json position_embedding_type "
                         f"{config.get('position_embedding_type')!r}; only 'absolute' is supported")


def round_up(x, multiple: int):
    """`x` (an int, numpy array or tensor) rounded up to a multiple of `multiple`."""
    return -(-x // multiple) * multiple


def length_batches(lengths: np.ndarray, max_tokens: int, pad_multiple: int = 1) -> list[np.ndarray]:
    """Row indexes grouped by similar length, each group padded to its longest row (rounded up
    to `pad_multiple`) holding at most `max_tokens` tokens (at least one row per group). Less
    padding than fixed batches. Budgeting the rounded width matters: short rows rounded up to
    8 made GPU passes of up to 1.8x the budget (bench/grouping.py, 200,000 review sentences)."""
    order = np.argsort(lengths, kind="stable")
    widths = round_up(np.asarray(lengths, dtype=np.int64)[order], pad_multiple)  # ascending
    groups, start = [], 0
    while start < len(order):
        # Rows start..end-1 padded to the last one's width: (end - start) * widths[end - 1],
        # growing with end; the group takes rows while that stays within the budget (at most
        # max_tokens // widths[start] of them, so only those are looked at).
        candidates = widths[start:start + max_tokens // max(int(widths[start]), 1) + 1]
        fits = np.arange(1, len(candidates) + 1) * candidates <= max_tokens
        end = start + max(int(fits.argmin()) if not fits.all() else len(candidates), 1)
        groups.append(order[start:end])
        start = end
    return groups


def packs(pack: bool | None, device_type: str) -> bool:
    """Whether a model actor on `device_type` packs its passes: as told, else on CUDA only."""
    return device_type == "cuda" if pack is None else pack


def token_batches(sizes: np.ndarray, max_tokens: int) -> list[np.ndarray]:
    """Indexes of sequences of `sizes` tokens in length-sorted groups of at most `max_tokens`
    tokens in all (at least one sequence per group): passes of packed sequences, which pay
    for real tokens only."""
    order = np.argsort(sizes, kind="stable")
    total = np.cumsum(np.asarray(sizes, dtype=np.int64)[order])
    groups, start, spent = [], 0, 0
    while start < len(order):
        # The sequences from `start` that fit within the budget beside the group's: one search, no loop per sequence.
        end = max(start + 1, int(np.searchsorted(total, spent + max_tokens, side="right")))
        groups.append(order[start:end])
        start, spent = end, int(total[end - 1])
    return groups


def list_column(column) -> tuple[np.ndarray, np.ndarray]:
    """(offsets from 0, values) of a list<int> column as int64 arrays; a sliced column's
    offsets need not start at 0, these do."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    offsets = column.offsets.to_numpy().astype(np.int64)
    values = column.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0])).to_numpy().astype(np.int64)
    return offsets - offsets[0], values


def ragged_index(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For rows `rows` of a list column with `offsets`: (flat index of every value of those
    rows, in row order; the position of each value within its row). No Python loop per row."""
    lengths = offsets[rows + 1] - offsets[rows]
    starts = np.repeat(offsets[rows], lengths)
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return starts + within, within


def additive_mask(attention, dtype):
    """(B, T) attention of 1s and 0s -> (B, 1, 1, T) additive mask in `dtype` (0 where a token
    is seen, the dtype's minimum where it is padding), on attention's device.

    The padded forward (engine.bert.Bert) adds it to the attention scores as it is. Built on the
    device, nothing is asked of it on the host: Hugging Face's SDPA path, given a 2D mask, first
    asked `mask.all()`, a wait for the device before every forward pass."""
    import torch

    return (1.0 - attention[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def without_cudnn_attention(torch) -> None:
    """Keeps PyTorch's scaled-dot-product attention off its cuDNN kernel in this process (flash
    and memory-efficient attention remain). cuDNN attention builds a plan for each batch shape it
    has not seen, and the engine's passes change shape all the time (the bench corpus's 139
    tagging passes have 75 shapes). On an H200, BERT-base (docs/performance.md): the
    tagger's passes shard by shard ran at 44,136 sentences/s the first time with it against
    63,036 without, 59,615 against 64,315 again; scoring 989 against 3,044 the first time, 3,436
    against 3,869 again. A process-wide flag: a model actor has its process to itself."""
    torch.backends.cuda.enable_cudnn_sdp(False)


class ModelActor:
    """A Ray Data callable class: loads its model once in `__init__`, then maps batches.

    Subclasses set `model_class` and fill in `process(batch)`. Runs on CUDA when a GPU is
    visible (the pool asks for one per actor), else on CPU. `dtype` "auto" is bf16 on CUDA and
    fp32 on CPU; "float32" keeps a GPU in fp32 (the published numerics). `cpu_threads`: torch
    threads on CPU (None: what Ray gave the actor, one thread per reserved CPU). `pack`: passes
    hold their sequences packed end to end, without padding (engine.packed), instead of padded
    groups (None: packed on CUDA). `compile_model`: the encoder's layers through torch.compile
    (`engine.bert.Bert.compile_layers`). On CUDA attention stays off cuDNN's kernel
    (`without_cudnn_attention`).
    """

    model_class: str = ""

    def __init__(self, model_path: str, max_batch_tokens: int | None = None, dtype: str = "auto",
                 cpu_threads: int | None = None, pack: bool | None = None, compile_model: bool = False):
        import torch

        from engine.text import ModelTokens

        if dtype not in INFERENCE_DTYPES:
            raise ValueError(f"dtype must be one of {INFERENCE_DTYPES}, got {dtype!r}")
        self.torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.type == "cpu" and cpu_threads:
            torch.set_num_threads(cpu_threads)
        if self.device.type == "cuda":
            without_cudnn_attention(torch)
        if dtype == "auto":
            dtype = "bfloat16" if self.device.type == "cuda" else "float32"
        self.dtype = getattr(torch, dtype)
        self.tokenizer = ModelTokens(model_path)
        self.model_type = checkpoint_config(model_path)["model_type"]
        if self.model_type in ENGINE_FAMILIES:
            # Tokenizer and model without transformers (engine.bert): this process imports torch alone.
            from engine.bert import load_bert

            self.model = load_bert(model_path, self.model_class, self.dtype, self.device)
        else:
            from engine.bert import HEADS
            from engine.hf_forward import TransformersForward

            self.model = TransformersForward(model_path, HEADS[self.model_class], self.dtype, self.device)
        # A GPU forward pass costs ~6 ms of Python whatever its size, so passes are large
        # there (bench/tag.py's ceiling on an H200, BERT-base: 43K sentences/s at 16K tokens,
        # 64K/s at 64K); on CPU smaller passes stay in cache (2 cores: 1-4K tokens ~1.5x 16K).
        self.max_batch_tokens = max_batch_tokens or (65536 if self.device.type == "cuda" else 2048)
        # Padded widths rounded up to 8 on a GPU (tensor-core tiles); exact on CPU.
        self.pad_multiple = 8 if self.device.type == "cuda" else 1
        # Sequences packed end to end instead of padded: a GPU's large passes span many lengths,
        # so padding is much of each padded pass there (on an H200, BERT-base: tagging passes
        # 29% padding, 0.81 of the packed rate; scoring 0.87; docs/performance.md). On CPU
        # passes are small and attention is padded anyway (compute.pack_sequences, docs/config.md).
        self.pack = packs(pack, self.device.type) and self.model_type in ENGINE_FAMILIES  # packing needs engine.bert
        if compile_model:  # compute.compile_model: fused elementwise kernels, compiled on the first passes
            self.model.compile_layers()

    def __call__(self, batch):
        with self.torch.inference_mode():
            return self.process(batch)

    def process(self, batch):
        raise NotImplementedError

    @staticmethod
    def rows_and_wordpieces(batch) -> tuple[pa.Table, pa.Array]:
        """A batch of rows (a pyarrow Table, or columns pyarrow makes one of) and its
        `input_ids` as one list<int32> array: what `process` works on."""
        rows = batch if isinstance(batch, pa.Table) else pa.table(batch)
        return rows, rows.column("input_ids").combine_chunks().cast(pa.list_(pa.int32()))

    def padded_groups(self, column: pa.Array):
        """A list<int> column of wordpieces in length-sorted groups of at most
        `max_batch_tokens` tokens. Yields (row indexes, the pass's inputs for `forward`, and for
        every wordpiece of the group: its index in the column's values, its row in the group,
        its position in its row); wordpiece j of a row sits at column j + 1 (after [CLS]). The
        inputs: input_ids (B, T) and attention (B, T) bool on device. Built with array
        operations, no loop per row."""
        tok = self.tokenizer
        offsets, values = list_column(column)
        lengths = np.diff(offsets)
        for group in length_batches(lengths + 2, self.max_batch_tokens, self.pad_multiple):
            flat, within = ragged_index(offsets, group)
            sizes = lengths[group] + 2  # [CLS] row [SEP]
            width = round_up(int(sizes.max()), self.pad_multiple)
            ids = np.full((len(group), width), tok.pad_token_id, dtype=np.int64)
            row = np.repeat(np.arange(len(group)), lengths[group])
            ids[row, within + 1] = values[flat]
            ids[:, 0] = tok.cls_token_id
            ids[np.arange(len(group)), sizes - 1] = tok.sep_token_id
            attention = np.arange(width)[None, :] < sizes[:, None]
            ids_t, attention_t = self.on_device(ids, attention)
            inputs = {"input_ids": ids_t, "attention": attention_t}
            yield group, inputs, flat, row, within

    def on_device(self, *arrays: np.ndarray) -> list:
        """Host arrays as tensors on the model's device. On a GPU they go through page-locked
        host memory, so the copies run asynchronously to the host."""
        tensors = [self.torch.from_numpy(a) for a in arrays]
        if self.device.type == "cuda":
            tensors = [t.pin_memory() for t in tensors]
        return [t.to(self.device, non_blocking=True) for t in tensors]

    def packed_groups(self, column: pa.Array):
        """A list<int> column of wordpieces as `[CLS] row [SEP]` sequences packed end to end,
        no padding, in length-sorted passes of at most `max_batch_tokens` tokens
        (engine.packed). Yields (row indexes, the pass's inputs for `forward`: input_ids and
        position_ids (T,), packing; `gather`: (B, L) indexes into the pass's (T, ...) outputs
        that put them in padded form, wordpiece j of row b at [b, j + 1], clamped to its
        [SEP]; and flat, row, within as `padded_groups` gives them)."""
        tok = self.tokenizer
        offsets, values = list_column(column)
        lengths = np.diff(offsets)
        for group in token_batches(lengths + 2, self.max_batch_tokens):
            flat, within = ragged_index(offsets, group)
            sizes = lengths[group] + 2
            starts = np.concatenate([[0], np.cumsum(sizes)])  # sequence b at starts[b]:starts[b + 1]
            row = np.repeat(np.arange(len(group)), lengths[group])
            ids = np.empty(int(starts[-1]), dtype=np.int64)
            ids[starts[row] + within + 1] = values[flat]
            ids[starts[:-1]], ids[starts[1:] - 1] = tok.cls_token_id, tok.sep_token_id
            positions = ragged_index(starts, np.arange(len(group)))[1]
            longest = int(sizes.max())
            gather = starts[:-1, None] + np.minimum(np.arange(longest)[None, :], sizes[:, None] - 1)
            ids_t, positions_t, cu_t, gather_t = self.on_device(ids, positions, starts.astype(np.int32), gather)
            inputs = {"input_ids": ids_t, "position_ids": positions_t, "packing": Packing(cu_t, longest)}
            yield group, inputs, gather_t, flat, row, within

    def groups(self, column: pa.Array):
        """`packed_groups` or `padded_groups` as `pack` says, in one form: (row indexes, the
        model's inputs on device, gather or None, flat, row, within)."""
        if self.pack:
            yield from self.packed_groups(column)
            return
        for group, inputs, flat, row, within in self.padded_groups(column):
            yield group, inputs, None, flat, row, within

    def classify(self, input_ids, attention, tokens: int | None = None):
        """Logits of `[CLS] ... [SEP]` rows padded to (B, T), in the model's dtype: (B, C) for
        a sequence classifier, (B, T, C) per token. `attention` (B, T) bool marks the real
        tokens, left-aligned. With `pack` the rows' real tokens run packed (engine.packed) in
        a pass of `tokens` + 1 tokens: `tokens` is a bound the host knows on how many are real
        (None: read back from the device, which waits for it); the tokens past the real ones
        belong to no sequence, and their outputs are not used."""
        if not self.pack:
            return self.model(input_ids=input_ids, attention_mask=additive_mask(attention, self.dtype))
        torch = self.torch
        n, width = input_ids.shape
        starts = torch.nn.functional.pad(attention.sum(1).cumsum(0), (1, 0))  # (B + 1,) sequence b at starts[b]:
        spare = int(starts[-1]) if tokens is None else tokens  # the first token past every real one
        column = torch.arange(width, device=input_ids.device)
        target = torch.where(attention, starts[:-1, None] + column, spare)  # (B, T): where each token goes
        ids = input_ids.new_full((spare + 1,), self.tokenizer.pad_token_id)
        ids.scatter_(0, target.flatten(), input_ids.flatten())
        positions = torch.zeros_like(ids).scatter_(0, target.flatten(), column.expand(n, width).flatten())
        logits = self.model.packed(ids, positions, Packing(starts.to(torch.int32), width))
        return logits if self.model.pooler is not None else logits[target]  # (B, C) or (B, T, C)

    def forward(self, inputs: dict):
        """Logits of one pass of `groups`: padded passes through `classify`, packed ones
        through `engine.bert.Bert.packed`."""
        if "attention" in inputs:
            return self.classify(inputs["input_ids"], inputs["attention"])
        return self.model.packed(inputs["input_ids"], inputs["position_ids"], inputs["packing"])

    @staticmethod
    def unpacked(outputs, gather):
        """Per-token outputs (T, ...) of a packed pass in padded form (B, L, ...), as `groups`
        says; a padded pass's outputs as they are."""
        return outputs if gather is None else outputs[gather]

    def logits(self, rows):
        """Float32 logits (N, C) of a sequence classifier for `[CLS] row [SEP]` of every row
        (a list<int> column, or a list of arrays), in input order, computed in length-sorted
        groups of at most `max_batch_tokens` tokens."""
        torch = self.torch
        column = rows if isinstance(rows, (pa.Array, pa.ChunkedArray)) else pa.array(rows, pa.list_(pa.int64()))
        out = torch.empty(len(column), self.model.num_labels)
        for group, inputs, *_ in self.groups(column):
            out[torch.from_numpy(group)] = self.forward(inputs).float().cpu()
        return out
