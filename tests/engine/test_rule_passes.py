"""Schedules of the scoring rule's passes: every step of a sentence in consecutive passes, no
pass over the token budget, and rolling starts taking fewer passes than groups."""
import numpy as np
import pytest

from engine.rule_passes import group_starts, pass_groups, pass_tokens, rolling_starts


def review_like_lengths(count: int, seed: int = 0) -> np.ndarray:
    """Wordpieces per sentence shaped like the demo's review sentences (median ~20, tail to 126)."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(3.0, 0.5, count).astype(int), 1, 126)


def test_no_scoring_pass_exceeds_the_token_budget_and_every_sentence_is_in_one_group():
    lengths = review_like_lengths(3000)
    for budget, multiple in ((2048, 1), (65536, 8), (100, 1), (4096, 8)):
        groups = pass_groups(lengths, budget, multiple)
        assert sorted(np.concatenate(groups).tolist()) == list(range(len(lengths)))
        assert all(lengths[a].min() >= lengths[b].max() for a, b in zip(groups, groups[1:]))  # longest first
        for g in groups:
            steps = np.arange(lengths[g].max())
            rows_per_pass = (lengths[g][None, :] > steps[:, None]).sum(1)
            widest = rows_per_pass * (-(-(steps + 3) // multiple) * multiple)  # [CLS] + i kept + w_i + [SEP]
            assert len(g) == 1 or widest.max() <= budget


@pytest.mark.parametrize("budget", [100, 2048, 65536])
def test_no_rolling_pass_exceeds_the_token_budget(budget):
    lengths = np.minimum(review_like_lengths(3000, seed=1), budget - 2)  # each sentence's last step fits alone
    starts = rolling_starts(lengths, budget)
    tokens = pass_tokens(lengths, starts)
    assert tokens.max() <= budget
    assert (starts >= 0).all() and len(tokens) == (starts + lengths).max()


def test_rolling_starts_take_fewer_passes_than_groups_with_passes_nearer_the_budget():
    lengths = review_like_lengths(16000, seed=2)
    budget = 65536
    rolling = pass_tokens(lengths, rolling_starts(lengths, budget))
    grouped = pass_tokens(lengths, group_starts(lengths, budget))
    assert rolling.sum() == grouped.sum()  # the same steps, in other passes
    assert len(rolling) < 0.75 * len(grouped)
    assert np.median(rolling) > 0.9 * budget > np.median(grouped)


def test_sentences_that_fit_one_pass_all_start_at_once():
    """Few sentences: starting any later would only add passes (the longest sets the count)."""
    lengths = review_like_lengths(200, seed=3)
    starts = rolling_starts(lengths, 65536)
    assert (starts == 0).all() and len(pass_tokens(lengths, starts)) == lengths.max()


def test_a_sentence_over_the_budget_alone_has_its_passes_over_the_budget_to_itself():
    lengths = np.array([5, 40, 6, 3, 38])
    starts = rolling_starts(lengths, 30)  # steps 28.. of the 40- and 38-wordpiece sentences exceed 30 tokens
    tokens = pass_tokens(lengths, starts)
    for p in np.flatnonzero(tokens > 30):
        active = (starts <= p) & (p < starts + lengths)
        assert active.sum() == 1 and lengths[active][0] >= 28
    assert len(tokens) == 40 + 38  # the two long ones one after the other, the short ones beside them


def test_group_starts_keep_each_group_at_one_step():
    lengths = review_like_lengths(2000, seed=4)
    starts = group_starts(lengths, 4096, 8)
    groups = pass_groups(lengths, 4096, 8)
    assert [len(set(starts[g])) for g in groups] == [1] * len(groups)
    assert len(pass_tokens(lengths, starts)) == sum(int(lengths[g].max()) for g in groups)


def test_sentences_without_wordpieces_take_no_pass():
    lengths = np.array([0, 4, 0])
    assert len(pass_tokens(lengths, rolling_starts(lengths, 64))) == 4
    assert len(pass_tokens(np.array([0]), rolling_starts(np.array([0]), 64))) == 0
