"""English stop words (NLTK's list, as the published code used). A token is a stop word when it
is a whole word whose text, without the tokenizer's marker, is in this list: it starts a word
and the next token starts another (or is punctuation, or ends the sentence). So neither the `##s`
of WordPiece nor an unmarked `s` after `Ġmovie` (byte-level BPE) nor the `▁s` of `▁s lo w`
(Unigram) is one."""
import string

import numpy as np

ENGLISH = frozenset("""
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
yourselves he him his himself she she's her hers herself it it's its itself they them their
theirs themselves what which who whom this that that'll these those am is are was were be been
being have has had having do does did doing a an the and but if or because as until while of at
by for with about against between into through during before after above below to from up down
in out on off over under again further then once here there when where why how all any both
each few more most other some such no nor not only own same so than too very s t can will just
don don't should should've now d ll m o re ve y ain aren aren't couldn couldn't didn didn't doesn
doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma mightn mightn't mustn mustn't needn
needn't shan shan't shouldn shouldn't wasn wasn't weren weren't won won't wouldn wouldn't
""".split())


class StopWords:
    """The stop-word test for one tokenizer (engine.token_forms.TokenForms)."""

    def __init__(self, forms):
        self.forms = forms
        # Per vocabulary id: its text is a stop word (specials never are), or it is punctuation.
        self.ids = np.array([s.lower() in ENGLISH for s in forms.surfaces], dtype=bool) & ~forms.special
        self.punctuation = np.array([bool(s) and all(c in string.punctuation for c in s) for s in forms.surfaces])

    def at(self, values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Bool per position of rows (`values` flat, row b at offsets[b]:offsets[b + 1])."""
        punctuation = self.punctuation[values]
        starts = self.forms.starts(values, offsets)
        starts[1:] |= punctuation[:-1]  # "(the": BPE's "the" after "Ġ(" starts a word
        ends = np.ones(len(values), dtype=bool)
        ends[:-1] = starts[1:] | punctuation[1:]  # "it,": BPE's "," after "Ġit" ends one
        return self.ids[values] & starts & ends
