"""Driver side of a training job: start Ray Train on the shared loop, then move the best
checkpoint into the store as a Hugging Face directory, marked complete last."""
from __future__ import annotations

import json
import math

import pyarrow.fs as pafs
import ray
from ray.train import CheckpointConfig, DataConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from engine.contract import fs
from engine.contract.store import commit_model
from trainer.loop import train_loop_per_worker
from trainer.objectives import Objective
from trainer.params import TrainParams

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def cluster_has_gpus() -> bool:
    return ray.cluster_resources().get("GPU", 0) > 0


def fit(objective: Objective, params: TrainParams, model_path: str, train, dev, out_dir: str,
        name: str, config_yaml: str, info: dict) -> dict:
    """Train from `model_path` on Ray datasets `train`/`dev`; the best epoch by the objective's
    dev metric is written to `out_dir`. Returns that epoch's metrics."""
    for ds in (train, dev):  # the step/loss lines are this job's progress; ingest bars are noise
        ds.context.enable_progress_bars = False
    mode = "min" if objective.lower_is_better else "max"
    fs.delete_dir(out_dir)  # leftovers of an interrupted run (no model.json): start clean
    use_gpu = cluster_has_gpus() if params.use_gpu is None else params.use_gpu
    rows = train.count()
    steps_per_epoch = max(1, math.ceil(rows / (params.batch_size * params.num_workers)))
    storage_fs, storage_root = fs.resolve(fs.join(out_dir, "_ray_train"))
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"objective": objective, "params": params, "model_path": model_path,
                           "steps_per_epoch": steps_per_epoch, "name": name},
        scaling_config=ScalingConfig(num_workers=params.num_workers, use_gpu=use_gpu),
        datasets={"train": train, "dev": dev},
        # Every worker sees the whole dev set, so each computes the same dev metrics.
        dataset_config=DataConfig(datasets_to_split=["train"]),
        run_config=RunConfig(name=name, storage_path=storage_root, storage_filesystem=storage_fs,
                             checkpoint_config=CheckpointConfig(
                                 num_to_keep=1, checkpoint_score_attribute=objective.metric, checkpoint_score_order=mode)),
    )
    result = trainer.fit()
    best = result.get_best_checkpoint(objective.metric, mode)
    if best is None:
        raise RuntimeError(f"{name}: training finished without a checkpoint")
    out_fs, out_root = fs.resolve(out_dir)
    pafs.copy_files(best.path, out_root, source_filesystem=best.filesystem, destination_filesystem=out_fs)
    for file_name in TOKENIZER_FILES:
        if fs.is_file(fs.join(model_path, file_name)):
            fs.write_bytes(fs.join(out_dir, file_name), fs.read_bytes(fs.join(model_path, file_name)))
    fs.delete_dir(fs.join(out_dir, "_ray_train"))
    metrics = json.loads(fs.read_bytes(fs.join(out_dir, "metrics.json")))  # the best epoch's
    metrics["history"] = result.metrics["history"]  # every epoch's, from the latest report
    fs.write_bytes(fs.join(out_dir, "metrics.json"), json.dumps(metrics, indent=2).encode())
    fs.write_bytes(fs.join(out_dir, "config.yaml"), config_yaml.encode())
    commit_model(out_dir, {**info, "train_rows": rows, "metrics": metrics})
    return metrics
