"""What `taskpt inspect` reports about masks."""
import numpy as np
import pyarrow as pa

from engine.mask_report import class_shares, most_masked, render, token_table, word_class
from engine.token_forms import TokenForms


def test_word_classes():
    tokens = [("movie", True, False), ("the", True, False), ("ing", False, False), (".", False, False),
              ("?!", True, False), ("1999", True, False), ("<s>", True, True), ("", True, False)]
    assert [word_class(*t) for t in tokens] == [
        "word", "stop word", "word piece", "punctuation", "punctuation", "number", "special", "word piece"]


def test_masked_tokens_are_marked_and_word_pieces_rejoined(tiny_bert):
    from engine.text import load_tokenizer

    tok, forms = load_tokenizer(tiny_bert), TokenForms.for_model(tiny_bert)
    ids = tok.convert_tokens_to_ids(["a", "great", "m", "##o", "##v", "##i", "##e", "."])
    assert render(ids, [1, 3], forms, color=False) == "a [great] m[o]vie ."
    assert "\x1b[7mgreat\x1b[0m" in render(ids, [1], forms, color=True)


def test_shares_and_most_masked_words_count_what_is_masked(tiny_bert):
    from engine.text import load_tokenizer

    tok = load_tokenizer(tiny_bert)
    ids = [tok.convert_tokens_to_ids(s.split()) for s in ["the movie was great .", "great fun .", "the plot ."]]
    rows = pa.table({"input_ids": ids, "mask_positions": [[3, 4], [0], []]})
    tokens = token_table(rows, TokenForms.for_model(tiny_bert))
    assert tokens.height == 11 and int(tokens["masked"].sum()) == 3
    shares = {r["class"]: r for r in class_shares(tokens).iter_rows(named=True)}
    assert shares["word"]["masks"] == 2 and shares["punctuation"]["masks"] == 1
    assert np.isclose(shares["word"]["share_of_masks"], 2 / 3) and np.isclose(shares["punctuation"]["mask_rate"], 1 / 3)
    top = most_masked(tokens).to_dicts()
    assert top[0] == {"token": "great", "masks": 2, "occurrences": 2, "mask_rate": 1.0}
    assert {r["token"] for r in top} == {"great", "."}
