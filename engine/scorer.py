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
    waits for the device between steps (see `_KeptBound`). `classify(input_ids, attention,
    tokens)`: `ModelActor.classify`. Returns one bool array per row."""
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
    bound = _KeptBound(device)
    for i in range(longest):
        n = int((lengths > i).sum())  # rows that have a w_i
        kept[:n, i] = True
        k = kept[:n, : i + 1]  # (n, i+1)
        count = k.sum(1)  # tokens in s' per row
        at_most = bound.at_most(i, count)  # (n,) on the host
        width = round_up(int(at_most.max()) + 2, pad_multiple)
        # Kept tokens go to slots 1..count (after [CLS]); dropped ones to a spare last column.
        slot = torch.where(k, k.cumsum(1), width)
        ids = torch.full((n, width + 1), pad_id, dtype=torch.long, device=device)
        ids.scatter_(1, slot, tokens[:n, : i + 1])
        ids = ids[:, :width]
        ids[:, 0] = cls_id
        ids[torch.arange(n, device=device), count + 1] = sep_id
        attention = torch.arange(width, device=device)[None, :] < (count + 2)[:, None]
        probs = classify(ids, attention, int(at_most.sum()) + 2 * n).float().softmax(-1)
        p_aux = probs[torch.arange(n, device=device), target[:n]]
        decision = (p_full_t[:n] - p_aux) < delta
        important[:n, i] = decision
        kept[:n, i] = ~decision
        bound.record(kept[:n, : i + 1])
    important = important.cpu().numpy()
    out = [None] * n_rows
    for b, j in enumerate(order):
        out[j] = important[b, : lengths[b]].copy()
    return out


class _KeptBound:
    """How many tokens each row's s' holds at a step, at most, known to the host without
    waiting for the device: the width of a padded pass, the size of a packed one.

    At most one token joins s' per step, so a row that kept K_j tokens after step j holds at
    most K_j + (i - j) at step i (w_i included), and never more than i + 1. On a GPU the host
    reads each step's counts back asynchronously and uses the newest already arrived (a step
    or two old: a token or two of slack); on CPU the counts are exact."""

    def __init__(self, device):
        import torch

        self.torch, self.cuda = torch, device.type == "cuda"
        self.known_step, self.known = -1, np.zeros(0, np.int64)  # kept counts after known_step
        self.in_flight = []  # (event, pinned host tensor), one per step

    def at_most(self, step: int, count) -> np.ndarray:
        """Bounds (n,) on `count`, the device's (n,) tokens of s' per row at `step`."""
        if not self.cuda:
            return count.cpu().numpy()
        while self.in_flight and self.in_flight[0][0].query():
            _, self.known = self.in_flight.pop(0)
            self.known_step += 1
        n = count.shape[0]
        if self.known_step < 0:
            return np.full(n, step + 1)
        return np.minimum(step + 1, self.known[:n] + (step - self.known_step))

    def record(self, kept) -> None:
        """Queue the read-back of this step's kept counts, (n, i + 1) -> (n,)."""
        if not self.cuda:
            return
        host = self.torch.empty(kept.shape[0], dtype=self.torch.long, pin_memory=True)
        host.copy_(kept.sum(1), non_blocking=True)
        event = self.torch.cuda.Event()
        event.record()
        self.in_flight.append((event, host.numpy()))


class ImportanceScorer(ModelActor):
    """Ray Data actor: rows of (example_id, sentence_index, label, input_ids) from the labeled
    train split become `importance` rows (see engine.contract.schemas)."""

    model_class = "BertForSequenceClassification"

    def __init__(self, model_path: str, delta: float = 0.01, filter_stopwords: bool = True,
                 max_batch_tokens: int | None = None, dtype: str = "auto", cpu_threads: int | None = None,
                 pack: bool | None = None):
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
