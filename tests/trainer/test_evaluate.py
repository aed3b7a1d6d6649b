"""Test-split evaluation in the driver, where `taskpt experiment` tests several arms at once."""
import concurrent.futures as cf

import numpy as np
import torch
import transformers.modeling_utils
from transformers import BertForMaskedLM

from trainer.evaluate import evaluate_classifier


def test_classifiers_evaluated_in_threads_leave_model_loading_intact(tiny_classifier, tiny_bert):
    # from_pretrained swaps torch's init functions and PreTrainedModel.init_weights for no-ops
    # while it loads; two loads at once could restore one load's no-op as the "original".
    init_weights, normal = transformers.modeling_utils.PreTrainedModel.init_weights, torch.nn.init.normal_
    rows, labels = [np.array([5, 6, 7])] * 4, np.array([0, 1, 0, 1])
    with cf.ThreadPoolExecutor(8) as pool:
        scores = list(pool.map(lambda _: evaluate_classifier(tiny_classifier, rows, labels, 16), range(24)))
    assert all(s == scores[0] for s in scores)
    assert transformers.modeling_utils.PreTrainedModel.init_weights is init_weights and torch.nn.init.normal_ is normal
    # A head missing from the checkpoint is still initialised, on the CPU, not left on the meta device.
    head = BertForMaskedLM.from_pretrained(tiny_bert).cls.predictions.bias
    assert head.device.type == "cpu"
