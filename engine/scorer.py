"""Stage 2: which wordpieces of a labeled sentence the fine-tuned scorer needs to stay right.

The rule (Gu et al. 2020; README.md, "Method, as implemented"): with P_full = P(y | [CLS] s [SEP]), build s'
left to right; after appending w_i, S(w_i) = P_full - P(y | [CLS] s' [SEP]). If S(w_i) < delta,
w_i is important and is taken out of s' again. Only correctly classified sentences are scored.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.contract import IMPORTANCE, SCHEMAS
from engine.models import ModelActor, round_up
from engine.stopwords import stopword_mask


def importance_decisions(classify, rows: list[np.ndarray], labels: np.ndarray, p_full: np.ndarray,
                         delta: float, cls_id: int, sep_id: int, pad_id: int, device,
                         pad_multiple: int = 1) -> list[np.ndarray]:
    """The rule, batched: step i of every sentence runs in one forward pass, the auxiliary
    sequences stay on `device` as one tensor and the decisions are taken there. The host never
    waits for the device between steps (see `_PrefixWidth`). `classify(input_ids, attention)`:
    `ModelActor.classify`. Returns one bool array per row."""
    import torch

    # Longest first: the rows that still have a w_i at step i are a prefix of the batch.
    order = np.argsort([-len(r) for r in rows], kind="stable")
    lengths = np.array([len(rows[j]) for j in order])
    n_rows, longest = len(rows), int(lengths[0])
    tokens = np.full((n_rows, longest), pad_id, dtype=np.int64)
    for b, j in enumerate(order):
        tokens[b, :lengths[b]] = rows[j]
    tokens = torch.from_numpy(tokens).to(device)
    target = torch.as_tensor(labels[order], dtype=torch.long, device=device)
    p_full_t = torch.as_tensor(p_full[order], dtype=torch.float32, device=device)
    kept = torch.zeros(n_rows, longest, dtype=torch.bool, device=device)  # (B, L): w_j in s'
    important = torch.zeros_like(kept)
    width_bound = _PrefixWidth(device)
    for i in range(longest):
        n = int((lengths > i).sum())  # rows that have a w_i
        kept[:n, i] = True
        k = kept[:n, : i + 1]  # (n, i+1)
        count = k.sum(1)  # tokens in s' per row
        width = round_up(width_bound.at_most(i, count) + 2, pad_multiple)
        # Kept tokens go to slots 1..count (after [CLS]); dropped ones to a spare last column.
        slot = torch.where(k, k.cumsum(1), width)
        ids = torch.full((n, width + 1), pad_id, dtype=torch.long, device=device)
        ids.scatter_(1, slot, tokens[:n, : i + 1])
        ids = ids[:, :width]
        ids[:, 0] = cls_id
        ids[torch.arange(n, device=device), count + 1] = sep_id
        attention = torch.arange(width, device=device)[None, :] < (count + 2)[:, None]
        probs = classify(ids, attention).float().softmax(-1)
        p_aux = probs[torch.arange(n, device=device), target[:n]]
        decision = (p_full_t[:n] - p_aux) < delta
        important[:n, i] = decision
        kept[:n, i] = ~decision
        width_bound.record(i, kept[:n, : i + 1])
    important = important.cpu().numpy()
    out = [None] * n_rows
    for b, j in enumerate(order):
        out[j] = important[b, : lengths[b]].copy()
    return out


class _PrefixWidth:
    """The longest s' of a step, known to the host without waiting for the device.

    At most one token joins s' per step, so if K_j is the most tokens any row kept after step
    j, s' at step i has at most K_j + (i - j) tokens. On a GPU the host reads K back
    asynchronously and uses the newest value already arrived (a step or two old: at most a
    column or two of extra padding); on CPU it is exact."""

    def __init__(self, device):
        import torch

        self.torch, self.cuda = torch, device.type == "cuda"
        self.known_step, self.known_max = -1, 0
        self.in_flight = []  # (step, event, pinned host tensor)

    def at_most(self, step: int, count) -> int:
        if not self.cuda:
            return int(count.max())
        while self.in_flight and self.in_flight[0][1].query():
            self.known_step, _, host = self.in_flight.pop(0)
            self.known_max = int(host)
        return min(step + 1, self.known_max + step - self.known_step)

    def record(self, step: int, kept) -> None:
        if not self.cuda:
            return
        host = self.torch.empty((), dtype=self.torch.long, pin_memory=True)
        host.copy_(kept.sum(1).max(), non_blocking=True)
        event = self.torch.cuda.Event()
        event.record()
        self.in_flight.append((step, event, host))


class ImportanceScorer(ModelActor):
    """Ray Data actor: rows of (example_id, sentence_index, label, input_ids) from the labeled
    train split become `importance` rows (see engine.contract.schemas)."""

    model_class = "BertForSequenceClassification"

    def __init__(self, model_path: str, delta: float = 0.01, filter_stopwords: bool = True,
                 max_batch_tokens: int | None = None, dtype: str = "auto", cpu_threads: int | None = None,
                 pack: bool = False):
        super().__init__(model_path, max_batch_tokens, dtype, cpu_threads, pack)
        self.delta = delta
        self.stopwords = stopword_mask(self.tokenizer) if filter_stopwords else None

    def process(self, batch: dict[str, np.ndarray]) -> pa.Table:
        rows = [np.asarray(r, dtype=np.int64) for r in batch["input_ids"]]
        labels = np.asarray(batch["label"], dtype=np.int64)
        probs = np.stack([x.softmax(-1).numpy() for x in self.logits(rows)])
        p_full = probs[np.arange(len(rows)), labels].astype(np.float32)
        correct = probs.argmax(1) == labels
        important = [np.zeros(len(r), dtype=bool) for r in rows]
        scored = np.flatnonzero(correct)
        tok = self.tokenizer
        # Sentences of similar length share passes; each pass stays within the token budget.
        lengths = np.array([len(rows[i]) for i in scored])
        for group in pass_groups(lengths, self.max_batch_tokens, self.pad_multiple):
            group = scored[group]
            decisions = importance_decisions(
                self.classify, [rows[i] for i in group], labels[group], p_full[group], self.delta,
                tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, self.device, self.pad_multiple)
            for i, d in zip(group, decisions):
                important[i] = d
        train_labels = [
            (imp & ~self.stopwords[r] if self.stopwords is not None else imp) & ok
            for imp, r, ok in zip(important, rows, correct)
        ]
        return pa.table({
            "example_id": np.asarray(batch["example_id"], dtype=np.int64),
            "sentence_index": np.asarray(batch["sentence_index"], dtype=np.int32),
            "label": labels.astype(np.int32),
            "input_ids": [r.astype(np.int32) for r in rows],
            "important": important,
            "labels": [t.astype(np.int8) for t in train_labels],
            "p_full": p_full,
            "correct": correct,
        }, schema=SCHEMAS[IMPORTANCE])


def pass_groups(lengths: np.ndarray, max_tokens: int, pad_multiple: int = 1) -> list[np.ndarray]:
    """Indexes of `lengths` (wordpieces per sentence) in groups scored together, longest first.

    A group of n sentences runs one pass per wordpiece of its longest; pass i holds the n_i
    sentences longer than i, each at most [CLS] + i kept + w_i + [SEP] wide, so its cost is
    at most n_i * (i + 3) tokens (i + 3 rounded up to `pad_multiple`),
    and most are far narrower than the sentences. A group grows while its largest pass fits
    `max_tokens`: fewer groups than budgeting every row at its full length, and the passes a
    group costs are set by its longest sentence alone (4,000 review sentences at 65,536
    tokens: 76 passes of the rule instead of 130, besides the full-sentence passes)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    if len(order) == 0:
        return []
    longest = int(lengths[order[0]])
    width = round_up(np.arange(longest) + 3, pad_multiple)  # bound on pass i's width
    groups, start, active = [], 0, np.zeros(longest, dtype=np.int64)  # active[i]: rows in pass i
    for k, j in enumerate(order):
        n = int(lengths[j])
        active[:n] += 1
        passes = active[:int(lengths[order[start]])]  # rows per pass
        if k > start and (passes * width[:len(passes)]).max() > max_tokens:
            groups.append(order[start:k])
            start, active[:] = k, 0
            active[:n] = 1
    groups.append(order[start:])
    return groups
