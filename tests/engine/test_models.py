"""Model actors hand the model a ready 4D mask: same outputs as a 2D mask, and no host wait;
their passes stay within budget; a checkpoint is checked against its config before any load."""
import pathlib

import numpy as np
import pyarrow as pa
import pytest
import torch
from transformers import BertForTokenClassification

from engine.errors import InputError
from engine.models import SUPPORTED_MODEL_TYPES, additive_mask, check_checkpoint, length_batches, token_batches
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


@pytest.mark.parametrize("pad_multiple", [1, 8])
def test_a_padded_pass_never_holds_more_tokens_than_the_budget_once_its_width_is_rounded(pad_multiple):
    lengths = np.random.default_rng(0).integers(3, 40, size=2000)  # many short rows: rounding adds most
    groups = length_batches(lengths, 512, pad_multiple)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(lengths)))
    def width(rows):
        return -(-int(lengths[rows].max()) // pad_multiple) * pad_multiple

    for group in groups:
        assert len(group) * width(group) <= 512
    # Full groups: one ends only where its next row (the shortest of the next group) would not fit.
    for group, following in zip(groups, groups[1:]):
        with_next = np.append(group, following[np.argmin(lengths[following])])
        assert len(with_next) * width(with_next) > 512
    assert [len(g) for g in length_batches(np.array([600, 5]), 512, pad_multiple)] == [1, 1]  # too long: alone


def test_a_gpu_taggers_passes_stay_within_max_batch_tokens(tiny_tagger):
    tagger = MaskTagger(tiny_tagger, max_batch_tokens=256)
    tagger.pad_multiple = 8  # what a model actor on a GPU rounds widths to
    lengths = np.random.default_rng(1).integers(1, 30, size=300)
    column = pa.array([np.arange(n) % 90 + 1000 for n in lengths], pa.list_(pa.int64()))
    passes = [inputs["input_ids"].shape for _, inputs, *_ in tagger.groups(column)]
    assert sum(rows for rows, _ in passes) == len(lengths)
    assert all(width % 8 == 0 and rows * width <= 256 for rows, width in passes)


def test_a_packed_pass_holds_every_sequence_once_and_never_more_tokens_than_the_budget():
    sizes = np.random.default_rng(0).integers(3, 40, size=2000)
    groups = token_batches(sizes, 512)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(sizes)))
    assert all(sizes[g].sum() <= 512 for g in groups)
    # Full passes: a pass ends only where the next sequence would not fit.
    assert all(sizes[g].sum() + sizes[h].min() > 512 for g, h in zip(groups, groups[1:]))
    assert [len(g) for g in token_batches(np.array([600, 5]), 512)] == [1, 1]  # too long: alone


def test_a_model_actor_on_a_gpu_keeps_attention_off_cudnn_and_one_on_cpu_leaves_it(tiny_tagger, monkeypatch):
    """cuDNN attention builds a plan per new batch shape, and the engine's passes change shape
    all the time (engine.models.without_cudnn_attention)."""
    before = torch.backends.cuda.cudnn_sdp_enabled()
    try:
        torch.backends.cuda.enable_cudnn_sdp(True)
        MaskTagger(tiny_tagger)
        assert torch.backends.cuda.cudnn_sdp_enabled()  # on CPU: nothing changed
        # The same actor as it starts on a GPU (the model's move to the device skipped).
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.nn.Module, "to", lambda self, *args, **kwargs: self)
        assert MaskTagger(tiny_tagger).device.type == "cuda"
        assert not torch.backends.cuda.cudnn_sdp_enabled()
        assert torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.mem_efficient_sdp_enabled()
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)


def test_a_model_actor_packs_sentences_on_a_gpu_and_pads_them_on_cpu_unless_told(tiny_tagger, tiny_classifier,
                                                                                  monkeypatch):
    assert MaskTagger(tiny_tagger).pack is False
    assert MaskTagger(tiny_tagger, pack=True).pack is True
    before = torch.backends.cuda.cudnn_sdp_enabled()
    try:  # the same actor as it starts on a GPU (the model's move to the device skipped)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.nn.Module, "to", lambda self, *args, **kwargs: self)
        assert MaskTagger(tiny_tagger).pack is True
        assert ImportanceScorer(tiny_classifier, filter_stopwords=False).pack is True
        assert MaskTagger(tiny_tagger, pack=False).pack is False
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)


@pytest.mark.parametrize("model_type", SUPPORTED_MODEL_TYPES)
def test_weights_that_do_not_fit_their_config_are_refused_by_weight_before_any_load(family_models, model_type,
                                                                                    tmp_path):
    """A config.json from another size of the model (more layers, another width, another
    vocabulary) over these weights: one line naming the weight, read from the file's header."""
    import json
    import shutil

    for path in family_models[model_type]:  # encoder, sequence classifier (RoBERTa's without a pooler), tagger
        assert check_checkpoint(path)["model_type"] == model_type
    base = family_models[model_type][0]
    config = json.loads(pathlib.Path(base, "config.json").read_text())
    layers = "n_layers" if model_type == "distilbert" else "num_hidden_layers"
    deeper = {k: v for k, v in config.items() if k != "layer_types"}  # ModernBERT's, one per layer
    for changed, said in (({**deeper, layers: config[layers] + 1}, r"no weight \S*2\S* \(\d+ of the"),
                          ({**config, "vocab_size": config["vocab_size"] + 8}, r"weight \S*embeddings\S* has shape \[")):
        path = tmp_path / str(len(list(tmp_path.iterdir())))
        shutil.copytree(base, path)
        (path / "config.json").write_text(json.dumps(changed))
        with pytest.raises(InputError, match=rf"^model: {path}: {said}.*not those of the model config.json describes"):
            check_checkpoint(str(path))


def test_a_config_json_that_transformers_refuses_is_one_line_naming_the_checkpoint(family_models, tmp_path):
    import json
    import shutil

    path = shutil.copytree(family_models["modernbert"][0], tmp_path / "model")
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))  # layer_types lists 2
    with pytest.raises(InputError, match=rf"^model: {path}: config.json is not a valid modernbert config: "
                                         r"`num_hidden_layers` \(3\) must be equal to the number of `layer_types` \(2\)$"):
        check_checkpoint(str(path))
