"""The model actors' encoder (engine.bert) gives Hugging Face's logits, loads checkpoints as
saved, refuses what it does not run by name, and keeps transformers out of the process."""
import json
import shutil
import subprocess
import sys

import pytest
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    BertForSequenceClassification,
    BertForTokenClassification,
)

from engine.bert import load_bert
from engine.errors import InputError
from engine.models import additive_mask, check_checkpoint
from engine.text import ModelTokens

IDS = torch.tensor([[2, 10, 11, 12, 13, 3], [2, 14, 3, 0, 0, 0], [2, 15, 16, 17, 3, 0]])


@pytest.mark.parametrize("model_class", [BertForSequenceClassification, BertForTokenClassification])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_padded_logits_equal_hugging_faces(tiny_classifier, tiny_tagger, model_class, dtype):
    path = tiny_tagger if model_class is BertForTokenClassification else tiny_classifier
    theirs = model_class.from_pretrained(path, dtype=dtype).eval()
    ours = load_bert(path, model_class.__name__, dtype, torch.device("cpu"))
    mask = additive_mask(IDS != 0, dtype)
    with torch.inference_mode():
        expected = theirs(input_ids=IDS, attention_mask=mask).logits
        got = ours(input_ids=IDS, attention_mask=mask)
    assert got.dtype == dtype and got.shape == expected.shape
    seen = IDS != 0
    if got.dim() == 3:
        got, expected = got[seen], expected[seen]
        torch.testing.assert_close(got, expected, atol=0, rtol=0)  # the same operations in the same order
    else:  # the same operations, the last layer's on [CLS] alone: matrix products of other shapes round differently
        torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("model_type", ["roberta", "xlm-roberta"])
@pytest.mark.parametrize("head", ["sequence", "token"])
def test_roberta_and_xlm_r_logits_equal_hugging_faces(family_models, model_type, head):
    """Their positions start after the pad token's id and their sequence head has other names:
    the engine's forward gives transformers' logits on right-padded rows."""
    _, classifier, tagger = family_models[model_type]
    path, auto, ours_class = ((classifier, AutoModelForSequenceClassification, "BertForSequenceClassification")
                              if head == "sequence" else (tagger, AutoModelForTokenClassification,
                                                          "BertForTokenClassification"))
    tokens = ModelTokens(path)
    ids = IDS.clone()
    ids[ids == 0], ids[ids == 2], ids[ids == 3] = tokens.pad_token_id, tokens.cls_token_id, tokens.sep_token_id
    seen = ids != tokens.pad_token_id
    theirs = auto.from_pretrained(path).eval()
    assert theirs.config.model_type == model_type
    ours = load_bert(path, ours_class, torch.float32, torch.device("cpu"))
    with torch.inference_mode():
        expected = theirs(input_ids=ids, attention_mask=seen.long()).logits
        got = ours(input_ids=ids, attention_mask=additive_mask(seen, torch.float32))
    if head == "token":
        got, expected = got[seen], expected[seen]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("hidden_act", ["gelu_new", "relu"])
def test_other_activations_hugging_face_runs_give_its_logits(tiny_classifier, tmp_path, hidden_act):
    path = tmp_path / "model"
    shutil.copytree(tiny_classifier, path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "hidden_act": hidden_act}))
    theirs = BertForSequenceClassification.from_pretrained(path).eval()
    ours = load_bert(str(path), "BertForSequenceClassification", torch.float32, torch.device("cpu"))
    mask = additive_mask(IDS != 0, torch.float32)
    with torch.inference_mode():
        torch.testing.assert_close(ours(IDS, mask), theirs(input_ids=IDS, attention_mask=mask).logits)


@pytest.mark.parametrize("key, value", [("hidden_act", "silu"), ("position_embedding_type", "relative_key")])
def test_a_checkpoint_asking_for_what_the_encoder_does_not_run_is_refused_by_key(tiny_classifier, tmp_path, key, value):
    path = tmp_path / "model"
    shutil.copytree(tiny_classifier, path)
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, key: value}))
    with pytest.raises(InputError, match=f"model: {path}: config.json {key}"):
        check_checkpoint(str(path))
    with pytest.raises(InputError, match=key):
        load_bert(str(path), "BertForSequenceClassification", torch.float32, torch.device("cpu"))


def test_a_checkpoint_without_a_classifier_is_refused_by_file(tiny_bert):
    with pytest.raises(ValueError, match=rf"{tiny_bert}: the checkpoint has no classifier \(a token-classification head\)"):
        load_bert(tiny_bert, "BertForTokenClassification", torch.float32, torch.device("cpu"))


def test_model_tokens_are_hugging_faces(tiny_classifier):
    ours, theirs = ModelTokens(tiny_classifier), AutoTokenizer.from_pretrained(tiny_classifier)
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id) == \
        (theirs.cls_token_id, theirs.sep_token_id, theirs.pad_token_id)
    assert len(ours) == len(theirs)
    assert ours.convert_ids_to_tokens(range(len(ours))) == theirs.convert_ids_to_tokens(list(range(len(theirs))))


def test_special_tokens_follow_the_checkpoints_tokenizer_config(tiny_classifier, tmp_path):
    path = tmp_path / "model"
    shutil.copytree(tiny_classifier, path)
    config = json.loads((path / "tokenizer_config.json").read_text())
    (path / "tokenizer_config.json").write_text(json.dumps({**config, "pad_token": "[UNK]"}))
    tokens = ModelTokens(str(path))
    default = ModelTokens(tiny_classifier).pad_token_id
    assert tokens.pad_token_id == AutoTokenizer.from_pretrained(path).pad_token_id != default
    (path / "tokenizer_config.json").write_text(json.dumps({**config, "cls_token": "[NOT-A-TOKEN]"}))
    with pytest.raises(ValueError, match=r"cls_token '\[NOT-A-TOKEN\]' is not in tokenizer.json"):
        ModelTokens(str(path))


def test_a_model_actor_never_imports_transformers_or_polars(tiny_tagger, tiny_classifier):
    """Each costs a model actor's start time and memory for nothing (polars: ~0.1 s on 2 cores)."""
    code = ("import sys, numpy as np; from engine.tagger import MaskTagger; t = MaskTagger(sys.argv[1]); "
            "t({'doc_id': np.arange(2), 'sentence_index': np.zeros(2, np.int32), "
            "'input_ids': np.array([np.array([10, 11]), np.array([12])] + [None], dtype=object)[:-1]}); "
            "from engine.scorer import ImportanceScorer; ImportanceScorer(sys.argv[2]); "
            "print(sorted(m for m in ('transformers', 'polars') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, tiny_tagger, tiny_classifier], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_compiled_layers_give_the_eager_logits_padded_and_packed_with_changing_sizes(tiny_classifier, tiny_tagger):
    """`Bert.compile_layers` (compute.compile_model) changes how the layers' elementwise work is
    run, not what it computes: padded and packed passes of several sizes (dynamic shapes) give
    the eager logits, for both heads."""
    from engine.packed import Packing

    for model_class, path in (("BertForSequenceClassification", tiny_classifier),
                              ("BertForTokenClassification", tiny_tagger)):
        eager = load_bert(path, model_class, torch.float32, torch.device("cpu"))
        compiled = load_bert(path, model_class, torch.float32, torch.device("cpu"))
        compiled.compile_layers()
        with torch.inference_mode():
            for rows in (IDS, IDS[:2, :3], torch.cat([IDS, IDS[:, :4].repeat(1, 2)[:, :6]])):
                mask = additive_mask(rows != 0, torch.float32)
                torch.testing.assert_close(compiled(rows, mask), eager(rows, mask), atol=1e-5, rtol=1e-5)
            for lengths in ([5, 9, 2], [7, 3, 3, 8, 1]):
                ids = torch.randint(5, 60, (sum(lengths),), generator=torch.Generator().manual_seed(len(lengths)))
                positions = torch.cat([torch.arange(n) for n in lengths])
                packing = Packing(torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32),
                                  max(lengths))
                torch.testing.assert_close(compiled.packed(ids, positions, packing), eager.packed(ids, positions, packing),
                                           atol=1e-5, rtol=1e-5)
        assert compiled.layers[0].project_fn is not eager.layers[0].project_fn
