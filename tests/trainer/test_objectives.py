"""Batches, masks and saved checkpoints of the training objectives."""
import numpy as np
import pytest
import torch
from transformers import BertForMaskedLM, BertForSequenceClassification

from trainer.objectives import MaskedLM, SequenceClassification, TokenTagging
from trainer.objectives.masked_lm import LM_HEADS

IDS = dict(cls_id=2, sep_id=3, pad_id=0)


def test_classification_batch_adds_specials_pads_to_a_multiple_of_8_and_cuts_long_rows():
    obj = SequenceClassification(num_labels=2, max_seq=12, **IDS)
    batch = obj.collate({"input_ids": [np.array([7, 8]), np.arange(10, 30)], "label": np.array([0, 1])})
    assert batch["input_ids"].shape == (2, 16)
    assert batch["input_ids"][0, :5].tolist() == [2, 7, 8, 3, 0]
    assert batch["attention_mask"].sum(1).tolist() == [4, 12]
    assert batch["input_ids"][1, 11].item() == 3 and batch["labels"].tolist() == [0, 1]


def test_tagging_labels_zero_on_specials_and_ignored_on_padding():
    obj = TokenTagging(class_weights=[1.0, 3.0], max_seq=16, **IDS)
    batch = obj.collate({"input_ids": [np.array([7, 8, 9]), np.array([7])], "labels": [np.array([0, 1, 1]), np.array([1])]})
    assert batch["labels"][0, :6].tolist() == [0, 0, 1, 1, 0, -100]
    assert batch["labels"][1, :4].tolist() == [0, 1, 0, -100]


def test_stored_masks_follow_the_80_10_10_rule_at_the_stored_positions():
    obj = MaskedLM(masking="stored", vocab_size=1000, mask_id=4, special_ids=[0, 1, 2, 3, 4], max_predictions=40,
                   seed=0, max_seq=256, **IDS)
    rows = [np.arange(100, 300) for _ in range(50)]
    stored = [np.array([5, 17, 99, 150]) for _ in range(50)]
    batch = obj.collate({"input_ids": rows, "mask_positions": stored})
    assert batch["cols"].tolist() == [6, 18, 100, 151] * 50  # +1 for [CLS]
    assert batch["targets"].tolist() == [105, 117, 199, 250] * 50
    put = batch["input_ids"][batch["rows"], batch["cols"]]
    masked, unchanged = (put == 4).float().mean().item(), (put == batch["targets"]).float().mean().item()
    assert 0.7 < masked < 0.9 and 0.03 < unchanged < 0.2
    untouched = torch.ones_like(batch["input_ids"], dtype=torch.bool)
    untouched[batch["rows"], batch["cols"]] = False
    assert (batch["input_ids"][untouched] == obj.pad(rows)[0][untouched]).all()


def test_dynamic_masks_take_15_percent_of_the_wordpieces_and_change_between_batches():
    obj = MaskedLM(masking="dynamic", vocab_size=1000, mask_id=4, special_ids=[0, 1, 2, 3, 4], max_predictions=80,
                   mask_prob=0.15, seed=0, max_seq=256, **IDS)
    rows = [np.arange(100, 200)] * 4
    rng = np.random.default_rng(7)
    first, second = obj.collate({"input_ids": rows}, rng=rng), obj.collate({"input_ids": rows}, rng=rng)
    assert len(first["targets"]) == 4 * 15
    assert first["cols"].tolist() != second["cols"].tolist()
    again = obj.collate({"input_ids": rows}, rng=np.random.default_rng(7))  # the same generator state: the same masks
    assert again["cols"].tolist() == first["cols"].tolist() and again["input_ids"].equal(first["input_ids"])
    dev1, dev2 = obj.collate({"input_ids": rows}, train=False), obj.collate({"input_ids": rows}, train=False)
    assert dev1["cols"].tolist() == dev2["cols"].tolist()  # dev masks are fixed


def test_masked_lm_checkpoint_saved_and_loaded_gives_the_same_logits(tiny_bert, tmp_path):
    obj = MaskedLM(masking="stored", vocab_size=100, mask_id=4, special_ids=[0, 1, 2, 3, 4], seed=0, max_seq=64, **IDS)
    module = obj.build_model(tiny_bert).eval()
    with torch.no_grad():
        for p in module.parameters():  # stand-in for training: every weight moves, head included
            p.add_(0.01 * torch.randn_like(p))
    obj.hf_model(module).save_pretrained(tmp_path)
    x = torch.tensor([[2, 40, 41, 4, 42, 3]])
    loaded = BertForMaskedLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=x).logits, obj.hf_model(module)(input_ids=x).logits)
        _, at_positions = module(x, torch.ones_like(x), torch.tensor([0]), torch.tensor([3]), torch.tensor([40]))
        torch.testing.assert_close(at_positions[0], loaded(input_ids=x).logits[0, 3])


# Each family's special token ids in the tiny models: [CLS] [SEP] [PAD] and [MASK], or <s> </s> <pad> <mask>.
FAMILY_IDS = {"bert": (dict(cls_id=2, sep_id=3, pad_id=0), 4), "roberta": (dict(cls_id=0, sep_id=2, pad_id=1), 4),
              "xlm-roberta": (dict(cls_id=0, sep_id=2, pad_id=1), 4),
              "distilbert": (dict(cls_id=2, sep_id=3, pad_id=0), 4), "electra": (dict(cls_id=2, sep_id=3, pad_id=0), 4),
              "deberta-v2": (dict(cls_id=1, sep_id=2, pad_id=0), 4), "modernbert": (dict(cls_id=1, sep_id=2, pad_id=0), 4)}
BERT_LAYERS = ("bert", "roberta", "xlm-roberta", "electra")  # the families whose last layer runs at the masks


@pytest.mark.parametrize("model_type", BERT_LAYERS)
def test_the_last_layer_at_the_masked_positions_gives_the_whole_models_loss_logits_and_gradients(family_models,
                                                                                              model_type):
    """Its queries, attention output and feed-forward run at the masked positions alone; in eval
    mode (no dropout) the loss, the logits and every weight's gradient are the whole model's,
    the family's masked-LM head included."""
    specials, mask_id = FAMILY_IDS[model_type]
    obj = MaskedLM(masking="dynamic", vocab_size=100, mask_id=mask_id, special_ids=[0, 1, 2, 3, 4], max_predictions=6,
                   mask_prob=0.3, seed=0, max_seq=64, **specials)
    rng = np.random.default_rng(0)
    rows = [rng.integers(5, 100, n) for n in (20, 3, 14, 9)]  # padded rows, a row with one mask
    batch = obj.collate({"input_ids": rows}, rng=rng)
    module = obj.build_model(family_models[model_type][0]).eval()
    assert module.mlm.config.model_type == model_type and module.last_at_masks
    results = {}
    for at_masks in (True, False):
        module.last_at_masks = at_masks
        module.zero_grad()
        loss, logits = module(**batch)
        loss.backward()
        results[at_masks] = loss, logits, {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    (loss, logits, grads), (whole_loss, whole_logits, whole_grads) = results[True], results[False]
    torch.testing.assert_close(loss, whole_loss)
    torch.testing.assert_close(logits, whole_logits)
    assert grads.keys() == whole_grads.keys() and any("layer.1." in n for n in grads)  # the last layer learns too
    assert any(n.startswith(f"mlm.{LM_HEADS[model_type][-1]}.") for n in grads)  # and the head
    for name in grads:
        torch.testing.assert_close(grads[name], whole_grads[name], rtol=1e-4, atol=1e-6, msg=name)
    module.train()  # with dropout: runs, a finite loss
    assert torch.isfinite(module(**batch)[0])


def test_classifier_checkpoint_saved_and_loaded_gives_the_same_logits(tiny_bert, tmp_path):
    model = SequenceClassification(num_labels=3, max_seq=64, **IDS).build_model(tiny_bert).eval()
    model.save_pretrained(tmp_path)
    x = torch.tensor([[2, 40, 41, 42, 3]])
    with torch.no_grad():
        torch.testing.assert_close(BertForSequenceClassification.from_pretrained(tmp_path).eval()(input_ids=x).logits,
                                   model(input_ids=x).logits)


@pytest.mark.parametrize("model_type", list(FAMILY_IDS))
def test_a_sentence_encoder_has_no_masked_lm_head_and_a_saved_masked_lm_has_its_familys(family_models, model_type,
                                                                                         tmp_path):
    from transformers import AutoModelForMaskedLM

    from trainer.objectives.masked_lm import lm_head_in_checkpoint

    encoder = family_models[model_type][0]
    assert not lm_head_in_checkpoint(encoder, model_type)
    AutoModelForMaskedLM.from_pretrained(encoder).save_pretrained(tmp_path)
    assert lm_head_in_checkpoint(str(tmp_path), model_type)


@pytest.mark.parametrize("model_type", list(FAMILY_IDS))
def test_the_head_at_the_masked_positions_gives_the_familys_full_logits_loss(family_models, model_type):
    """The loss at the masked positions alone equals the family's ...ForMaskedLM loss over
    every position with -100 elsewhere (eval mode: no dropout), and so do its logits there."""
    specials, mask_id = FAMILY_IDS[model_type]
    obj = MaskedLM(masking="dynamic", vocab_size=100, mask_id=mask_id, special_ids=[0, 1, 2, 3, 4], max_predictions=6,
                   mask_prob=0.3, seed=0, max_seq=64, **specials)
    rng = np.random.default_rng(1)
    batch = obj.collate({"input_ids": [rng.integers(5, 100, n) for n in (12, 4, 9)]}, rng=rng)
    module = obj.build_model(family_models[model_type][0]).eval()
    loss, logits = module(**batch)
    labels = torch.full_like(batch["input_ids"], -100)
    labels[batch["rows"], batch["cols"]] = batch["targets"]
    whole = module.mlm(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels)
    torch.testing.assert_close(loss, whole.loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logits, whole.logits[batch["rows"], batch["cols"]], rtol=1e-4, atol=1e-5)
