"""Hyperparameters of one training run. Field by field in docs/config.md."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class TrainParams:
    epochs: int = 3                    # passes over the training data
    batch_size: int = 32               # rows per step per worker
    group_by_length: int = 16          # batches whose rows are length-sorted together (1: off)
    lr: float = 2e-5                   # peak learning rate (AdamW)
    warmup_ratio: float = 0.1          # share of steps with linear warmup, then linear decay
    weight_decay: float = 0.01         # AdamW decay (not on biases and LayerNorm)
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    grad_clip: float = 1.0             # max global gradient norm (0: off)
    max_seq: int = 128                 # wordpieces per row, [CLS] and [SEP] included
    max_steps: int = 0                 # stop after this many optimizer steps (0: no cap)
    patience: int = 0                  # stop after this many epochs without dev gain (0: off)
    seed: int = 42                     # model init of new heads, data order, mask draws
    log_every: int = 20                # print a step/loss line every N steps
    num_workers: int = 1               # Ray Train workers (data parallel)
    use_gpu: bool | None = None        # None: use GPUs when the cluster has them
    checkpoint_every: int = 0          # also checkpoint every N steps, not only at epoch ends (0: off)
    max_failures: int = 3              # restarts from the last checkpoint after a lost worker
