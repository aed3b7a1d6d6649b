"""Stage 2 decisions equal the rule in the spec, computed the slow, obvious way."""
import numpy as np
import pytest
import torch
from transformers import BertForSequenceClassification

from engine.scorer import ImportanceScorer
from engine.stopwords import ENGLISH
from engine.text import load_tokenizer

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
@pytest.mark.parametrize("delta", [0.0002, 0.001, 0.002])
def test_batched_importance_equals_the_one_sentence_reference(tiny_classifier, delta):
    tokenizer = load_tokenizer(tiny_classifier)
    scorer = ImportanceScorer(tiny_classifier, delta=delta, filter_stopwords=False, max_batch_tokens=64)
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


def _predicted_labels(model_dir, rows):
    model = BertForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return np.array([int(model(input_ids=torch.tensor([[2, *r, 3]])).logits.argmax()) for r in rows])


def test_misclassified_sentences_train_the_tagger_on_all_zero_labels(tiny_classifier):
    tokenizer = load_tokenizer(tiny_classifier)
    scorer = ImportanceScorer(tiny_classifier, delta=1.0, filter_stopwords=False)  # delta 1: all important
    rows = [np.array(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in SENTENCES]
    predicted = _predicted_labels(tiny_classifier, rows)
    gold = predicted.copy()
    gold[::2] = 1 - gold[::2]  # every other sentence is misclassified
    out = scorer({"example_id": np.arange(len(rows)), "sentence_index": np.zeros(len(rows), np.int32),
                  "label": gold, "input_ids": np.array(rows, dtype=object)}).to_pylist()
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
    out = scorer({"example_id": np.arange(len(rows)), "sentence_index": np.zeros(len(rows), np.int32),
                  "label": labels, "input_ids": np.array(rows, dtype=object)}).to_pylist()
    seen_stop = False
    for row in out:
        for token, important, label in zip(tokenizer.convert_ids_to_tokens(row["input_ids"]), row["important"], row["labels"]):
            if token in ENGLISH:
                seen_stop = True
                assert important and label == 0  # the raw decision stays, the training label is 0
            else:
                assert label == int(important and row["correct"])
    assert seen_stop
