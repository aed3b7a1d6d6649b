"""The one training loop, run on every Ray Train worker: setup, fit, evaluate.

What differs between jobs (model class, batch tensors, loss, dev metric) comes from the
`Objective` in the config; everything else is here, once.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import tempfile
import time

import numpy as np
import ray.train
import ray.train.torch
import torch
from ray.data.collate_fn import NumpyBatchCollateFn

# Ray Train sends worker logging to the driver once (a print would be echoed twice).
log = logging.getLogger("taskpt.trainer")


class ObjectiveCollate(NumpyBatchCollateFn):
    """Ray Data's collate interface over `Objective.collate`, for a chunk of several batches:
    the chunk's rows are sorted by length and cut into batches (less padding), and for training
    the batches' order is shuffled, so consecutive steps still see mixed lengths. Returns a list
    of collated batches."""

    def __init__(self, objective, train: bool, batch_size: int, seed: int):
        self.objective, self.train, self.batch_size = objective, train, batch_size
        self.rng = np.random.default_rng(seed)

    def __call__(self, chunk):
        order = np.argsort([len(row) for row in chunk["input_ids"]], kind="stable")
        pieces = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.train:
            self.rng.shuffle(pieces)
        return [self.objective.collate({k: v[rows] for k, v in chunk.items()}, train=self.train) for rows in pieces]


def train_loop_per_worker(config: dict) -> None:
    objective, params = config["objective"], config["params"]
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()

    # ---- setup ---------------------------------------------------------------------------
    torch.manual_seed(params.seed)  # fresh heads start the same on every worker and every run
    device = ray.train.torch.get_device()
    if device.type == "cpu":
        # Ray sets one thread per requested CPU; on a CPU-only machine use its cores.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    model = ray.train.torch.prepare_model(objective.build_model(config["model_path"]))
    module = model.module if hasattr(model, "module") else model
    # No weight decay on biases and LayerNorm weights (BERT's recipe).
    decay = [p for p in module.parameters() if p.ndim >= 2]
    no_decay = [p for p in module.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": params.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=params.lr, betas=(params.adam_beta1, params.adam_beta2), eps=params.adam_eps,
        fused=device.type == "cuda")
    total_steps = config["steps_per_epoch"] * params.epochs
    if params.max_steps:
        total_steps = min(total_steps, params.max_steps)
    warmup = int(params.warmup_ratio * total_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
    # bf16 autocast on GPU (no loss scaling needed); fp32 on CPU.
    autocast = functools.partial(torch.autocast, "cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext
    train_data = ray.train.get_dataset_shard("train")
    dev_data = ray.train.get_dataset_shard("dev")

    def batches(shard, train: bool, epoch: int = 0):
        """Batches of `params.batch_size` rows on `device`; rows are shuffled (train) and
        grouped by length within chunks of `group_by_length` batches."""
        seed = params.seed + epoch + 1000 * rank
        chunk_rows = params.batch_size * params.group_by_length
        chunks = shard.iter_torch_batches(
            batch_size=chunk_rows, collate_fn=ObjectiveCollate(objective, train, params.batch_size, seed),
            local_shuffle_buffer_size=2 * chunk_rows if train else None, local_shuffle_seed=seed if train else None)
        for chunk in chunks:
            for batch in chunk:
                yield {k: v.to(device, non_blocking=True) for k, v in batch.items()}

    # ---- fit -----------------------------------------------------------------------------
    name, step, best, stale, started = config["name"], 0, None, 0, time.time()
    first_loss, history = None, []  # history: one entry per epoch, for curves and tests
    for epoch in range(params.epochs):
        model.train()
        loss_sum, loss_steps = 0.0, 0
        for batch in batches(train_data, True, epoch):
            with autocast():
                loss = objective.loss(model, batch)
            loss.backward()
            if params.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), params.grad_clip)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            loss_sum, loss_steps = loss_sum + loss.item(), loss_steps + 1
            if first_loss is None:
                first_loss = loss_sum
            if rank == 0 and (step % params.log_every == 0 or step == 1):
                log.info(f"[{name}] epoch {epoch + 1}/{params.epochs} step {step}/{total_steps} "
                         f"mean loss {loss_sum / loss_steps:.4f} lr {schedule.get_last_lr()[0]:.2e} "
                         f"({time.time() - started:.0f}s)")
            if step >= total_steps:
                break

        # ---- evaluate on dev (held-out data, never a training batch) --------------------
        model.eval()
        with torch.no_grad(), autocast():
            metrics = objective.evaluate(module, batches(dev_data, False))
        value = metrics[objective.metric]
        improved = best is None or (value < best if objective.lower_is_better else value > best)
        best, stale = (value, 0) if improved else (best, stale + 1)
        metrics.update(epoch=epoch + 1, step=step, best=bool(improved), train_seconds=time.time() - started,
                       train_loss=loss_sum / max(1, loss_steps), first_step_loss=first_loss)
        history.append({k: metrics[k] for k in ("epoch", "step", "train_loss", objective.metric)})
        metrics["history"] = list(history)
        if rank == 0:
            log.info(f"[{name}] epoch {epoch + 1} dev: " + " ".join(
                f"{k}={v:.4f}" for k, v in metrics.items() if k.startswith("dev_")) + (" (best)" if improved else ""))
        # Every epoch leaves a checkpoint; Ray keeps the best by the objective's metric and the latest.
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if rank == 0:
                objective.hf_model(module).save_pretrained(tmp)
                with open(os.path.join(tmp, "metrics.json"), "w") as f:
                    json.dump(metrics, f, indent=2)
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=checkpoint)
        if step >= total_steps or (params.patience and stale >= params.patience):
            break
