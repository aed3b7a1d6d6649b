"""What every job entry point shares: reading its arguments, the Ray session, the labeled task
data, and the one-line messages a user sees."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys

import numpy as np
import polars as pl

from engine.contract import Manifest, fs, is_complete, model_is_complete
from engine.contract.manifest import ManifestError
from engine.contract.tokenizer import tokenizer_identity
from engine.contract.verify import reopen_damaged
from engine.corpus import check_corpus, corpus_files
from engine.errors import InputError
from engine.hub import hub_snapshot, is_model_id
from engine.labeled import encode_labels, label_set, load_labeled
from engine.models import check_checkpoint
from engine.shards import numpy_batch
from engine.text import SentenceTokenizer
from engine.writer import pending_shards, write_sharded
from jobs.config import PATH_KEYS, ConfigError, PipelineConfig, get_key, load_config
from jobs.environment import taskpt_version
from jobs.paths import check_job_paths, job_working_dir, ray_job
from jobs.plan import make_plan
from trainer.local_ray import LOCAL_RUNTIME_ENV


class StageError(RuntimeError):
    """A stage cannot start (its input is missing); the message says which command makes it."""


def parse_args(stage: str, argv: list[str] | None) -> PipelineConfig:
    parser = argparse.ArgumentParser(prog=f"taskpt {stage}", description=f"taskpt stage: {stage}")
    parser.add_argument("config", help="pipeline config (YAML)")
    parser.add_argument("overrides", nargs="*", help="key.sub=value, applied over the file")
    args = parser.parse_args(argv)
    return load_config(args.config, args.overrides)


def entry_point(stage: str, body, argv: list[str] | None = None, *, trains: bool = True,
                env: dict[str, str] | None = None) -> int:
    """Run `body(cfg, plan)` inside a Ray session; bad input ends with one line, exit code 2.
    `trains`: whether the stage runs Ray Train (`ray_session`). `env`: the process environment
    (default os.environ), which says whether this is a Ray job's driver."""
    env = dict(os.environ) if env is None else env
    try:
        cfg = parse_args(stage, argv)
        job = ray_job(env)
        if job is not None:
            announce_job(stage, cfg, job)
        locate_model(stage, cfg, env)
        check_model(cfg, weights=trains)
        plan = make_plan(cfg)
        with ray_session(cfg, trains=trains):
            body(cfg, plan)
    except (ConfigError, InputError, ManifestError, StageError) as e:
        print(f"taskpt {stage}: error: {e}", file=sys.stderr)
        return 2
    return 0


def announce_job(stage: str, cfg: PipelineConfig, job: dict) -> None:
    """A Ray job's first line: the code's version and every path it reads and writes; then the
    check that it writes nothing into the job's uploaded working directory."""
    reads = ", ".join(f"{key} {get_key(cfg, key)}" for key in PATH_KEYS if key != "store" and get_key(cfg, key))
    job_id = (job.get("metadata") or {}).get("job_submission_id", "")
    say(stage, f"taskpt {taskpt_version()} in Ray job {job_id}; reads {reads}; writes under {cfg.store}")
    working_dir = job_working_dir(job, os.getcwd())
    if working_dir:
        check_job_paths(cfg, working_dir)


def locate_model(stage: str, cfg: PipelineConfig, env: dict[str, str]) -> None:
    """A `model` given as a Hugging Face model id becomes its directory in the Hugging Face
    cache (downloaded there first where it is not, and the hub can be reached)."""
    if is_model_id(cfg.model):
        model_id, cfg.model = cfg.model, hub_snapshot(cfg.model, env)
        say(stage, f"model {model_id}: {cfg.model} (Hugging Face cache)")


def check_model(cfg: PipelineConfig, weights: bool) -> None:
    """The general model is a checkpoint of a family the model actors run (the scorer
    and the tagger are fine-tuned from it, so they share its architecture). Its weights are
    checked against its config where the stage trains from them (`weights`): scoring and
    tagging read only models taskpt trained from it."""
    check_checkpoint(cfg.model, weights=weights)


@contextlib.contextmanager
def ray_session(cfg: PipelineConfig, trains: bool = True):
    """Join the cluster this runs in (a Ray job, or compute.address / $RAY_ADDRESS), else start
    a local Ray for the duration of the command; for a command that `trains`, with what Ray
    Train needs on one machine (its dashboard and LOCAL_RUNTIME_ENV)."""
    import ray

    if ray.is_initialized():
        yield
        return
    address = cfg.compute.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address)
    elif trains:
        # "local": a new Ray for this command, never a stale cluster found in /tmp/ray. With its
        # dashboard (127.0.0.1:8265, or the next free port): the state API it serves is what Ray
        # Train's placement-group cleaner polls once a second, warning each time it is missing
        # (353 lines in one demo run without it); a demo fine-tune took 68.4 s with it, 70.1 s
        # without. None, not True: started where ray[default] is installed, skipped on a minimal
        # ray (True refuses to start there).
        ray.init(address="local", num_cpus=cfg.compute.num_cpus, include_dashboard=None,
                 runtime_env=LOCAL_RUNTIME_ENV)
    else:
        # Neither for the rest. The dashboard's ~10 processes made tagging on 2 cores 4-5% slower;
        # and with a job-wide runtime env no task can run in the workers Ray starts ahead with
        # ray.init, which have none: every read task waited for a new process, started beside
        # the actors' (2 cores: the tagger's first call 5.7-6.1 s into the job with it, 4.3-4.6
        # s without; docs/performance.md, "Ray's overhead on 2 cores").
        ray.init(address="local", num_cpus=cfg.compute.num_cpus, include_dashboard=False)
    try:
        yield
    finally:
        ray.shutdown()


def say(stage: str, message: str) -> None:
    print(f"[taskpt {stage}] {message}", flush=True)


def reuse(stage: str, out: str) -> bool:
    """Whether the dataset `out` is complete and intact: a cache hit. Shards found missing or
    truncated (a size check, no reads) are removed with the manifest, so the stage writes them
    again, and only them."""
    damaged = reopen_damaged(out)
    if damaged:
        say(stage, f"{out}: {len(damaged)} shard(s) missing or damaged ({', '.join(damaged)}); writing them again")
    return is_complete(out)


def write_shards(stage: str, cfg: PipelineConfig, out: str, kind: str, names: list[str], build, *, model: str,
                 params: dict, pool=None) -> Manifest:
    """The dataset `out` of shards `names`: `build(pending)` (a Ray dataset of shard rows) for
    the shards not yet in place, then the manifest over all of them, saying when it resumes.
    `pool`: the model actors' placement (`actor_pool`) that `build` runs them on; None for a
    derived dataset, which runs no model."""
    pending = pending_shards(out, names)
    if len(pending) < len(names):
        say(stage, f"resuming: {len(names) - len(pending)} of {len(names)} shard(s) already in {out}, "
                   f"{len(pending)} to go")
    device = "GPU" if pool and pool.gpus else "CPU"
    if pending and device == "GPU":
        wait_for_gpu_nodes(stage, cfg, pool)
    # After GPU model actors, shards are written by actors started with them (engine.writer.ShardWriter),
    # up to one per model actor, so the first tagged shard does not wait for a worker process to
    # start. Elsewhere in write tasks: on a small CPU machine a writer actor's start slows the
    # model actor's (2 cores, the demo's tag stage: 1.3 s slower; docs/performance.md).
    writers = pool.max_size if device == "GPU" else 0
    return write_sharded(build(pending) if pending else None, out, kind, names, fingerprint=fs.basename(out),
                         model=model, params=params, config_yaml=cfg.to_yaml(), tokenizer=tokenizer_identity(model),
                         writer_actors=writers, device=device)


def wait_for_gpu_nodes(stage: str, cfg: PipelineConfig, pool) -> None:
    """Where no node has the GPU a model actor asks for (an autoscaling cluster with no GPU node
    yet, or after its spot nodes were taken back), wait for the autoscaler to add them, saying
    so, instead of starting a pool that would wait in silence; an error after
    compute.wait_for_nodes_s."""
    import ray

    from engine.cluster import NodesUnavailable, wait_for_resources

    if any(n["Alive"] and n["Resources"].get("GPU", 0) >= pool.gpus for n in ray.nodes()):
        return  # the actors fit on a node there is (perhaps once another stage lets go of it)
    bundle = {"GPU": pool.gpus, "CPU": pool.cpus}
    say(stage, f"no node has a GPU yet: asking the cluster for {pool.min_size} model actor(s) x {bundle}")
    try:
        waited = wait_for_resources(bundle, pool.min_size, cfg.compute.wait_for_nodes_s, lambda m: say(stage, m),
                                    "model actors", "compute.wait_for_nodes_s")
    except NodesUnavailable as e:
        raise StageError(str(e)) from None
    say(stage, f"GPU node(s) ready after {waited:.0f} s")


def require_model(path: str, what: str, command: str) -> None:
    if not model_is_complete(path):
        raise StageError(f"{what} is not in the store yet ({path}); run `taskpt {command} CONFIG` first")


@dataclasses.dataclass
class TaskData:
    labels: list[str]           # class names, index = class id
    train: pl.DataFrame         # example_id, text, label (class id)
    dev: pl.DataFrame
    test: pl.DataFrame


def load_task(cfg: PipelineConfig) -> TaskData:
    """All three splits, validated before any work: a bad dev or test file fails stage 1 too."""
    t = cfg.task
    raw = {name: load_labeled(getattr(t, name), t.text_column, t.label_column, t.format, t.encoding)
           for name in ("train", "dev", "test")}
    labels = label_set(raw["train"], t.labels)
    if len(labels) < 2:
        raise InputError(f"{t.train}: column {t.label_column!r} has only the label(s) {labels}; need two or more")
    splits = {name: encode_labels(df, labels, getattr(t, name)) for name, df in raw.items()}
    if t.max_train_examples:
        splits["train"] = splits["train"].head(t.max_train_examples)
    return TaskData(labels=labels, **splits)


def check_inputs(cfg: PipelineConfig, corpus: bool = True) -> TaskData:
    """Every input a multi-stage command reads, checked before its first stage, not hours later
    when a stage needs it: the three labeled splits and, when `corpus`, the domain corpus."""
    task = load_task(cfg)
    if corpus:
        d = cfg.domain
        check_corpus(corpus_files(d.corpus), d.columns(), d.format, d.encoding)
    return task


def tokenize_examples(table: pl.DataFrame, model_path: str, max_seq: int) -> dict[str, np.ndarray]:
    """Whole examples (no sentence split) as wordpieces; in-process, the labeled sets are small."""
    tokenizer = SentenceTokenizer.for_model(model_path, max_tokens=max_seq - 2, split=False)
    return numpy_batch(tokenizer({"example_id": table["example_id"].to_numpy(), "label": table["label"].to_numpy(),
                                  "text": table["text"].to_numpy()}))


def classification_rows(table: pl.DataFrame, model_path: str, max_seq: int):
    """A Ray dataset of (input_ids, label) for the shared training loop."""
    import ray.data

    rows = tokenize_examples(table, model_path, max_seq)
    return ray.data.from_items([{"input_ids": ids, "label": int(y)} for ids, y in zip(rows["input_ids"], rows["label"])])




def special_ids(model_path: str) -> dict[str, int]:
    from engine.text import load_tokenizer

    tok = load_tokenizer(model_path)
    return {"cls_id": tok.cls_token_id, "sep_id": tok.sep_token_id, "pad_id": tok.pad_token_id}


def training_params(params):
    """`params` (a TrainParams) with use_gpu resolved where it is unset: GPU workers where the
    cluster has GPUs or its autoscaler can add them (Ray Train then waits for the nodes)."""
    if params.use_gpu is not None:
        return params
    from engine.cluster import cluster_gpus

    return dataclasses.replace(params, use_gpu=cluster_gpus().any)


def stage_share(cfg: PipelineConfig) -> float:
    """The part of a GPU (of a CPU, for a training worker on a CPU cluster) each stage asks
    for, so that `compute.concurrent_stages` of them fit on one node at once."""
    return 1.0 / cfg.compute.concurrent_stages


def actor_pool(cfg: PipelineConfig):
    """The model actors' placement: GPU actors (1/concurrent_stages of a GPU each) where the
    cluster has GPUs or its autoscaler can add them (compute.gpus_per_actor: auto), else CPU."""
    import ray

    from engine.cluster import cluster_gpus
    from engine.pipelines import ActorPool

    c = cfg.compute
    outlook = cluster_gpus()
    gpus = (stage_share(cfg) if outlook.any else 0.0) if c.gpus_per_actor in (None, "auto") else float(c.gpus_per_actor)
    # A GPU pool may grow to one actor per GPU the cluster has or its autoscaler can add; a CPU
    # pool keeps one actor, which uses every core of its node.
    max_size = c.actors_max or max(c.actors_min, int(max(outlook.present, outlook.offered)) if gpus else 1)
    node_cpus = int(max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]), default=1))
    threads = c.cpu_threads
    if threads is None and not gpus:
        # CPU actors share the largest node's cores (one actor per node unless actors_max says more).
        threads = max(1, node_cpus // max_size)
    # A GPU tags tens of thousands of sentences a second: half the cores of the largest node
    # (two left for the model actor, reads and writes) tokenize for it; one on a small machine.
    tokenizers = c.tokenizer_actors or max(1, (node_cpus - 2) // 2)
    # With a GPU, a second shard in the actor keeps the device busy while the host unpacks
    # one shard and packs the next; CPU actors already use every core for one.
    concurrent = c.concurrent_shards or (2 if gpus else 1)
    return ActorPool(min_size=c.actors_min, max_size=max_size, gpus=gpus, cpus=c.cpus_per_actor,
                     max_batch_tokens=c.max_batch_tokens, dtype=c.inference_dtype, cpu_threads=threads,
                     tokenizer_actors=tokenizers, concurrent_shards=concurrent, pack_sequences=c.pack_sequences,
                     read_tasks=c.read_tasks, compile_model=c.compile_model)
