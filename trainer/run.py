"""Driver side of a training job: start Ray Train on the shared loop, then move the best
checkpoint into the store as a Hugging Face directory, marked complete last."""
from __future__ import annotations

import json
import math
import time

import pyarrow.fs as pafs
import ray
from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer

from engine.contract import fs
from engine.contract.store import TOKENIZER_FILES, commit_model
from trainer.events import EVENTS_FOLDER
from trainer.loop import train_loop_per_worker
from trainer.objectives import Objective
from trainer.params import TrainParams


def copy_tokenizer_files(source: str, out_dir: str) -> None:
    """The source's tokenizer files, byte for byte: the trained model tokenizes as its source did."""
    for file_name in TOKENIZER_FILES:
        if fs.is_file(fs.join(source, file_name)):
            fs.write_bytes(fs.join(out_dir, file_name), fs.read_bytes(fs.join(source, file_name)))


def cluster_has_gpus() -> bool:
    return ray.cluster_resources().get("GPU", 0) > 0


def nccl_available() -> bool:
    import torch.distributed

    return torch.distributed.is_available() and torch.distributed.is_nccl_available()


def ordered_ingest():
    options = DataConfig.default_ingest_options()
    options.preserve_order = True
    return options


def fit(objective: Objective, params: TrainParams, model_path: str, train, dev, out_dir: str,
        name: str, config_yaml: str, info: dict, share: float = 1.0, rows: int | None = None,
        evaluate_first: bool = False) -> dict:
    """Train from `model_path` on Ray datasets `train`/`dev`; the best epoch by the objective's
    dev metric is written to `out_dir`. Returns that epoch's metrics. Each worker asks for
    `share` of a GPU on GPUs (and, as Ray Train's default, no CPU), else `share` of a CPU:
    several trainings can then share a node. `rows`:
    the training rows when the caller has counted them (a count runs the dataset once).
    `evaluate_first`: the dev metrics of the model as it starts are measured too, and returned
    as `before`.

    A lost worker (a preempted node) restarts the worker group from the latest checkpoint
    (every epoch, and every `params.checkpoint_every` steps), up to `params.max_failures` times."""
    for ds in (train, dev):  # the step/loss lines are this job's progress; ingest bars are noise
        ds.context.enable_progress_bars = False
    fs.delete_dir(out_dir)  # leftovers of an interrupted run (no model.json): start clean
    use_gpu = cluster_has_gpus() if params.use_gpu is None else params.use_gpu
    rows = train.count() if rows is None else rows
    steps_per_epoch = max(1, math.ceil(rows / (params.batch_size * params.num_workers)))
    storage_fs, storage_root = fs.resolve(fs.join(out_dir, "_ray_train"))
    best_root = fs.join(out_dir, "_best")  # the best epoch's model, kept by the loop
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"objective": objective, "params": params, "model_path": model_path,
                           "steps_per_epoch": steps_per_epoch, "name": name, "best_root": best_root, "share": share,
                           "events_dir": fs.join(out_dir, EVENTS_FOLDER),
                           "evaluate_first": evaluate_first},
        scaling_config=ScalingConfig(num_workers=params.num_workers, use_gpu=use_gpu,
                                     resources_per_worker={"GPU": share} if use_gpu else {"CPU": share}),
        # NCCL between GPU workers where this torch has it (a cluster's CUDA build); gloo otherwise.
        torch_config=TorchConfig(backend="nccl" if use_gpu and nccl_available() else "gloo"),
        datasets={"train": train, "dev": dev},
        # Every worker sees the whole dev set, so each computes the same dev metrics. Ingest keeps
        # the data order, so an epoch resumed after a failure replays the same batches. One
        # worker reads the train set whole too: a split of one starts a coordinator actor for
        # nothing (~2 s of a small job on 2 cores).
        dataset_config=DataConfig(datasets_to_split=["train"] if params.num_workers > 1 else [],
                                  execution_options=ordered_ingest()),
        run_config=RunConfig(name=name, storage_path=storage_root, storage_filesystem=storage_fs,
                             # The latest checkpoint is the one to resume from; the best model is in _best.
                             checkpoint_config=CheckpointConfig(num_to_keep=1),
                             failure_config=FailureConfig(max_failures=params.max_failures)),
    )
    started = time.time()
    result = trainer.fit()
    seconds = time.time() - started
    checkpoint = result.checkpoint  # the latest, of the last epoch's end: its progress has the history
    with checkpoint.filesystem.open_input_stream(f"{checkpoint.path}/progress.json") as f:
        progress = json.loads(f.read())
    best_dir = result.metrics.get("best_dir")
    if not best_dir or not fs.is_file(fs.join(best_dir, "metrics.json")):
        raise RuntimeError(f"{name}: training finished without a best model")
    out_fs, out_root = fs.resolve(out_dir)
    best_fs, best_path = fs.resolve(best_dir)
    pafs.copy_files(best_path, out_root, source_filesystem=best_fs, destination_filesystem=out_fs)
    fs.delete_dir(best_root)
    copy_tokenizer_files(model_path, out_dir)
    fs.delete_dir(fs.join(out_dir, "_ray_train"))
    metrics = json.loads(fs.read_bytes(fs.join(out_dir, "metrics.json")))  # the best epoch's
    metrics["history"] = progress["history"]  # every epoch's
    metrics["curve"] = progress["curve"]  # the step/loss log lines
    metrics["resumed_from_step"] = result.metrics.get("resumed_from_step")  # the last restart, if any
    fs.write_bytes(fs.join(out_dir, "metrics.json"), json.dumps(metrics, indent=2).encode())
    fs.write_bytes(fs.join(out_dir, "config.yaml"), config_yaml.encode())
    # What the run cost, for reports: wall seconds of this fit (a resumed run counts from its restart).
    compute = {"seconds": seconds, "device": "GPU" if use_gpu else "CPU", "workers": params.num_workers}
    commit_model(out_dir, {**info, "train_rows": rows, "metrics": metrics, "compute": compute})
    return metrics
