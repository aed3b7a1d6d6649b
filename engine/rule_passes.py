"""Which steps of the scoring rule (engine.scorer) share a forward pass: a schedule.

A sentence of n wordpieces takes n steps, one per pass (each step needs the one before it
decided). A schedule gives every sentence the pass of its first step; step i then runs in pass
start + i. Step i's auxiliary sequence, [CLS] + the kept w_0..w_{i-1} + w_i + [SEP], holds at
most i + 3 tokens, so a schedule bounds every pass's tokens before any decision is taken.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from engine.models import ragged_index, round_up


def group_starts(lengths: np.ndarray, max_tokens: int, pad_multiple: int = 1) -> np.ndarray:
    """Sentences in `pass_groups`, each group starting when the one before has finished: all
    of a pass's sentences are at the same step, so a padded pass is as wide as its rows.
    For padded passes (a mix of steps would pad every row to the widest)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    starts, at = np.zeros(len(lengths), dtype=np.int64), 0
    for group in pass_groups(lengths, max_tokens, pad_multiple):
        starts[group] = at
        at += int(lengths[group].max())
    return starts


def rolling_starts(lengths: np.ndarray, max_tokens: int) -> np.ndarray:
    """Each sentence, longest first, starts at the earliest pass from which every one of its
    steps fits within `max_tokens` beside the sentences already placed. For packed passes,
    where sentences at any mix of steps pay for their own tokens only: short sentences fill
    the room that long ones leave in their early passes, and passes run near the budget
    instead of rising from a few tokens to it group after group (review sentences at 65,536
    tokens: 8,192 in 63 passes where groups take 91, 16,000 in 101 where they take 170).
    A sentence whose later steps exceed the budget alone has those passes to itself."""
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.zeros(len(lengths), dtype=np.int64)
    if len(lengths) == 0:
        return starts
    load = np.zeros(int(lengths.sum() + lengths.max()) + 1, dtype=np.int64)  # tokens placed per pass, at most
    end = 0  # passes used so far
    # Sentences of one length are placed together: at each start as many as fit, earliest first,
    # which is where one-by-one earliest placement would put them.
    for n in np.unique(lengths[lengths > 0])[::-1]:  # a sentence of no wordpieces has no steps
        rows = np.flatnonzero(lengths == n)
        steps = np.arange(n) + 3  # tokens of steps 0..n-1, at most
        placed = 0
        while placed < len(rows):
            window = sliding_window_view(load[:end + n], n)  # (end + 1, n): the passes from each start
            fit = ((max_tokens - window) // steps).min(1)  # sentences of length n that fit from each start
            start = int(np.argmax(fit > 0)) if fit.max() > 0 else end
            take = min(len(rows) - placed, max(int(fit[start]), 1))
            starts[rows[placed:placed + take]] = start
            load[start:start + n] += take * steps
            placed += take
            end = max(end, start + int(n))
    return starts


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


def steps_by_pass(lengths: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A schedule's steps in pass order: (row, step) of every step of every sentence, and
    offsets (passes + 1,): pass p runs the steps offsets[p]:offsets[p + 1]."""
    lengths, starts = np.asarray(lengths, dtype=np.int64), np.asarray(starts, dtype=np.int64)
    row, step = np.repeat(np.arange(len(lengths)), lengths), \
        ragged_index(np.concatenate([[0], np.cumsum(lengths)]), np.arange(len(lengths)))[1]
    at = starts[row] + step  # the pass each step runs in
    order = np.argsort(at, kind="stable")
    return row[order], step[order], np.concatenate([[0], np.cumsum(np.bincount(at))]).astype(np.int64)


def pass_tokens(lengths: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Tokens of every pass of a schedule, at most (every wordpiece kept): (passes,)."""
    _, step, offsets = steps_by_pass(lengths, starts)
    return np.diff(np.concatenate([[0], np.cumsum(step + 3)])[offsets])
