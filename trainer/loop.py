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

from engine.contract import fs
from trainer.events import EventLog

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
        return [self.objective.collate({k: v[rows] for k, v in chunk.items()}, train=self.train, rng=self.rng)
                for rows in pieces]


def train_loop_per_worker(config: dict) -> None:
    objective, params = config["objective"], config["params"]
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()

    # ---- setup ---------------------------------------------------------------------------
    torch.manual_seed(params.seed)  # fresh heads start the same on every worker and every run
    device = ray.train.torch.get_device()
    if device.type == "cuda" and not torch.cuda.is_available():
        # A GPU the scheduler counted but this torch cannot use (a CPU build, no driver): say
        # so and train on the CPU, as the engine's model actors do, rather than fail the run.
        print(f"[taskpt train] worker {rank}: assigned GPU(s) {ray.get_gpu_ids()} but torch sees no CUDA "
              "device; training on CPU", flush=True)
        device = torch.device("cpu")
    if device.type == "cpu":
        # Ray sets one thread per requested CPU; on a CPU-only machine use its cores (this
        # training's share of them, when trainings run side by side).
        torch.set_num_threads(max(1, int((os.cpu_count() or 1) * config["share"]) // world))
    model = ray.train.torch.prepare_model(objective.build_model(config["model_path"]), move_to_device=device)
    module = model.module if hasattr(model, "module") else model
    optimizer = make_optimizer(module, params, device)
    total_steps = config["steps_per_epoch"] * params.epochs
    if params.max_steps:
        total_steps = min(total_steps, params.max_steps)
    schedule = linear_schedule(optimizer, int(params.warmup_ratio * total_steps), total_steps)
    autocast = autocast_for(device)
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

    # ---- resume ---------------------------------------------------------------------------
    # After a lost worker, Ray Train restarts the group with the latest checkpoint: weights,
    # optimizer, schedule and RNG come back, and the interrupted epoch is replayed in the same
    # order (same seeds, order-preserving ingest) with the batches already trained on skipped.
    progress = {"epoch": 0, "batches_done": 0, "step": 0, "best": None, "stale": 0, "history": [], "curve": [],
                "first_loss": None, "loss_sum": 0.0, "loss_steps": 0, "best_dir": None, "resumed_from_step": None}
    checkpoint = ray.train.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as directory:
            progress = load_training_state(directory, module, optimizer, schedule)
        progress["resumed_from_step"] = progress["step"]
        if rank == 0:
            log.info(f"[{config['name']}] resumed from the checkpoint at step {progress['step']} "
                     f"(epoch {progress['epoch'] + 1}, {progress['batches_done']} batches into it)")

    def save(metrics: dict, state: dict) -> None:
        """Report `metrics` with a checkpoint of the whole training state (rank 0 writes it)."""
        with tempfile.TemporaryDirectory() as tmp:
            if rank == 0:
                save_training_state(tmp, module, optimizer, schedule, state)
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp) if rank == 0 else None)

    # ---- fit -----------------------------------------------------------------------------
    name, started = config["name"], time.time()
    if config.get("evaluate_first") and progress.get("before") is None:
        # The dev metrics of the model as it starts (once, not again after a restart).
        model.eval()
        with torch.no_grad(), autocast():
            progress["before"] = objective.evaluate(module, batches(dev_data, False))
        if rank == 0:
            log.info(f"[{name}] before training dev: " + " ".join(f"{k}={v:.4f}" for k, v in progress["before"].items()))
    step, best, stale, history = progress["step"], progress["best"], progress["stale"], progress["history"]
    curve = progress.get("curve", [])  # (step, mean train loss of the epoch so far) at every log line
    first_loss, best_dir = progress["first_loss"], progress["best_dir"]
    # Rank 0's TensorBoard scalars, in the model's store folder (trainer.events).
    events = EventLog(config["events_dir"]) if rank == 0 and config.get("events_dir") else None
    # Throughput and time left, from this process's own steps (a resumed run counts from its restart).
    first_step, tokens, last_logged = step, 0, (time.time(), 0)
    for epoch in range(progress["epoch"], params.epochs):
        model.train()
        resuming = epoch == progress["epoch"]
        skip = progress["batches_done"] if resuming else 0
        loss_sum, loss_steps = (progress["loss_sum"], progress["loss_steps"]) if resuming else (0.0, 0)
        # Losses since loss_sum was last read add up on the device: reading one (.item())
        # would make the host wait for every step instead of queueing the next one.
        unread = torch.zeros((), device=device)
        unread_tokens = torch.zeros((), dtype=torch.int64, device=device)  # non-padding wordpieces
        for index, batch in enumerate(batches(train_data, True, epoch)):
            if index < skip:
                continue  # trained on before the restart
            loss = train_step(model, objective, batch, optimizer, schedule, autocast, params.grad_clip)
            step, loss_steps = step + 1, loss_steps + 1
            unread += loss
            unread_tokens += batch["attention_mask"].sum()
            if first_loss is None or (rank == 0 and step % params.log_every == 0):
                loss_sum, unread = loss_sum + float(unread), unread.zero_()
                first_loss = loss_sum if first_loss is None else first_loss
            if rank == 0 and (step % params.log_every == 0 or step == 1):
                curve.append({"step": step, "train_loss": loss_sum / loss_steps})
                now, lr = time.time(), schedule.get_last_lr()[0]
                tokens, unread_tokens = tokens + int(unread_tokens), unread_tokens.zero_()
                # Every worker trains on as many batches: rank 0's tokens x the workers.
                per_second = world * (tokens - last_logged[1]) / max(now - last_logged[0], 1e-9)
                left = (now - started) / (step - first_step) * (total_steps - step)
                last_logged = (now, tokens)
                log.info(f"[{name}] epoch {epoch + 1}/{params.epochs} step {step}/{total_steps} "
                         f"mean loss {loss_sum / loss_steps:.4f} lr {lr:.2e} {per_second:,.0f} tokens/s "
                         f"({now - started:.0f}s, ~{left:.0f}s left)")
                if events:
                    events.scalars(step, {"train/loss": loss_sum / loss_steps, "train/lr": lr,
                                          "train/tokens_per_second": per_second})
            if step >= total_steps:
                break
            if params.checkpoint_every and step % params.checkpoint_every == 0:
                loss_sum, unread = loss_sum + float(unread), unread.zero_()
                save({"epoch": epoch + 1, "step": step, "train_loss": loss_sum / loss_steps},
                     {**progress, "epoch": epoch, "batches_done": index + 1, "step": step, "best": best, "stale": stale,
                      "history": history, "curve": curve, "first_loss": first_loss, "loss_sum": loss_sum,
                      "loss_steps": loss_steps, "best_dir": best_dir})

        loss_sum += float(unread)

        # ---- evaluate on dev (held-out data, never a training batch) --------------------
        model.eval()
        with torch.no_grad(), autocast():
            metrics = objective.evaluate(module, batches(dev_data, False))
        value = metrics[objective.metric]
        improved = best is None or (value < best if objective.lower_is_better else value > best)
        best, stale = (value, 0) if improved else (best, stale + 1)
        metrics.update(epoch=epoch + 1, step=step, best=bool(improved), train_seconds=time.time() - started,
                       train_loss=loss_sum / max(1, loss_steps), first_step_loss=first_loss,
                       resumed_from_step=progress["resumed_from_step"], before=progress.get("before"))
        history.append({k: metrics[k] for k in ("epoch", "step", "train_loss", objective.metric)})
        # The history and the loss curve travel in the checkpoint, not in the reported metrics,
        # which Ray Train logs in full at every report.
        if rank == 0:
            log.info(f"[{name}] epoch {epoch + 1} dev: " + " ".join(
                f"{k}={v:.4f}" for k, v in metrics.items() if k.startswith("dev_")) + (" (best)" if improved else ""))
        if events:
            events.scalars(step, {f"dev/{k.removeprefix('dev_')}": v for k, v in metrics.items()
                                  if k.startswith("dev_") and isinstance(v, (int, float))})
            events.flush()
        if improved:
            # The best model so far goes to the store as a Hugging Face directory of its own; the
            # pointer to it moves (in the checkpoint and the report) only once it is written.
            previous, best_dir = best_dir, fs.join(config["best_root"], f"epoch-{epoch + 1}")
            if rank == 0:
                save_hf_directory(objective.hf_model(module), metrics, best_dir)
                if previous:
                    fs.delete_dir(previous)
        metrics["best_dir"] = best_dir
        save(metrics, {**progress, "epoch": epoch + 1, "batches_done": 0, "step": step, "best": best, "stale": stale,
                       "history": history, "curve": curve, "first_loss": first_loss, "loss_sum": 0.0,
                       "loss_steps": 0, "best_dir": best_dir})
        if step >= total_steps or (params.patience and stale >= params.patience):
            break
    if events:
        events.close()


def train_step(model, objective, batch: dict, optimizer, schedule, autocast, grad_clip: float) -> torch.Tensor:
    """One optimizer step on one collated batch; returns the loss (still on the device, so
    the host does not wait for it here). bench/pretrain.py times exactly this."""
    with autocast():
        loss = objective.loss(model, batch)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def make_optimizer(module, params, device):
    """AdamW (fused on GPU) without weight decay on biases and LayerNorm weights (BERT's recipe),
    over the parameters that train (an objective may freeze some: MaskedLM's head_only)."""
    trained = [p for p in module.parameters() if p.requires_grad]
    decay = [p for p in trained if p.ndim >= 2]
    no_decay = [p for p in trained if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": params.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=params.lr, betas=(params.adam_beta1, params.adam_beta2), eps=params.adam_eps,
        fused=device.type == "cuda")


def linear_schedule(optimizer, warmup: int, total_steps: int):
    """Linear warmup over `warmup` steps, then linear decay to 0 at `total_steps`."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total_steps - s) / max(1, total_steps - warmup)))


def autocast_for(device):
    """bf16 autocast on GPU (no loss scaling needed); fp32 on CPU."""
    if device.type == "cuda":
        return functools.partial(torch.autocast, "cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def save_hf_directory(model, metrics: dict, out_dir: str) -> None:
    """model.save_pretrained + metrics.json, written locally then copied to `out_dir` (any store)."""
    import pyarrow.fs as pafs

    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        with open(os.path.join(tmp, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2)
        out_fs, out_root = fs.resolve(out_dir)
        out_fs.create_dir(out_root, recursive=True)
        pafs.copy_files(tmp, out_root, destination_filesystem=out_fs)


def save_training_state(directory: str, module, optimizer, schedule, progress: dict) -> None:
    """Weights as safetensors (tied weights handled), optimizer/schedule/RNG as tensors only."""
    import safetensors.torch

    safetensors.torch.save_model(module, os.path.join(directory, "model.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                "torch_rng": torch.get_rng_state()}, os.path.join(directory, "train_state.pt"))
    with open(os.path.join(directory, "progress.json"), "w") as f:
        json.dump(progress, f)


def load_training_state(directory: str, module, optimizer, schedule) -> dict:
    """The inverse of save_training_state; nothing is unpickled (weights_only=True)."""
    import safetensors.torch

    safetensors.torch.load_model(module, os.path.join(directory, "model.safetensors"))
    state = torch.load(os.path.join(directory, "train_state.pt"), weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    torch.set_rng_state(state["torch_rng"])
    with open(os.path.join(directory, "progress.json")) as f:
        return json.load(f)
