"""What differs between training jobs; the loop in trainer/loop.py owns the rest."""
from trainer.objectives.base import Objective, pad_with_specials
from trainer.objectives.classify import SequenceClassification
from trainer.objectives.masked_lm import MaskedLM
from trainer.objectives.tagging import TokenTagging

__all__ = ["MaskedLM", "Objective", "SequenceClassification", "TokenTagging", "pad_with_specials"]
