"""Stage 2: which wordpieces of a labeled sentence the fine-tuned scorer needs to stay right.

The rule (Gu et al. 2020; README.md, "Method, as implemented"): with P_full = P(y | [CLS] s [SEP]), build s'
left to right; after appending w_i, S(w_i) = P_full - P(y | [CLS] s' [SEP]). If S(w_i) < delta,
w_i is important and is taken out of s' again. Only correctly classified sentences are scored.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from engine.contract import IMPORTANCE, SCHEMAS
from engine.models import ModelActor, list_column, ragged_index, round_up
from engine.rule_passes import group_starts, rolling_starts, steps_by_pass
from engine.stopwords import StopWords


def importance_decisions(classify, lengths: np.ndarray, values: np.ndarray, labels: np.ndarray, p_full: np.ndarray,
                         delta: float, cls_id: int, sep_id: int, pad_id: int, device, starts: np.ndarray,
                         pad_multiple: int = 1, count_lag: int | None = None) -> np.ndarray:
    """The rule, batched, for rows of `lengths` (R,) wordpieces whose wordpieces are `values`,
    row after row: pass p runs step p - starts[r] of every row r that has one (`starts`: a
    schedule, engine.rule_passes). The auxiliary sequences stay on `device` as one tensor and
    the decisions are taken there; the host never waits for the device between passes (see
    `_KeptBound`; `count_lag`: for tests, see there). `classify(input_ids, attention, tokens)`:
    `ModelActor.classify`. Returns the decisions (bool) in the order of `values`."""
    import torch

    lengths = np.asarray(lengths, dtype=np.int64)
    n_rows, longest = len(lengths), int(lengths.max())
    at_row = np.repeat(np.arange(n_rows), lengths)  # of every wordpiece: its row, its position there
    within = ragged_index(np.concatenate([[0], np.cumsum(lengths)]), np.arange(n_rows))[1]
    tokens = np.full((n_rows, longest), pad_id, dtype=np.int64)
    tokens[at_row, within] = values
    tokens = torch.from_numpy(tokens).to(device)
    target = torch.as_tensor(labels, dtype=torch.long, device=device)
    p_full_t = torch.as_tensor(p_full, dtype=torch.float32, device=device)
    kept = torch.zeros(n_rows, longest, dtype=torch.bool, device=device)  # (R, L): w_j in s'
    important = torch.zeros_like(kept)
    # Every pass's (row, step) pairs, worked out on the host and copied to the device once:
    # a pass's slice of them then waits for nothing.
    row, step, bounds = steps_by_pass(lengths, starts)  # pass p: row[bounds[p]:bounds[p + 1]]
    row_t, step_t = (torch.from_numpy(x).to(device) for x in (row, step))
    bound = _KeptBound(device, count_lag)
    for p in range(len(bounds) - 1):
        a, b = int(bounds[p]), int(bounds[p + 1])
        if a == b:
            continue
        r, i = row_t[a:b], step_t[a:b]  # (n,) rows and their steps
        n, columns = b - a, int(step[a:b].max()) + 1
        kept[r, i] = True  # w_i joins s', for now
        k = kept[r, :columns]  # (n, columns): s' of each row (nothing past its step is kept yet)
        count = k.sum(1)  # tokens in s' per row
        at_most = bound.at_most(p, row[a:b], step[a:b], count)  # (n,) on the host
        width = round_up(int(at_most.max()) + 2, pad_multiple)
        # Kept tokens go to slots 1..count (after [CLS]); dropped ones to a spare last column.
        slot = torch.where(k, k.cumsum(1), width)
        ids = torch.full((n, width + 1), pad_id, dtype=torch.long, device=device)
        ids.scatter_(1, slot, tokens[r, :columns])
        ids = ids[:, :width]
        ids[:, 0] = cls_id
        ids[torch.arange(n, device=device), count + 1] = sep_id
        attention = torch.arange(width, device=device)[None, :] < (count + 2)[:, None]
        probs = classify(ids, attention, int(at_most.sum()) + 2 * n).float().softmax(-1)
        p_aux = probs[torch.arange(n, device=device), target[r]]
        decision = (p_full_t[r] - p_aux) < delta
        important[r, i] = decision
        kept[r, i] = ~decision
        bound.record(p, kept)
    return important.cpu().numpy()[at_row, within]


class _KeptBound:
    """How many tokens each row's s' holds at a pass, at most, known to the host without
    waiting for the device: the width of a padded pass, the size of a packed one.

    At most one token joins a row's s' per pass, so a row that kept K tokens after pass q holds
    at most K + (p - q) at pass p (w_i included), and never more than its step + 1. On a GPU the
    host reads each pass's counts back asynchronously and uses the newest already arrived (a
    pass or two old: a token or two of slack); on CPU the counts are exact, or with `lag`
    (tests) they arrive `lag` passes after they are taken, as late read-backs would."""

    def __init__(self, device, lag: int | None = None):
        import torch

        self.torch, self.cuda, self.lag = torch, device.type == "cuda", lag
        self.known_pass, self.known = -1, np.zeros(0, np.int64)  # every row's kept count after known_pass
        self.in_flight = []  # (arrived(now) -> bool, pass, host counts (R,)), one per pass

    def at_most(self, p: int, rows: np.ndarray, steps: np.ndarray, count) -> np.ndarray:
        """Bounds (n,) on `count`, the device's (n,) tokens of s' of `rows` at their `steps`
        in pass `p`."""
        if not self.cuda and self.lag is None:
            return count.cpu().numpy()
        while self.in_flight and self.in_flight[0][0](p):
            _, self.known_pass, self.known = self.in_flight.pop(0)
        if self.known_pass < 0:
            return steps + 1
        return np.minimum(steps + 1, self.known[rows] + (p - self.known_pass))

    def record(self, p: int, kept) -> None:
        """Queue the read-back of every row's kept count after pass `p`, (R, L) -> (R,)."""
        if self.cuda:
            host = self.torch.empty(kept.shape[0], dtype=self.torch.long, pin_memory=True)
            host.copy_(kept.sum(1), non_blocking=True)
            event = self.torch.cuda.Event()
            event.record()
            self.in_flight.append((lambda now, event=event: event.query(), p, host.numpy()))
        elif self.lag is not None:
            self.in_flight.append((lambda now, p=p: now - p > self.lag, p, kept.sum(1).numpy()))


class ImportanceScorer(ModelActor):
    """Ray Data actor: rows of (example_id, sentence_index, label, input_ids) from the labeled
    train split become `importance` rows (see engine.contract.schemas)."""

    model_class = "BertForSequenceClassification"
    batch_format = "pyarrow"

    def __init__(self, model_path: str, delta: float = 0.01, filter_stopwords: bool = True,
                 max_batch_tokens: int | None = None, dtype: str = "auto", cpu_threads: int | None = None,
                 pack: bool | None = None, compile_model: bool = False):
        super().__init__(model_path, max_batch_tokens, dtype, cpu_threads, pack, compile_model)
        self.delta = delta
        self.stopwords = StopWords(self.tokenizer.forms) if filter_stopwords else None

    def schedule(self, lengths: np.ndarray) -> np.ndarray:
        """The pass each sentence of `lengths` wordpieces starts in (engine.rule_passes). Packed
        passes take any mix of steps at the cost of their tokens alone, so sentences start as
        soon as there is room; padded ones keep a pass's rows at one step (one width)."""
        if self.pack:
            return rolling_starts(lengths, self.max_batch_tokens)
        return group_starts(lengths, self.max_batch_tokens, self.pad_multiple)

    def process(self, batch) -> pa.Table:
        rows, column = self.rows_and_wordpieces(batch)
        offsets, values = list_column(column)  # every row's wordpieces, row after row
        lengths = np.diff(offsets)
        labels = rows.column("label").to_numpy().astype(np.int64)
        probs = self.logits(column).softmax(-1).numpy()  # (N, C)
        p_full = probs[np.arange(len(labels)), labels].astype(np.float32)
        correct = probs.argmax(1) == labels
        important = np.zeros(len(values), dtype=bool)
        scored = np.flatnonzero(correct)
        if len(scored):
            flat, _ = ragged_index(offsets, scored)
            tok = self.tokenizer
            important[flat] = importance_decisions(
                self.classify, lengths[scored], values[flat], labels[scored], p_full[scored], self.delta,
                tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, self.device, self.schedule(lengths[scored]),
                self.pad_multiple)
        # The tagger's targets: misclassified sentences all 0, stop words 0.
        targets = important & np.repeat(correct, lengths)
        if self.stopwords is not None:
            targets &= ~self.stopwords.at(values, offsets)
        row_offsets = pa.array(offsets, pa.int32())
        return pa.table({
            "example_id": rows.column("example_id").cast(pa.int64()),
            "sentence_index": rows.column("sentence_index").cast(pa.int32()),
            "label": pa.array(labels, pa.int32()),
            "input_ids": column,
            "important": pa.ListArray.from_arrays(row_offsets, pa.array(important)),
            "labels": pa.ListArray.from_arrays(row_offsets, pa.array(targets.astype(np.int8))),
            "p_full": pa.array(p_full),
            "correct": pa.array(correct),
        }, schema=SCHEMAS[IMPORTANCE])
