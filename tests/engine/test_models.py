"""Model actors hand the model a ready 4D mask (same outputs as a 2D mask, and no host wait)
and group rows into forward passes that waste little on padding or on extra passes."""
import numpy as np
import pytest
import torch
from transformers import BertForTokenClassification

from engine.models import additive_mask, length_batches, width_batches
from engine.scorer import ImportanceScorer
from engine.tagger import MaskTagger
from engine.text import load_tokenizer

TEXTS = ["the movie was great fun and the acting was wonderful", "bad", "i love it so much you know"]


def _rows(model_dir):
    tokenizer = load_tokenizer(model_dir)
    return [np.array(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in TEXTS]


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_additive_mask_gives_the_logits_of_a_2d_padding_mask(tiny_tagger, attn_implementation):
    model = BertForTokenClassification.from_pretrained(tiny_tagger, attn_implementation=attn_implementation).eval()
    ids = torch.tensor([[2, 10, 11, 12, 3], [2, 13, 3, 0, 0]])
    attention = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    with torch.inference_mode():
        expected = model(input_ids=ids, attention_mask=attention).logits
        got = model(input_ids=ids, attention_mask=additive_mask(attention, model.dtype)).logits
        unmasked = model(input_ids=ids).logits
    seen = attention.bool()
    torch.testing.assert_close(got[seen], expected[seen], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(unmasked[1, :3], expected[1, :3], atol=1e-4), "padding must change the short row"


def _only_4d_masks(actor):
    """Make the actor's model refuse any mask a host-side check would run on."""
    forward = actor.model.forward
    shapes = []

    def checked(*args, attention_mask=None, **kwargs):
        assert attention_mask is not None and attention_mask.dim() == 4, "a 2D mask makes the host wait for the device"
        shapes.append(tuple(attention_mask.shape))
        return forward(*args, attention_mask=attention_mask, **kwargs)

    actor.model.forward = checked
    return shapes


def test_tagger_forward_passes_get_4d_masks(tiny_tagger):
    rows = _rows(tiny_tagger)
    tagger = MaskTagger(tiny_tagger, max_batch_tokens=16)
    shapes = _only_4d_masks(tagger)
    tagger({"doc_id": np.arange(3), "sentence_index": np.zeros(3, np.int32), "input_ids": np.array(rows, dtype=object)})
    assert len(shapes) >= 2, "more than one group was run"


def test_scorer_forward_passes_get_4d_masks(tiny_classifier):
    rows = _rows(tiny_classifier)
    scorer = ImportanceScorer(tiny_classifier, filter_stopwords=False)
    shapes = _only_4d_masks(scorer)
    out = scorer({"example_id": np.arange(3), "sentence_index": np.zeros(3, np.int32), "label": np.zeros(3, np.int64),
                  "input_ids": np.array(rows, dtype=object)})
    assert out.num_rows == 3
    assert len(shapes) > 1, "the full-sentence pass and the steps of the rule all went through the check"


def _padded(groups, lengths, multiple):
    return sum(len(g) * -(-int(lengths[g].max()) // multiple) * multiple for g in groups)


@pytest.mark.parametrize("pass_cost", [0, 16, 12288])
def test_width_batches_cover_every_row_once_within_the_token_budget(pass_cost):
    lengths = np.random.default_rng(0).integers(3, 120, 3000)
    groups = width_batches(lengths, 4096, multiple=8, pass_cost=pass_cost)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(lengths)))
    assert all(len(g) * -(-int(lengths[g].max()) // 8) * 8 <= 4096 for g in groups)
    # A row longer than the budget still gets a pass of its own.
    assert [g.tolist() for g in width_batches(np.array([5, 300]), 256)] == [[0], [1]]


def test_width_batches_without_a_pass_cost_pad_no_row_past_its_own_rounded_width():
    lengths = np.random.default_rng(1).integers(3, 120, 3000)
    groups = width_batches(lengths, 65536, multiple=8, pass_cost=0)
    assert _padded(groups, lengths, 8) == int((-(-lengths // 8) * 8).sum())


def test_width_batches_share_a_pass_when_a_pass_costs_more_than_the_padding():
    lengths = np.array([4] * 10 + [20] * 2)
    assert len(width_batches(lengths, 1000, pass_cost=0)) == 2  # 40 + 40 tokens, none padded
    assert [len(g) for g in width_batches(lengths, 1000, pass_cost=1000)] == [12]  # 240 tokens, one pass


def test_width_batches_pad_a_shard_of_sentences_less_than_filling_sorted_passes_greedily():
    # Review-like lengths: a shard of ~5,000 sentences fills three 64K-token passes.
    lengths = np.random.default_rng(2).lognormal(3.0, 0.5, 5000).astype(int) + 4
    greedy = length_batches(lengths, 65536)
    grouped = width_batches(lengths, 65536, multiple=8, pass_cost=12288)
    cost = lambda groups: len(groups) * 12288 + _padded(groups, lengths, 8)  # noqa: E731
    assert cost(grouped) < cost(greedy)
    assert _padded(grouped, lengths, 8) < 0.9 * _padded(greedy, lengths, 8)
