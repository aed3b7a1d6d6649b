"""A packed pass (sequences end to end, no padding) gives each sequence the logits it gets alone."""
import pytest
import torch
from transformers import BertForSequenceClassification, BertForTokenClassification

from engine.packed import Packing, _padded_attention, packed_logits

LENGTHS = [5, 9, 2, 7, 9]


def _packed(lengths, vocab: int = 90):
    generator = torch.Generator().manual_seed(0)
    sequences = [torch.randint(5, vocab, (n,), generator=generator) for n in lengths]
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    positions = torch.cat([torch.arange(n) for n in lengths])
    return sequences, torch.cat(sequences), positions, cu


@pytest.mark.parametrize("model_class", [BertForTokenClassification, BertForSequenceClassification])
def test_packed_logits_equal_each_sequence_run_alone(tiny_bert, model_class):
    model = model_class.from_pretrained(tiny_bert).eval()
    sequences, ids, positions, cu = _packed(LENGTHS)
    with torch.inference_mode():
        alone = [model(input_ids=s[None]).logits[0] for s in sequences]
        # An upper bound on the longest is enough; the exact longest gives the same.
        for longest in (max(LENGTHS), max(LENGTHS) + 6):
            got = packed_logits(model, ids, positions, Packing(cu, longest))
            expected = torch.cat(alone) if model_class is BertForTokenClassification else torch.stack(alone)
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_packed_attention_keeps_sequences_apart():
    """Query t sees only its own sequence's keys: changing another sequence changes nothing."""
    generator = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(12, 2, 4, generator=generator) for _ in range(3))
    packing = Packing(torch.tensor([0, 3, 10, 12], dtype=torch.int32), 7)
    out = _padded_attention(q, k, v, packing)
    k2, v2 = k.clone(), v.clone()
    k2[3:10], v2[3:10] = 5.0, -5.0  # the middle sequence only
    changed = _padded_attention(q, k2, v2, packing)
    torch.testing.assert_close(changed[:3], out[:3])
    torch.testing.assert_close(changed[10:], out[10:])
    assert not torch.allclose(changed[3:10], out[3:10])
    first = torch.nn.functional.scaled_dot_product_attention(*(x[:3].transpose(0, 1) for x in (q, k, v)))
    torch.testing.assert_close(out[:3], first.transpose(0, 1))
