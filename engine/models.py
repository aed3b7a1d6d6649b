"""Loading checkpoints for inference, and the base of every model actor."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from engine.contract import fs
from engine.readers import InputError

SUPPORTED_MODEL_TYPES = ("bert",)
INFERENCE_DTYPES = ("auto", "float32", "bfloat16")


def check_bert_checkpoint(path: str, key: str = "model") -> dict:
    """The checkpoint's config.json, after checking it is a BERT model with a fast tokenizer."""
    config_path = fs.join(path, "config.json")
    if not fs.is_file(config_path):
        raise InputError(f"{key}: {path} is not a Hugging Face checkpoint directory (no config.json)")
    config = json.loads(fs.read_bytes(config_path))
    if config.get("model_type") not in SUPPORTED_MODEL_TYPES:
        raise InputError(f"{key}: {path} has model_type {config.get('model_type')!r}; taskpt "
                         f"supports BERT-family encoders with model_type in {SUPPORTED_MODEL_TYPES}")
    if not fs.is_file(fs.join(path, "tokenizer.json")):
        raise InputError(f"{key}: {path} has no tokenizer.json (a fast tokenizer is required)")
    if not any(fs.is_file(fs.join(path, f)) for f in ("model.safetensors", "model.safetensors.index.json")):
        raise InputError(f"{key}: {path} has no safetensors weights (model.safetensors)")
    return config


def round_up(x, multiple: int):
    """`x` (an int, numpy array or tensor) rounded up to a multiple of `multiple`."""
    return -(-x // multiple) * multiple


def packed_width(sizes: np.ndarray) -> int:
    """The width of packed rows for sequences of `sizes` tokens: the longest rounded up to a
    power of two, at least 128 (for review sentences rows of 64 were left 23% empty, of 128 8%)."""
    return max(128, 1 << int(sizes.max() - 1).bit_length())


def length_batches(lengths: np.ndarray, max_tokens: int, pad_multiple: int = 1) -> list[np.ndarray]:
    """Row indexes grouped by similar length, each group padded to its longest row (rounded up
    to `pad_multiple`) holding at most `max_tokens` tokens (at least one row per group). Less
    padding than fixed batches. Budgeting the rounded width matters: short rows rounded up to
    8 made GPU passes of up to 1.8x the budget (bench/grouping.py, 200,000 review sentences)."""
    order = np.argsort(lengths, kind="stable")
    widths = round_up(np.asarray(lengths), pad_multiple)
    groups, start = [], 0
    for end in range(1, len(order) + 1):
        if end == len(order) or (end + 1 - start) * widths[order[end]] > max_tokens:
            groups.append(order[start:end])
            start = end
    return groups


def pack_rows(sizes: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Sequences of `sizes` tokens (each at most `width`) placed end to end in rows of `width`:
    (row, first column) of each sequence, and the rows used. Longest first; each row is then
    topped up with the shortest sequences that still fit, so few columns stay empty (a
    5,700-sentence shard of review sentences in rows of 128: 8%, against ~50% padding in sorted
    groups of 65,536 tokens, each padded to its longest)."""
    order = np.argsort(-sizes, kind="stable").tolist()
    size = sizes.tolist()
    row, start = np.zeros(len(order), np.int64), np.zeros(len(order), np.int64)
    lo, hi, rows = 0, len(order) - 1, 0
    while lo <= hi:
        i = order[lo]
        row[i], start[i], used = rows, 0, size[i]
        lo += 1
        while lo <= hi and used + size[order[hi]] <= width:
            j = order[hi]
            row[j], start[j] = rows, used
            used += size[j]
            hi -= 1
        rows += 1
    return row, start, rows


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

    Hugging Face uses a 4D mask as given. From a 2D mask its SDPA path first asks `mask.all()`
    on the host, which waits for the device before every forward pass: the GPU then idles
    while Python launches the next pass instead of running it behind the one in flight."""
    import torch

    return (1.0 - attention[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


def without_cudnn_attention(torch) -> None:
    """Keeps PyTorch's scaled-dot-product attention off its cuDNN kernel in this process (flash
    and memory-efficient attention remain). cuDNN attention builds a plan for each batch shape it
    has not seen, and the engine's passes change shape all the time (the bench corpus's 139
    tagging passes have 75 shapes). On an H200, BERT-base (docs/performance.md, 2026-11-27): the
    tagger's passes shard by shard ran at 44,136 sentences/s the first time with it against
    63,036 without, 59,615 against 64,315 again; scoring 989 against 3,044 the first time, 3,436
    against 3,869 again. A process-wide flag: a model actor has its process to itself."""
    torch.backends.cuda.enable_cudnn_sdp(False)


class ModelActor:
    """A Ray Data callable class: loads its model once in `__init__`, then maps batches.

    Subclasses set `model_class` and fill in `process(batch)`. Runs on CUDA when a GPU is
    visible (the pool asks for one per actor), else on CPU. `dtype` "auto" is bf16 on CUDA and
    fp32 on CPU; "float32" keeps a GPU in fp32 (the published numerics). `cpu_threads`: torch
    threads on CPU (None: what Ray gave the actor, one thread per reserved CPU). `pack`: `groups`
    packs sequences in rows instead of padding groups (used by the tagger). On CUDA attention
    stays off cuDNN's kernel (`without_cudnn_attention`).
    """

    model_class: str = ""

    def __init__(self, model_path: str, max_batch_tokens: int | None = None, dtype: str = "auto",
                 cpu_threads: int | None = None, pack: bool = False):
        import torch
        import transformers

        from engine.text import load_tokenizer

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
        self.tokenizer = load_tokenizer(model_path)
        model = getattr(transformers, self.model_class).from_pretrained(model_path, dtype=self.dtype, use_safetensors=True)
        self.model = model.to(self.device).eval()
        # A GPU forward pass costs ~6 ms of Python whatever its size, so passes are large
        # there (bench/tag.py's ceiling on an H200, BERT-base: 43K sentences/s at 16K tokens,
        # 64K/s at 64K); on CPU smaller passes stay in cache (2 cores: 1-4K tokens ~1.5x 16K).
        self.max_batch_tokens = max_batch_tokens or (65536 if self.device.type == "cuda" else 2048)
        # Padded widths rounded up to 8 on a GPU (tensor-core tiles); exact on CPU.
        self.pad_multiple = 8 if self.device.type == "cuda" else 1
        # Sequences packed end to end in fixed-width rows (`groups`) instead of padded groups:
        # a GPU's large passes span many lengths, so padded groups waste much of each pass there,
        # and packed passes have few distinct shapes (compute.pack_sequences, docs/config.md).
        self.pack = pack

    def __call__(self, batch):
        with self.torch.inference_mode():
            return self.process(batch)

    def process(self, batch):
        raise NotImplementedError

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
        """A list<int> column of wordpieces as `[CLS] row [SEP]` sequences packed end to end in
        rows of one width (the longest sequence rounded up to a power of two, at least 128),
        at most `max_batch_tokens` tokens per pass. Each sequence attends to itself only (a
        block-diagonal additive mask, (R, 1, W, W)) and its positions restart at 0, so its
        outputs are those of the sequence alone. Yields (row indexes, the model's inputs on
        device, `gather`: (B, T) indexes into the pass's flattened (R * W) outputs that put
        them back in padded form, wordpiece j of row b at [b, j + 1], and flat, row, within
        as `padded_groups` gives them)."""
        torch, tok = self.torch, self.tokenizer
        offsets, values = list_column(column)
        lengths = np.diff(offsets)
        if len(lengths) == 0:
            return
        sizes = lengths + 2
        width = packed_width(sizes)
        row_of, start_of, n_rows = pack_rows(sizes, width)
        per_pass = max(1, self.max_batch_tokens // width)
        for first in range(0, n_rows, per_pass):
            group = np.flatnonzero((row_of >= first) & (row_of < first + per_pass))
            group = group[np.argsort(row_of[group] * width + start_of[group], kind="stable")]
            n_pass = round_up(min(per_pass, n_rows - first), self.pad_multiple)
            row, start, length = row_of[group] - first, start_of[group], lengths[group]
            flat, within = ragged_index(offsets, group)
            seq = np.repeat(np.arange(len(group)), length)
            ids = np.full((n_pass, width), tok.pad_token_id, dtype=np.int64)
            positions = np.zeros((n_pass, width), dtype=np.int64)
            segment = np.full((n_pass, width), -1, dtype=np.int64)  # which sequence holds each token
            ids[row[seq], start[seq] + 1 + within] = values[flat]
            ids[row, start], ids[row, start + length + 1] = tok.cls_token_id, tok.sep_token_id
            # Every token of every sequence ([CLS] and [SEP] included): its sequence, its position in it.
            owner = np.repeat(np.arange(len(group)), length + 2)
            span = ragged_index(np.concatenate([[0], np.cumsum(length + 2)]), np.arange(len(group)))[1]
            positions[row[owner], start[owner] + span] = span
            segment[row[owner], start[owner] + span] = owner
            longest = int(length.max()) + 2
            gather = (row * width + start)[:, None] + np.minimum(np.arange(longest)[None, :], (length + 1)[:, None])
            ids_t, positions_t, segment_t, gather_t = self.on_device(ids, positions, segment, gather)
            same = (segment_t[:, :, None] == segment_t[:, None, :]) & (segment_t[:, None, :] >= 0)  # (R, W, W)
            mask = (1.0 - same[:, None].to(self.dtype)) * torch.finfo(self.dtype).min  # (R, 1, W, W)
            inputs = {"input_ids": ids_t, "attention_mask": mask, "position_ids": positions_t}
            yield group, inputs, gather_t, flat, seq, within

    def groups(self, column: pa.Array):
        """`packed_groups` or `padded_groups` as `pack` says, in one form: (row indexes, the
        model's inputs on device, gather or None, flat, row, within)."""
        if self.pack:
            yield from self.packed_groups(column)
            return
        for group, inputs, flat, row, within in self.padded_groups(column):
            yield group, inputs, None, flat, row, within

    def classify(self, input_ids, attention):
        """Logits of `[CLS] ... [SEP]` rows padded to (B, T), in the model's dtype: (B, C) for
        a sequence classifier, (B, T, C) per token. `attention` (B, T) bool marks the real
        tokens, left-aligned."""
        return self.model(input_ids=input_ids, attention_mask=additive_mask(attention, self.dtype)).logits

    def forward(self, inputs: dict):
        """Logits of one pass of `groups`: padded passes through `classify`, packed ones through
        Hugging Face's forward (their block-diagonal mask and restarting positions)."""
        if "attention" in inputs:
            return self.classify(inputs["input_ids"], inputs["attention"])
        return self.model(**inputs).logits

    @staticmethod
    def unpacked(outputs, gather):
        """Per-token outputs (R, W, ...) of a pass in padded form (B, T, ...), as `groups` says."""
        return outputs if gather is None else outputs.flatten(0, 1)[gather]

    def logits(self, rows: list[np.ndarray]):
        """Float32 logits of `[CLS] row [SEP]` for every row, in input order, computed in
        length-sorted groups of at most `max_batch_tokens` tokens. Returns a list of tensors."""
        out = [None] * len(rows)
        column = pa.array(rows, pa.list_(pa.int64()))
        for group, inputs, *_ in self.padded_groups(column):
            logits = self.forward(inputs).float().cpu()
            for j, i in enumerate(group):
                out[i] = logits[j]
        return out
