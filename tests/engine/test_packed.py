"""A packed pass (sequences end to end, no padding) gives each sequence the logits it gets alone."""
import pytest
import torch
from transformers import BertForSequenceClassification, BertForTokenClassification

from engine.bert import load_bert
from engine.packed import Packing, _padded_attention

LENGTHS = [5, 9, 2, 7, 9]


def _packed(lengths, vocab: int = 90):
    generator = torch.Generator().manual_seed(0)
    sequences = [torch.randint(5, vocab, (n,), generator=generator) for n in lengths]
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    positions = torch.cat([torch.arange(n) for n in lengths])
    return sequences, torch.cat(sequences), positions, cu


@pytest.mark.parametrize("model_class", [BertForTokenClassification, BertForSequenceClassification])
def test_packed_logits_equal_each_sequence_run_alone_by_hugging_face(tiny_classifier, tiny_tagger, model_class):
    path = tiny_tagger if model_class is BertForTokenClassification else tiny_classifier
    model = model_class.from_pretrained(path).eval()
    ours = load_bert(path, model_class.__name__, torch.float32, torch.device("cpu"))
    sequences, ids, positions, cu = _packed(LENGTHS)
    with torch.inference_mode():
        alone = [model(input_ids=s[None]).logits[0] for s in sequences]
        # An upper bound on the longest is enough; the exact longest gives the same.
        for longest in (max(LENGTHS), max(LENGTHS) + 6):
            got = ours.packed(ids, positions, Packing(cu, longest))
            expected = torch.cat(alone) if model_class is BertForTokenClassification else torch.stack(alone)
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_type", ["roberta", "xlm-roberta"])
def test_packed_roberta_logits_equal_each_sequence_run_alone_by_hugging_face(family_models, model_type):
    """Positions count from padding_idx + 1 in a packed pass too."""
    from transformers import AutoModelForTokenClassification

    path = family_models[model_type][2]
    model = AutoModelForTokenClassification.from_pretrained(path).eval()
    ours = load_bert(path, "BertForTokenClassification", torch.float32, torch.device("cpu"))
    sequences, ids, positions, cu = _packed(LENGTHS)
    with torch.inference_mode():
        expected = torch.cat([model(input_ids=s[None]).logits[0] for s in sequences])
        torch.testing.assert_close(ours.packed(ids, positions, Packing(cu, max(LENGTHS))), expected, atol=1e-5, rtol=1e-5)


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


def test_the_flash_kernel_is_found_by_its_arguments_as_varlen_attention_calls_it():
    """The GPU's packed attention calls flash attention's variable-length kernel itself, whatever
    backend torch.nn.attention.varlen would pick; this PyTorch has it, with the arguments in
    the order `flash_varlen` passes them."""
    from engine.packed import FLASH_ARGUMENTS, flash_varlen

    schema = torch.ops.aten._flash_attention_forward.default._schema
    assert [a.name for a in schema.arguments[:len(FLASH_ARGUMENTS)]] == list(FLASH_ARGUMENTS)
    assert flash_varlen() is not None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="flash attention's variable-length kernel needs a GPU")
@pytest.mark.parametrize("firsts_only", [False, True])
def test_flash_varlen_attention_on_a_gpu_equals_the_padded_fallback(firsts_only):
    """On a GPU in bf16, packed attention is flash attention's variable-length kernel; with
    `firsts_only` it is given one query per sequence (cu_seq_q = 0, 1, ..., N). Both must give
    what the padded fallback gives, tokens past the last sequence included (zero there)."""
    from engine.packed import flash_varlen, packed_attention

    assert flash_varlen() is not None
    generator = torch.Generator().manual_seed(2)
    lengths, spare = [5, 130, 1, 64, 17], 11  # one longer than a kernel block; tokens past the end
    tokens = sum(lengths) + spare
    q, k, v = (torch.randn(tokens, 4, 64, generator=generator).to("cuda", torch.bfloat16) for _ in range(3))
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device="cuda")
    packing = Packing(cu, max(lengths) + 3)  # an upper bound, as the scorer gives
    queries = q[cu[:-1].long()] if firsts_only else q
    got = packed_attention(queries, k, v, packing, firsts_only)
    expected = _padded_attention(queries.float(), k.float(), v.float(), packing, firsts_only)
    real = len(lengths) if firsts_only else sum(lengths)
    assert got.shape[0] == queries.shape[0]
    torch.testing.assert_close(got[:real].float(), expected[:real], atol=2e-2, rtol=2e-2)


def test_a_packed_pass_sized_past_its_real_tokens_gives_the_padded_logits(tiny_classifier, tiny_tagger):
    """The scorer sizes a packed pass by a bound the host knows (engine.scorer._KeptBound), so
    tokens past the real ones belong to no sequence; they must change nothing."""
    from engine.scorer import ImportanceScorer
    from engine.tagger import MaskTagger

    ids = torch.tensor([[2, 10, 11, 12, 3, 0], [2, 13, 3, 0, 0, 0], [2, 14, 15, 3, 0, 0]])
    attention = ids != 0
    for actor_class, path in ((ImportanceScorer, tiny_classifier), (MaskTagger, tiny_tagger)):
        padded, packed = actor_class(path, pack=False), actor_class(path, pack=True)
        with torch.inference_mode():
            expected = padded.classify(ids, attention)
            for tokens in (None, int(attention.sum()), int(attention.sum()) + 5):
                got = packed.classify(ids, attention, tokens)
                torch.testing.assert_close(got[attention] if got.dim() == 3 else got,
                                           expected[attention] if got.dim() == 3 else expected, atol=1e-5, rtol=1e-5)


def test_the_scorers_row_bounds_never_fall_below_the_kept_counts_with_read_backs_a_few_passes_old():
    import numpy as np

    from engine.scorer import _KeptBound

    rng = np.random.default_rng(0)
    bound = _KeptBound(torch.device("cpu"))
    bound.cuda = True  # as on a GPU: bounds from counts read back late (set by hand below)
    starts = np.array([0, 0, 2, 3, 3, 7])  # rows at different steps in one pass, as rolling starts give
    kept_after = []  # every row's kept count after each pass
    kept = np.zeros(6, np.int64)
    for p in range(12):
        rows = np.flatnonzero(starts <= p)
        steps = p - starts[rows]
        count = kept[rows] + 1  # w_i joins s' before the pass
        lag = int(rng.integers(1, 4))
        if len(kept_after) >= lag:  # the newest read-back that has arrived
            bound.known_pass, bound.known = len(kept_after) - lag, kept_after[-lag]
        at_most = bound.at_most(p, rows, steps, torch.from_numpy(count))
        assert (at_most >= count).all() and (at_most <= steps + 1).all()
        kept[rows] = count - rng.integers(0, 2, size=len(rows))  # w_i dropped again where important
        kept_after.append(kept.copy())
