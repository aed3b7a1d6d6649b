"""What a tokenizer's units say about words, for any tokenizer kind: which tokens start a word,
and each token's text without its marker. WordPiece marks a word's continuations (`##ing`);
byte-level BPE (RoBERTa: `Ġmovie`) and SentencePiece / Unigram (XLM-R, DeBERTa-v3: `▁movie`)
mark a word's start instead, and the first token of a text tokenized on its own has no mark
there (RoBERTa's `the` in "the movie"), so a row's first token counts as a word start too.
Read from tokenizer.json (the `tokenizers` library, no transformers)."""
from __future__ import annotations

import dataclasses

import numpy as np

DEFAULT_CONTINUATION = "##"
DEFAULT_METASPACE = "\u2581"  # ▁


def components(node: dict | None) -> list[dict]:
    """A tokenizer.json pre_tokenizer or decoder and, for a Sequence, its parts."""
    if not node:
        return []
    parts = node.get("pretokenizers") or node.get("decoders") or []
    return [node] + [p for part in parts for p in components(part)]


@dataclasses.dataclass
class TokenForms:
    tokens: list[str]           # every id's token as the vocabulary has it
    surfaces: list[str]         # its text without the word-start or continuation marker
    word_start: np.ndarray      # bool per id: the token starts a word (a continuation does not)
    special: np.ndarray         # bool per id: a special token (<s>, [CLS], <mask>, ...)
    marks_word_starts: bool     # word starts are marked (BPE, Unigram): a row's unmarked first token starts one too

    @classmethod
    def from_spec(cls, spec: dict, tokens: list[str]) -> TokenForms:
        """From tokenizer.json's parsed content `spec` and its vocabulary, id by id."""
        special = np.zeros(len(tokens), dtype=bool)
        special[[t["id"] for t in spec.get("added_tokens", []) if t.get("special") and t["id"] < len(tokens)]] = True
        model = spec.get("model") or {}
        kinds = {part.get("type"): part for part in components(spec.get("pre_tokenizer")) + components(spec.get("decoder"))}
        if model.get("type") == "WordPiece":
            prefix = model.get("continuing_subword_prefix") or DEFAULT_CONTINUATION
            continuation = [t.startswith(prefix) for t in tokens]
            surfaces = [t[len(prefix):] if c else t for t, c in zip(tokens, continuation)]
            return cls(tokens, surfaces, ~np.array(continuation, dtype=bool) | special, special, False)
        if "ByteLevel" in kinds:
            from tokenizers import decoders

            decoder = decoders.ByteLevel()  # bytes back to text: "Ġ" is a space, "Ã©" is "é"
            texts = [decoder.decode([t]) for t in tokens]
            starts = [text.startswith(" ") for text in texts]
            surfaces = [text.strip() for text in texts]
        elif "Metaspace" in kinds:
            marker = kinds["Metaspace"].get("replacement") or DEFAULT_METASPACE
            starts = [t.startswith(marker) for t in tokens]
            surfaces = [t[len(marker):] if s else t for t, s in zip(tokens, starts)]
        else:  # no marker known: every token counts as a word
            return cls(tokens, list(tokens), np.ones(len(tokens), dtype=bool), special, False)
        surfaces = [t if s else text for t, s, text in zip(tokens, special, surfaces)]
        return cls(tokens, surfaces, np.array(starts, dtype=bool) | special, special, True)

    @classmethod
    def for_model(cls, model_path: str) -> TokenForms:
        """The forms of the checkpoint's tokenizer.json."""
        import json

        from engine.text import file_tokenizer

        tokenizer = file_tokenizer(model_path)
        return cls.from_spec(json.loads(tokenizer.to_str()), [tokenizer.id_to_token(i)
                                                              for i in range(tokenizer.get_vocab_size())])

    def starts(self, values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Bool per position of rows (`values` flat, row b at offsets[b]:offsets[b + 1]): the
        token there starts a word."""
        start = self.word_start[values]
        if self.marks_word_starts:
            firsts = offsets[:-1][np.diff(offsets) > 0]
            start[firsts] = True
        return start
