"""The families the model actors run with transformers' own forward (DistilBERT, ELECTRA,
DeBERTa-v3, ModernBERT): scoring takes the published rule's decisions, computed one prefix at a
time; tagging masks the tagger's best tokens; nothing is packed."""
import numpy as np
import pyarrow as pa
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

from engine.errors import InputError
from engine.models import TRANSFORMERS_FAMILIES, check_checkpoint
from engine.scorer import ImportanceScorer
from engine.tagger import MaskTagger, select_masks
from engine.text import load_tokenizer

SENTENCES = ["the movie was great fun and the acting was wonderful", "a terrible boring mess of a film",
             "i love it", "what a dull , slow , awful story with no plot", "brilliant",
             "charming script but the worst actor i have seen in a long time"]


def probability(model, tokenizer, tokens, label) -> float:
    x = torch.tensor([[tokenizer.cls_token_id, *tokens, tokenizer.sep_token_id]])
    with torch.no_grad():
        return model(input_ids=x).logits.float().softmax(-1)[0, label].item()


def reference_importance(model, tokenizer, ids, label, delta) -> list[bool]:
    """The rule as the spec states it: one sentence, one prefix at a time."""
    p_full, kept, important = probability(model, tokenizer, ids, label), [], []
    for w in ids:
        kept.append(w)
        s = p_full - probability(model, tokenizer, kept, label)
        important.append(s < delta)
        if s < delta:
            kept.pop()
    return important


@pytest.mark.parametrize("model_type", TRANSFORMERS_FAMILIES)
def test_scoring_takes_the_rules_decisions_on_transformers_forward(family_models, model_type):
    path = family_models[model_type][1]
    tokenizer = load_tokenizer(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    rows = [np.array(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in SENTENCES]
    labels = np.array([int(np.argmax([probability(model, tokenizer, list(r), c) for c in (0, 1)])) for r in rows])
    # The first threshold at which the rule's decisions mix, whatever the random weights move.
    for delta in (1e-7, 1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3):
        expected = [reference_importance(model, tokenizer, list(r), int(y), delta) for r, y in zip(rows, labels)]
        if any(any(d) for d in expected) and not all(all(d) for d in expected):
            break
    scorer = ImportanceScorer(path, delta=delta, filter_stopwords=False, max_batch_tokens=64, pack=True)
    assert not scorer.pack and scorer.model_type == model_type  # packing needs the engine's own forward
    out = scorer({"example_id": np.arange(len(rows)), "sentence_index": np.zeros(len(rows), np.int32),
                  "label": labels, "input_ids": np.array(rows + [None], dtype=object)[:-1]}).to_pylist()
    assert all(r["correct"] for r in out)
    decisions = [r["important"] for r in out]
    assert decisions == expected
    assert any(any(d) for d in decisions) and not all(all(d) for d in decisions), "the case must mix decisions"


@pytest.mark.parametrize("model_type", TRANSFORMERS_FAMILIES)
def test_tagging_masks_the_best_tokens_of_transformers_logits(family_models, model_type):
    path = family_models[model_type][2]
    tokenizer = load_tokenizer(path)
    model = AutoModelForTokenClassification.from_pretrained(path).eval()
    rows = [np.array(tokenizer(s, add_special_tokens=False)["input_ids"], np.int32) for s in SENTENCES]
    tagger = MaskTagger(path, mask_ratio=0.3, max_batch_tokens=40)  # several passes
    out = tagger(pa.table({"doc_id": np.arange(len(rows)), "sentence_index": np.zeros(len(rows), np.int32),
                           "input_ids": pa.array(rows, pa.list_(pa.int32()))})).to_pylist()
    for row, ids in zip(out, rows):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([[tokenizer.cls_token_id, *ids, tokenizer.sep_token_id]])).logits[0]
        expected = (logits[1:-1, 1] - logits[1:-1, 0]).numpy()
        np.testing.assert_allclose(row["scores"], expected, rtol=1e-4, atol=1e-5)
        assert row["mask_positions"] == select_masks(np.array(row["scores"], np.float32), 0.3).tolist()
    assert sum(len(r["mask_positions"]) for r in out) > 0


def test_an_unsupported_model_type_is_refused_with_the_supported_list(tiny_bert, tmp_path):
    import json
    import shutil

    path = tmp_path / "gpt2"
    shutil.copytree(tiny_bert, path)
    (path / "config.json").write_text(json.dumps({**json.loads((path / "config.json").read_text()),
                                                  "model_type": "gpt2"}))
    with pytest.raises(InputError, match=r"has model_type 'gpt2'; taskpt supports model_type bert, roberta, "
                                         r"xlm-roberta, distilbert, electra, deberta-v2, modernbert"):
        check_checkpoint(str(path))

