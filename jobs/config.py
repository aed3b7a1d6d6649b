"""The pipeline config: one YAML file, validated on load into these typed objects.
Every key is documented in docs/config.md; keep the two in step."""
from __future__ import annotations

import dataclasses
import os

import yaml

from engine.contract import fs
from engine.hub import is_model_id
from engine.models import INFERENCE_DTYPES
from engine.remask import CANDIDATES
from jobs.validate import ConfigError, build
from trainer.params import TrainParams

ARMS = ("selective", "selective_content", "random", "dapt", "tapt", "dapt_tapt")


@dataclasses.dataclass
class TaskConfig:
    train: str                          # labeled training split (CSV, TSV, JSONL, Parquet)
    dev: str                            # labeled dev split: picks the best epoch
    test: str                           # labeled test split: the reported numbers
    text_column: str = "text"
    label_column: str = "label"
    format: str = "auto"                # auto (by extension) | csv | tsv | jsonl | parquet
    encoding: str = "utf-8"
    labels: list[str] | None = None     # label names in class order (default: sorted train labels)
    max_train_examples: int = 0         # use only the first N training examples (0: all)


@dataclasses.dataclass
class DomainConfig:
    corpus: str                         # a file, a directory or a glob (*.csv) of documents
    text_column: str | list[str] = "text"  # several columns: each cell is a document
    format: str = "auto"                # auto | csv | tsv | jsonl | parquet | txt (a document per line)
    encoding: str = "utf-8"
    max_documents: int = 0              # tag only the first N documents (0: all)

    def columns(self) -> list[str]:
        return [self.text_column] if isinstance(self.text_column, str) else list(self.text_column)


@dataclasses.dataclass
class ComputeConfig:
    address: str | None = None          # Ray address; None: $RAY_ADDRESS if set, else a local Ray
    num_cpus: int | None = None         # CPUs of a local Ray (None: all)
    actors_min: int = 1                 # model actors (scoring, tagging) the pool starts with
    actors_max: int | None = None       # ... and may grow to as the cluster grows (None: one per GPU the cluster
                                        # has or can scale to, for GPU actors; 1 on CPU)
    # GPUs of each model actor (scoring, tagging). auto (or null): 1/concurrent_stages of one where
    # the cluster has GPUs or its autoscaler can add GPU nodes (engine.cluster), else 0 (CPU).
    gpus_per_actor: float | str | None = "auto"
    wait_for_nodes_s: float = 600.0     # how long a stage waits for the GPU nodes its model actors need
    cpus_per_actor: float = 1.0
    cpu_threads: int | None = None      # torch threads of a CPU model actor (None: node CPUs / actors_max)
    max_batch_tokens: int | None = None  # tokens per forward pass of a model actor (None: 65536 on GPU, 2048 on CPU)
    inference_dtype: str = "auto"       # model actors: auto (bf16 on GPU, fp32 on CPU), float32 or bfloat16
    tokenizer_actors: int | None = None  # CPU actors that split and tokenize text (None: (node CPUs - 2) / 2)
    concurrent_shards: int | None = None  # shards a model actor works on at once (None: 2 with a GPU, 1 on CPU)
    read_tasks: int | None = None       # corpus files read at once (None: 2 per model actor the pool may grow to)
    pack_sequences: bool | None = None  # model actors run sentences packed end to end, no padding (engine.packed);
                                        # None: with a GPU (faster there, docs/performance.md), not on CPU
    compile_model: bool = False         # model actors run their layers through torch.compile (engine.bert:
                                        # fused elementwise kernels; each actor compiles on its first passes)
    concurrent_stages: int = 1          # steps that do not wait on each other run N at once (experiment, run,
                                        # pretrain, evaluate); each asks 1/N of a GPU (a CPU training worker 1/N CPU)


@dataclasses.dataclass
class FinetuneConfig(TrainParams):      # stages 1 and 6 (published defaults)
    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-5
    max_seq: int = 128


@dataclasses.dataclass
class ScoreConfig:                      # stage 2
    delta: float = 0.01                 # S(w) < delta marks w important
    max_seq: int = 128                  # sentences are cut to max_seq - 2 wordpieces
    split_sentences: bool = True
    filter_stopwords: bool = True       # stop words never get tagger label 1
    max_examples: int = 0               # score only the first N training examples (0: all)
    shard_examples: int = 8192          # examples per shard: the unit of work, output file and resume


@dataclasses.dataclass
class TaggerConfig(TrainParams):        # stage 3
    epochs: int = 10
    lr: float = 1e-5
    max_seq: int = 128
    class_weights: list[float] = dataclasses.field(default_factory=lambda: [1.0, 3.0])
    val_fraction: float = 0.1           # examples held out to pick the best epoch


@dataclasses.dataclass
class TagConfig:                        # stage 4
    max_seq: int = 256
    mask_ratio: float = 0.15            # budget k = int(max(1, mask_ratio * wordpieces))
    split_sentences: bool = True
    shard_documents: int = 5000         # documents per shard: the unit of work, output file and resume
    candidates: str = "all"             # all | content: tokens the `selective` arm's masks may fall on


@dataclasses.dataclass
class HeadWarmupConfig:                 # stage 5, before the arms: the general model's masked-LM head alone
    steps: int = 0                      # optimizer steps (0: no warm-up); only for a checkpoint without an MLM head
    corpus: str | None = None           # general text: a file, a directory or a glob, as domain.corpus
    text_column: str = "text"
    format: str = "auto"                # auto | csv | tsv | jsonl | parquet | txt (a document per line)
    encoding: str = "utf-8"
    max_documents: int = 0              # read only the first N documents (0: all)
    lr: float = 1e-3
    batch_size: int = 32
    max_seq: int = 128
    warmup_ratio: float = 0.06
    mask_prob: float = 0.15             # random masks, drawn at every batch
    max_predictions: int = 20
    holdout: float = 0.05               # documents held out for the loss before and after


@dataclasses.dataclass
class PretrainConfig(TrainParams):      # stage 5
    arms: list[str] = dataclasses.field(default_factory=lambda: ["selective", "random"])
    epochs: int = 1
    lr: float = 4e-5
    max_seq: int = 256
    warmup_ratio: float = 0.06
    adam_beta2: float = 0.98
    adam_eps: float = 1e-6
    max_predictions: int = 40           # masked positions per packed instance
    short_seq_prob: float = 0.1         # share of instances packed to a random shorter length
    mask_prob: float = 0.15             # dynamic masking (dapt, tapt, dapt_tapt)
    holdout: float = 0.01               # documents held out for the dev masked-LM loss
    head_warmup: HeadWarmupConfig = dataclasses.field(default_factory=HeadWarmupConfig)


@dataclasses.dataclass
class ExperimentConfig:                 # taskpt experiment
    # general: the general model fine-tuned directly; the others pretrain first (stage 5) and
    # become pretrain.arms for the experiment. dapt and dapt_tapt are optional (DAPT trains on the whole corpus).
    arms: list[str] = dataclasses.field(default_factory=lambda: ["general", "tapt", "random", "selective"])
    seeds: int = 5                      # fine-tuning runs per arm: finetune.seed, +1, ... (the same for every arm)
    pretrain_seeds: int = 2             # pretraining draws per pretrained arm: pretrain.seed, +1, ...


@dataclasses.dataclass
class PipelineConfig:
    model: str                          # local Hugging Face checkpoint: the general model
    store: str                          # where every dataset and model is written (path or URI)
    task: TaskConfig
    domain: DomainConfig
    compute: ComputeConfig = dataclasses.field(default_factory=ComputeConfig)
    finetune: FinetuneConfig = dataclasses.field(default_factory=FinetuneConfig)
    score: ScoreConfig = dataclasses.field(default_factory=ScoreConfig)
    tagger: TaggerConfig = dataclasses.field(default_factory=TaggerConfig)
    tag: TagConfig = dataclasses.field(default_factory=TagConfig)
    pretrain: PretrainConfig = dataclasses.field(default_factory=PretrainConfig)
    experiment: ExperimentConfig = dataclasses.field(default_factory=ExperimentConfig)
    seed: int = 42                      # the random baseline's draws and every training seed
    description: str = ""               # free text, printed with results
    base_dir: str | None = None         # relative paths (PATH_KEYS) are read from here, a directory or URI
                                        # (None: the directory the command runs in)

    def to_yaml(self) -> str:
        return yaml.safe_dump(dataclasses.asdict(self), sort_keys=False)


def apply_override(raw: dict, assignment: str) -> None:
    """`key.sub=value` sets raw["key"]["sub"]; the value is read as YAML (numbers, lists...)."""
    if "=" not in assignment:
        raise ConfigError(f"override {assignment!r} is not of the form key.sub=value")
    key, text = assignment.split("=", 1)
    *parents, leaf = key.strip().split(".")
    node = raw
    for i, part in enumerate(parents):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {assignment!r}: '{'.'.join(parents[:i + 1])}' is not a section")
    node[leaf] = yaml.safe_load(text) if text.strip() else None


# Every path the stages read or write, as config keys: what resolve_paths makes absolute and what
# `taskpt submit` checks before upload. The store is the one they write.
# A key left null (pretrain.head_warmup.corpus) is no path: nothing is read there.
PATH_KEYS = ("model", "task.train", "task.dev", "task.test", "domain.corpus", "pretrain.head_warmup.corpus", "store")


def get_key(cfg: PipelineConfig, key: str):
    node = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def set_key(cfg: PipelineConfig, key: str, value) -> None:
    *parents, leaf = key.split(".")
    node = cfg
    for part in parents:
        node = getattr(node, part)
    setattr(node, leaf, value)


def is_uri(path: str) -> bool:
    return "://" in path


def join_path(base: str, path: str) -> str:
    """`path` read from `base`: absolute paths and URIs as they are; a URI base keeps its query
    (`s3://bucket/p?endpoint_override=...`) after the joined path."""
    path = os.path.expanduser(path)
    if is_uri(path) or os.path.isabs(path):
        return path
    if is_uri(base):
        root, _, query = base.partition("?")
        return f"{root.rstrip('/')}/{path}" + (f"?{query}" if query else "")
    return os.path.abspath(os.path.join(os.path.expanduser(base), path))


def names_hub_model(path: str, base: str) -> bool:
    """Whether `model: path` names a Hugging Face model id (`FacebookAI/roberta-base`): it reads
    as one, and no checkpoint directory is there as a path read from `base`."""
    return is_model_id(path) and not fs.is_file(fs.join(join_path(base, path), "config.json"))


def resolve_paths(cfg: PipelineConfig, cwd: str) -> None:
    """Relative paths made absolute: read from `base_dir`, itself read from `cwd` (the directory
    the command runs in; for a Ray job, its working_dir), so workers whose cwd differs resolve
    the same file. A Hugging Face model id in `model` stays as written (`engine.hub`)."""
    base = join_path(cwd, cfg.base_dir) if cfg.base_dir else cwd
    for key in PATH_KEYS:
        if (key == "model" and names_hub_model(cfg.model, base)) or get_key(cfg, key) is None:
            continue
        set_key(cfg, key, join_path(base, get_key(cfg, key)))


def load_config(path: str, overrides: list[str] = (), resolve: bool = True) -> PipelineConfig:
    """The config file with `overrides` applied, validated; its paths made absolute unless
    `resolve` is False (`taskpt submit` checks them as written)."""
    try:
        with open(path) as f:
            raw = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    for assignment in overrides:
        apply_override(raw, assignment)
    cfg = build(PipelineConfig, raw)
    check(cfg)
    if resolve:
        resolve_paths(cfg, os.getcwd())
    return cfg


def check(cfg: PipelineConfig) -> None:
    """Value checks the types cannot express."""
    if cfg.pretrain.head_warmup.steps > 0 and not cfg.pretrain.head_warmup.corpus:
        raise ConfigError("config key 'pretrain.head_warmup.corpus': required when pretrain.head_warmup.steps > 0")
    if cfg.tag.candidates not in CANDIDATES:
        raise ConfigError(f"config key 'tag.candidates': {cfg.tag.candidates!r} is not one of {CANDIDATES}")
    for arm in cfg.pretrain.arms:
        if arm not in ARMS:
            raise ConfigError(f"config key 'pretrain.arms': {arm!r} is not one of {ARMS}")
    for arm in cfg.experiment.arms:
        if arm not in ("general", *ARMS):
            raise ConfigError(f"config key 'experiment.arms': {arm!r} is not one of {('general', *ARMS)}")
    if len(set(cfg.experiment.arms)) < 2 or len(set(cfg.experiment.arms)) != len(cfg.experiment.arms):
        raise ConfigError("config key 'experiment.arms': needs two or more distinct arms")
    if cfg.experiment.seeds < 1:
        raise ConfigError("config key 'experiment.seeds': must be at least 1")
    if cfg.experiment.pretrain_seeds < 1:
        raise ConfigError("config key 'experiment.pretrain_seeds': must be at least 1")
    shares = {"tag.mask_ratio": cfg.tag.mask_ratio, "pretrain.mask_prob": cfg.pretrain.mask_prob,
              "tagger.val_fraction": cfg.tagger.val_fraction, "pretrain.holdout": cfg.pretrain.holdout}
    for key, value in shares.items():
        if not 0 < value < 1:
            raise ConfigError(f"config key '{key}': {value} is outside (0, 1)")
    for key in ("finetune", "tagger", "pretrain"):
        params = getattr(cfg, key)
        for name in ("epochs", "batch_size", "num_workers", "max_seq"):
            if getattr(params, name) < 1:
                raise ConfigError(f"config key '{key}.{name}': must be at least 1")
    for key, value in (("score.shard_examples", cfg.score.shard_examples), ("tag.shard_documents", cfg.tag.shard_documents),
                       ("compute.max_batch_tokens", cfg.compute.max_batch_tokens),
                       ("compute.actors_max", cfg.compute.actors_max), ("compute.cpu_threads", cfg.compute.cpu_threads),
                       ("compute.tokenizer_actors", cfg.compute.tokenizer_actors),
                       ("compute.concurrent_shards", cfg.compute.concurrent_shards),
                       ("compute.read_tasks", cfg.compute.read_tasks),
                       ("compute.concurrent_stages", cfg.compute.concurrent_stages)):
        if value is not None and value < 1:
            raise ConfigError(f"config key '{key}': must be at least 1")
    gpus = cfg.compute.gpus_per_actor
    if isinstance(gpus, str) and gpus != "auto" or isinstance(gpus, float) and gpus < 0:
        raise ConfigError(f"config key 'compute.gpus_per_actor': {gpus!r} is not auto or a number of GPUs >= 0")
    if cfg.compute.wait_for_nodes_s <= 0:
        raise ConfigError("config key 'compute.wait_for_nodes_s': must be more than 0")
    if cfg.compute.inference_dtype not in INFERENCE_DTYPES:
        raise ConfigError(f"config key 'compute.inference_dtype': {cfg.compute.inference_dtype!r} is not one of "
                          f"{INFERENCE_DTYPES}")
    if len(cfg.tagger.class_weights) != 2:
        raise ConfigError("config key 'tagger.class_weights': needs two weights (class 0, class 1)")
    if not 1 <= cfg.compute.actors_min <= (cfg.compute.actors_max or cfg.compute.actors_min):
        raise ConfigError("config key 'compute.actors_min': must be at least 1 and at most compute.actors_max")
    for key, value in (("task.format", cfg.task.format), ("domain.format", cfg.domain.format)):
        if value not in ("auto", "csv", "tsv", "jsonl", "parquet", "txt"):
            raise ConfigError(f"config key '{key}': {value!r} is not auto, csv, tsv, jsonl, parquet or txt")
