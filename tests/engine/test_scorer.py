"""Stage 2 decisions equal the rule in the spec, computed the slow, obvious way."""
import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from transformers import AutoModelForSequenceClassification, BertForSequenceClassification

from engine.models import length_batches
from engine.rule_passes import group_starts, pass_groups, pass_tokens, rolling_starts
from engine.scorer import ImportanceScorer, importance_decisions
from engine.stopwords import ENGLISH, StopWords
from engine.text import load_tokenizer
from engine.token_forms import TokenForms

SENTENCES = [
    "the movie was great fun and the acting was wonderful",
    "a terrible boring mess of a film",
    "i love it",
    "what a dull , slow , awful story with no plot",
    "brilliant",
    "charming script but the worst actor i have seen in a long time",
]


def reference_importance(model, tokenizer, ids: list[int], label: int, delta: float) -> list[bool]:
    """One sentence at a time, fp32, inputs rebuilt at every step, as the spec states the rule."""
    def prob(tokens):
        x = torch.tensor([[tokenizer.cls_token_id, *tokens, tokenizer.sep_token_id]])
        with torch.no_grad():
            return model(input_ids=x).logits.float().softmax(-1)[0, label].item()

    p_full = prob(ids)
    kept, important = [], []
    for w in ids:
        kept.append(w)
        s = p_full - prob(kept)
        important.append(s < delta)
        if s < delta:
            kept.pop()
    return important


# The tiny random model moves probabilities by about 1e-3; these thresholds cut through that
# range (and avoid 0, where S is exactly 0 for a complete prefix).
@pytest.mark.parametrize("pack", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("delta", [0.0002, 0.001, 0.002])
def test_batched_importance_equals_the_one_sentence_reference(tiny_classifier, delta, pack):
    tokenizer = load_tokenizer(tiny_classifier)
    scorer = ImportanceScorer(tiny_classifier, delta=delta, filter_stopwords=False, max_batch_tokens=64, pack=pack)
    rows = [np.array(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in SENTENCES]
    model = BertForSequenceClassification.from_pretrained(tiny_classifier).eval()
    full = [model(input_ids=torch.tensor([[tokenizer.cls_token_id, *r, tokenizer.sep_token_id]])).logits[0] for r in rows]
    labels = np.array([int(f.argmax()) for f in full])  # every sentence correct: all are scored
    batch = {"example_id": np.arange(len(rows)), "sentence_index": np.zeros(len(rows), np.int32),
             "label": labels, "input_ids": np.array(rows, dtype=object)}
    out = scorer(batch).to_pylist()
    decisions = [r["important"] for r in out]
    expected = [reference_importance(model, tokenizer, list(r), int(y), delta) for r, y in zip(rows, labels)]
    assert decisions == expected
    assert any(any(d) for d in decisions) and not all(all(d) for d in decisions), "the case must mix decisions"


def _score(scorer, rows, labels):
    return scorer({"example_id": np.arange(len(rows)), "sentence_index": np.zeros(len(rows), np.int32),
                   "label": labels, "input_ids": np.array(rows + [None], dtype=object)[:-1]})


def _predicted_labels(model_dir, rows):
    model, tokenizer = AutoModelForSequenceClassification.from_pretrained(model_dir).eval(), load_tokenizer(model_dir)
    with torch.no_grad():
        return np.array([int(model(input_ids=torch.tensor([[tokenizer.cls_token_id, *r, tokenizer.sep_token_id]]))
                             .logits.argmax()) for r in rows])


@pytest.mark.parametrize("pack", [False, True], ids=["padded", "packed"])
@pytest.mark.parametrize("model_type", ["roberta", "xlm-roberta"])
def test_roberta_and_xlm_r_importance_equals_the_one_sentence_reference(family_models, model_type, pack):
    path = family_models[model_type][1]
    tokenizer = load_tokenizer(path)
    rows = [np.array(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in SENTENCES]
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    labels = _predicted_labels(path, rows)  # every sentence correct: all are scored
    # The threshold at the median |S| of the first steps, so that decisions mix whatever the random weights.
    delta = float(np.median([abs(x) for x in _first_step_scores(model, tokenizer, rows, labels)]))
    scorer = ImportanceScorer(path, delta=delta, filter_stopwords=False, max_batch_tokens=64, pack=pack)
    decisions = [r["important"] for r in _score(scorer, rows, labels).to_pylist()]
    expected = [reference_importance(model, tokenizer, list(r), int(y), delta) for r, y in zip(rows, labels)]
    assert decisions == expected
    assert any(any(d) for d in decisions) and not all(all(d) for d in decisions), "the case must mix decisions"


def _first_step_scores(model, tokenizer, rows, labels):
    """S(w_1) of every sentence: P_full minus P of its first token alone."""
    def prob(tokens, label):
        x = torch.tensor([[tokenizer.cls_token_id, *tokens, tokenizer.sep_token_id]])
        with torch.no_grad():
            return model(input_ids=x).logits.float().softmax(-1)[0, label].item()
    return [prob(list(r), y) - prob(list(r[:1]), y) for r, y in zip(rows, labels)]


@pytest.mark.parametrize("model_type", ["bert", "roberta", "xlm-roberta"])
def test_whole_word_stop_words_never_get_label_one_whatever_the_tokenizer(family_models, model_type):
    path = family_models[model_type][1]
    tokenizer = load_tokenizer(path)
    scorer = ImportanceScorer(path, delta=1.0, filter_stopwords=True)  # delta 1: every token important
    rows = [np.array(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in SENTENCES]
    stop = StopWords(TokenForms.for_model(path))
    seen_stop = 0
    for row in _score(scorer, rows, _predicted_labels(path, rows)).to_pylist():
        ids = np.array(row["input_ids"])
        for is_stop, important, label in zip(stop.at(ids, np.array([0, len(ids)])), row["important"], row["labels"]):
            assert label == (0 if is_stop else int(important and row["correct"]))
            seen_stop += int(is_stop)
    assert seen_stop >= 10  # "the", "and", "was", "a", "of", "i", "it", "what", "with", "no", "but", "have", "in"


def test_misclassified_sentences_train_the_tagger_on_all_zero_labels(tiny_classifier):
    tokenizer = load_tokenizer(tiny_classifier)
    scorer = ImportanceScorer(tiny_classifier, delta=1.0, filter_stopwords=False)  # delta 1: all important
    rows = [np.array(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in SENTENCES]
    predicted = _predicted_labels(tiny_classifier, rows)
    gold = predicted.copy()
    gold[::2] = 1 - gold[::2]  # every other sentence is misclassified
    out = _score(scorer, rows, gold).to_pylist()
    assert [r["correct"] for r in out] == list(gold == predicted)
    for row in out:
        if row["correct"]:
            assert all(row["important"]) and all(row["labels"])
        else:
            assert not any(row["important"]) and not any(row["labels"])


def test_stop_words_never_get_label_one(tiny_classifier):
    tokenizer = load_tokenizer(tiny_classifier)
    scorer = ImportanceScorer(tiny_classifier, delta=1.0, filter_stopwords=True)
    rows = [np.array(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in SENTENCES]
    labels = _predicted_labels(tiny_classifier, rows)
    out = _score(scorer, rows, labels).to_pylist()
    seen_stop = False
    for row in out:
        for token, important, label in zip(tokenizer.convert_ids_to_tokens(row["input_ids"]), row["important"], row["labels"]):
            if token in ENGLISH:
                seen_stop = True
                assert important and label == 0  # the raw decision stays, the training label is 0
            else:
                assert label == int(important and row["correct"])
    assert seen_stop


def test_a_gpu_scorers_passes_stay_within_max_batch_tokens(tiny_classifier):
    """Widths rounded up to 8 as on a GPU are counted in the budget, the full-sentence
    passes' as the rule's."""
    rng = np.random.default_rng(2)
    rows = [rng.integers(5, 60, size=n) for n in rng.integers(1, 14, size=300)]  # short: rounding adds most
    budget = 512
    scorer = ImportanceScorer(tiny_classifier, delta=1.0, filter_stopwords=False, max_batch_tokens=budget)
    scorer.pad_multiple = 8
    labels = np.array([int(x.argmax()) for x in scorer.logits(rows)])
    passes = []
    forward = scorer.model.forward
    scorer.model.forward = lambda *a, **k: passes.append(k["input_ids"].shape) or forward(*a, **k)
    _score(scorer, rows, labels)
    assert len(passes) > 10 and all(width % 8 == 0 for _, width in passes)
    assert max(n * width for n, width in passes) <= budget


def test_a_shard_is_scored_in_fewer_passes_than_with_every_sentence_budgeted_at_full_length(tiny_classifier):
    """Passes are what a GPU pays for (each costs ~6 ms of Python and launches): one pass per
    wordpiece of each group's longest sentence, plus the full-sentence passes."""
    rng = np.random.default_rng(1)
    rows = [rng.integers(5, 60, size=n) for n in np.clip(rng.lognormal(2.8, 0.5, 400).astype(int), 1, 60)]
    budget = 1024
    scorer = ImportanceScorer(tiny_classifier, delta=1.0, filter_stopwords=False, max_batch_tokens=budget)
    labels = np.array([int(x.argmax()) for x in scorer.logits(rows)])  # all correct: all scored
    passes = []
    forward = scorer.model.forward
    scorer.model.forward = lambda *a, **k: passes.append(k["input_ids"].shape) or forward(*a, **k)
    _score(scorer, rows, labels)
    lengths = np.array([len(r) for r in rows])
    full_width = len(length_batches(lengths + 2, budget))
    groups = pass_groups(lengths, budget)
    assert len(passes) == full_width + sum(int(lengths[g].max()) for g in groups)
    assert max(rows * width for rows, width in passes) <= budget
    budgeted_at_full_length = sum(int(lengths[g].max()) for g in length_batches(lengths + 2, budget))
    assert len(passes) - full_width < 0.8 * budgeted_at_full_length


def test_packed_passes_mix_steps_and_take_the_padded_passes_decisions(tiny_classifier):
    """Packed, a row starts as soon as its steps fit (rolling_starts), so passes hold rows at
    different steps; each row's decisions are the ones the padded scorer takes step by step."""
    rng = np.random.default_rng(3)
    rows = [rng.integers(5, 60, size=n) for n in np.clip(rng.lognormal(2.5, 0.5, 120).astype(int), 1, 40)]
    padded = ImportanceScorer(tiny_classifier, delta=0.001, filter_stopwords=False, max_batch_tokens=512, pack=False)
    packed = ImportanceScorer(tiny_classifier, delta=0.001, filter_stopwords=False, max_batch_tokens=512, pack=True)
    labels = np.array([int(x.argmax()) for x in padded.logits(rows)])
    passes = []
    classify = packed.classify
    packed.classify = lambda ids, attention, tokens: passes.append(tokens) or classify(ids, attention, tokens)
    expected = _score(padded, rows, labels).column("important").to_pylist()
    got = _score(packed, rows, labels).column("important").to_pylist()
    assert got == expected
    assert any(not all(d) and any(d) for d in got)
    lengths = np.array([len(r) for r in rows])
    assert len(passes) == len(pass_tokens(lengths, rolling_starts(lengths, 512)))
    assert len(passes) < len(pass_tokens(lengths, group_starts(lengths, 512)))  # rows at different steps share passes
    assert max(passes) <= 512


@pytest.mark.parametrize("pack", [False, True], ids=["padded", "packed"])
def test_decisions_hold_when_kept_counts_arrive_passes_late(tiny_classifier, pack):
    """On a GPU the host sizes each pass from kept counts a pass or two old (`_KeptBound`);
    the passes are then wider than their rows, and the decisions the same."""
    tokenizer = load_tokenizer(tiny_classifier)
    scorer = ImportanceScorer(tiny_classifier, delta=0.001, filter_stopwords=False, max_batch_tokens=64, pack=pack)
    rows = [np.array(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in SENTENCES]
    with torch.inference_mode():
        logits = scorer.logits(rows)
    labels = np.array([int(x.argmax()) for x in logits])
    p_full = np.array([float(x.softmax(-1)[y]) for x, y in zip(logits, labels)], dtype=np.float32)
    lengths = np.array([len(r) for r in rows])
    starts = rolling_starts(lengths, 64) if pack else group_starts(lengths, 64)
    tok = scorer.tokenizer
    model = BertForSequenceClassification.from_pretrained(tiny_classifier).eval()
    sizes = {}
    for lag in (None, 2):
        seen = sizes.setdefault(lag, [])

        def classify(ids, attention, tokens, seen=seen):
            seen.append((ids.shape[1], tokens))
            return scorer.classify(ids, attention, tokens)

        with torch.inference_mode():
            flat = importance_decisions(classify, lengths, np.concatenate(rows), labels, p_full, scorer.delta,
                                        tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, scorer.device, starts,
                                        count_lag=lag)
        decisions = np.split(flat, np.cumsum(lengths)[:-1])
        expected = [reference_importance(model, tokenizer, list(r), int(y), scorer.delta) for r, y in zip(rows, labels)]
        assert [d.tolist() for d in decisions] == expected
    assert any(not all(d) for d in expected)  # some tokens dropped: exact counts are below the steps' bounds
    assert sum(t for _, t in sizes[2]) > sum(t for _, t in sizes[None])


class DeviceReadBacks(TorchDispatchMode):
    """Records the operations that, on a GPU, make the host wait for the device: a value read
    back (`.item()`, `int(tensor)`), or an output sized by the data (`nonzero`, a boolean mask
    used as an index, `masked_select`, `unique`)."""

    WAITING = {"item", "_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique2", "unique_consecutive",
               "is_nonzero", "equal"}

    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        by_mask = name in ("index", "index_put_") and any(
            getattr(i, "dtype", None) == torch.bool for i in (args[1] or []) if i is not None)
        if name in self.WAITING or by_mask:
            self.seen.append(name)
        return func(*args, **(kwargs or {}))


def test_the_rule_never_waits_for_the_device_between_passes(tiny_classifier):
    """The host builds every pass from what it knows (`_KeptBound`) and never reads a value
    back, so on a GPU it runs ahead of the device. Checked on CPU on the GPU's path (kept counts
    arriving passes late) with padded passes: the packed ones' CPU attention reads its token
    count back, flash attention on a GPU does not."""
    tokenizer = load_tokenizer(tiny_classifier)
    scorer = ImportanceScorer(tiny_classifier, delta=0.001, filter_stopwords=False, max_batch_tokens=64, pack=False)
    rows = [np.array(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in SENTENCES]
    with torch.inference_mode():
        probs = scorer.logits(rows).softmax(-1)
    labels = probs.argmax(-1).numpy()
    p_full = probs[np.arange(len(rows)), labels].numpy().astype(np.float32)
    lengths = np.array([len(r) for r in rows])
    tok, passes = scorer.tokenizer, []

    def classify(ids, attention, tokens):
        passes.append(tokens)
        return scorer.classify(ids, attention, tokens)

    with torch.inference_mode(), DeviceReadBacks() as read_backs:
        importance_decisions(classify, lengths, np.concatenate(rows), labels, p_full, scorer.delta, tok.cls_token_id,
                             tok.sep_token_id, tok.pad_token_id, scorer.device, group_starts(lengths, 64), count_lag=2)
    assert len(passes) >= lengths.max() and read_backs.seen == []
