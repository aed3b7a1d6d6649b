"""The real-token encoder gives Hugging Face's logits without running the padding."""
import numpy as np
import pytest
import torch
import transformers

from engine.encoder import RealTokenEncoder, real_token_encoder_supported


def _padded_batch(vocab_size: int, lengths: list[int], width: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (len(lengths), width), generator=generator)
    attention = torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]
    ids[~attention] = 0  # [PAD]
    return ids, attention


@pytest.mark.parametrize("model_class", ["BertForSequenceClassification", "BertForTokenClassification"])
@pytest.mark.parametrize("lengths_on_host", [True, False])
def test_real_token_logits_equal_hugging_faces_on_the_padded_batch(tiny_bert, model_class, lengths_on_host):
    torch.manual_seed(0)
    model = getattr(transformers, model_class).from_pretrained(tiny_bert, num_labels=2).eval()
    with torch.no_grad():  # every weight moved off its initial value (layer norms start at 1 and 0)
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
        model.classifier.weight.normal_(0.0, 2.0)  # a large head, so that differences in the encoder show
    lengths = [7, 3, 12, 1, 12, 5]
    ids, attention = _padded_batch(model.config.vocab_size, lengths, width=12)
    with torch.inference_mode():
        expected = model(input_ids=ids, attention_mask=attention.long()).logits
        got = RealTokenEncoder(model)(ids, attention, np.array(lengths) if lengths_on_host else None)
    assert got.shape == expected.shape
    if model_class == "BertForTokenClassification":
        torch.testing.assert_close(got[attention], expected[attention], atol=1e-5, rtol=1e-5)
    else:
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        # The padding is not run: the same rows padded wider give the same logits (called
        # outside inference mode too: the encoder enters it).
        wider, wider_attention = _padded_batch(model.config.vocab_size, lengths, width=20)
        wider[:, :12] = ids
        torch.testing.assert_close(RealTokenEncoder(model)(wider, wider_attention), got, atol=1e-5, rtol=1e-5)


def test_a_model_the_fused_layer_cannot_compute_is_refused_naming_the_setting(tiny_bert):
    config = transformers.BertConfig.from_pretrained(tiny_bert, hidden_act="gelu_new")
    assert "hidden_act" in real_token_encoder_supported(config.to_dict())
    model = transformers.BertForTokenClassification(config).eval()
    with pytest.raises(ValueError, match="hidden_act is 'gelu_new'"):
        RealTokenEncoder(model)
    assert real_token_encoder_supported(transformers.BertConfig.from_pretrained(tiny_bert).to_dict()) is None
