"""Where each stage's output lives, derived from the config alone.

Every output is `<store>/<kind>/<fingerprint>` where the fingerprint hashes what determines it:
the input files (path, size, content hash), the upstream output, the parameters that change
the result, and the format version. So each stage finds its inputs without being told, and a
stage whose output is complete is skipped.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json

from engine.contract import FORMAT_VERSION, IMPORTANCE, PREMASKED, dataset_path, fs, model_path
from engine.corpus import corpus_files
from engine.models import checkpoint_config
from jobs.config import PipelineConfig

# The tagger chooses masks at this ratio while tagging; another tag.mask_ratio is derived from
# the stored scores without the model.
TAGGING_RATIO = 0.15
# Arms whose pretraining continues from another arm's pretrained model instead of the general
# model: DAPT+TAPT is TAPT on the DAPT model (Gururangan et al. 2020). The other arm is trained
# first, also when it is not an arm of its own.
CONTINUES_FROM = {"dapt_tapt": "dapt"}
# The dataset each pretraining arm reads: a Plan field, and its kind.
SOURCES = {"selective": ("premasked", PREMASKED), "selective_content": ("premasked_content", PREMASKED),
           "random": ("random_masks", PREMASKED), "dapt": ("tagged", PREMASKED),
           "tapt": ("importance", IMPORTANCE), "dapt_tapt": ("importance", IMPORTANCE)}


def digest(*parts) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def file_identity(path: str) -> dict:
    info = fs.file_info(path)
    return {"path": path, "size": info.size, "sha256": fs.sha256(path) if info.size else ""}


# The files a checkpoint is identified by, those it has: config, tokenizer (BERT's, then the
# BPE and SentencePiece families' own), weights whole or sharded (the index names the shards).
IDENTITY_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "model.safetensors",
                  "vocab.json", "merges.txt", "sentencepiece.bpe.model", "spm.model", "model.safetensors.index.json")


def model_identity(path: str) -> dict:
    """A checkpoint by the content of its config, tokenizer and weights (not by its path)."""
    names = [name for name in IDENTITY_FILES if fs.is_file(fs.join(path, name))]
    if "model.safetensors.index.json" in names:
        index = json.loads(fs.read_bytes(fs.join(path, "model.safetensors.index.json")))
        names += sorted(set(index["weight_map"].values()))
    return {name: fs.sha256(fs.join(path, name)) for name in names}


def _params(section) -> dict:
    return dataclasses.asdict(section)


@dataclasses.dataclass(frozen=True)
class Plan:
    general_finetuned: str      # stage 1: the general model fine-tuned (the scorer)
    importance: str             # stage 2 dataset
    tagger: str                 # stage 3 model
    tagged: str                 # stage 4 dataset: tagger scores, masks at TAGGING_RATIO
    premasked: str              # stage 4 dataset: tagger masks at tag.mask_ratio, tag.candidates (tagged or derived)
    premasked_content: str      # stage 4 dataset: tagger masks at tag.mask_ratio among content tokens (derived)
    random_masks: str           # stage 4 dataset (random positions, equal budget)
    warm_head: str | None       # stage 5: the general model with its masked-LM head trained alone (head_warmup)
    pretrained: dict[str, str]  # stage 5 model per arm (and per arm another one continues from)
    pretrain_start: dict[str, str]  # the model each of those starts from: the general model (or warm_head),
                                    # or CONTINUES_FROM's
    finetuned: dict[str, str]   # stage 6 model per arm ("general" is stage 1's)
    results: str                # the evaluation table
    replicate_seed: int = 0     # the random masks' draws and pretraining's packing: seed, + the pretraining replicate

    def sources(self, arm: str) -> tuple[str, str]:
        """(dataset, kind) an arm pretrains on."""
        field, kind = SOURCES[arm]
        return getattr(self, field), kind


def warm_head(cfg: PipelineConfig, general: str) -> str | None:
    """The fingerprint of the general model (`general`, its fingerprint) with its masked-LM head
    warmed up (pretrain.head_warmup), or None where there is none: no steps, or a checkpoint
    whose weights hold a trained head already."""
    h = cfg.pretrain.head_warmup
    if h.steps <= 0:
        return None
    from trainer.objectives.masked_lm import lm_head_in_checkpoint  # imports torch: only where it is asked

    if lm_head_in_checkpoint(cfg.model, checkpoint_config(cfg.model)["model_type"]):
        return None
    corpus = [file_identity(p) for p in corpus_files(h.corpus, "pretrain.head_warmup.corpus")]
    return digest(general, "warm-head", corpus, _params(h) | {"corpus": None}, cfg.pretrain.seed)


def make_plan(cfg: PipelineConfig, final_seed: int | None = None, replicate: int = 0) -> Plan:
    """Fingerprints chain through upstream fingerprints (not paths), so a store that is moved
    or mounted elsewhere keeps its cache. `final_seed`: the seed of the stage-6 fine-tunes
    (default finetune.seed); the scorer and everything upstream keep finetune.seed, so runs
    with several final seeds share them (`taskpt experiment`). `replicate`: the pretraining
    draw (0, 1, ...; `taskpt experiment` gives each its pretrain.seed + replicate): the random
    masks and pretraining's packing are drawn with seed + replicate; the held-out documents stay."""
    task = digest([file_identity(p) for p in (cfg.task.train, cfg.task.dev, cfg.task.test)],
                  _params(cfg.task) | {"train": None, "dev": None, "test": None})
    general = digest(model_identity(cfg.model))
    store = cfg.store

    def finetuned(source: str, seed: int = cfg.finetune.seed) -> str:
        return digest(source, task, _params(cfg.finetune) | {"seed": seed})

    scorer = finetuned(general)
    importance = digest(scorer, task, _params(cfg.score), FORMAT_VERSION)
    tagger = digest(importance, _params(cfg.tagger))
    corpus = [file_identity(p) for p in corpus_files(cfg.domain.corpus)]
    tagging = {k: v for k, v in _params(cfg.tag).items() if k != "candidates"} | {"mask_ratio": None}
    tagged = digest(tagger, corpus, _params(cfg.domain) | {"corpus": None}, tagging, TAGGING_RATIO, FORMAT_VERSION)
    # Masks chosen again from the stored scores: at another ratio, or among content tokens only.
    premasked_content = digest(tagged, "rebudget", cfg.tag.mask_ratio, "content", FORMAT_VERSION)
    if cfg.tag.candidates == "content":
        premasked = premasked_content
    else:
        premasked = tagged if cfg.tag.mask_ratio == TAGGING_RATIO else \
            digest(tagged, "rebudget", cfg.tag.mask_ratio, FORMAT_VERSION)
    random_masks = digest(premasked, "random-equal-budget", cfg.seed + replicate, FORMAT_VERSION)
    datasets = {"premasked": premasked, "premasked_content": premasked_content, "random_masks": random_masks,
                "tagged": tagged, "importance": importance}
    pretrain = {k: v for k, v in _params(cfg.pretrain).items() if k != "head_warmup"} | {"arms": None}
    # Every arm starts from the warmed-up head where there is one; the encoder is the general model's.
    warm = warm_head(cfg, general)
    first, first_path = (warm, model_path(store, "warm-head", warm)) if warm else (general, cfg.model)
    needed = list(dict.fromkeys([CONTINUES_FROM[a] for a in cfg.pretrain.arms if a in CONTINUES_FROM] + cfg.pretrain.arms))
    pretrained, start = {}, {}
    for arm in needed:  # an arm another continues from comes first
        base = CONTINUES_FROM.get(arm)
        start[arm] = model_path(store, "pretrained", pretrained[base]) if base else first_path
        pretrained[arm] = digest(pretrained[base] if base else first, datasets[SOURCES[arm][0]], arm, pretrain)
    seed = cfg.finetune.seed if final_seed is None else final_seed
    finetuned_arms = {"general": finetuned(general, seed)} | {arm: finetuned(pretrained[arm], seed) for arm in cfg.pretrain.arms}
    return Plan(
        general_finetuned=model_path(store, "finetuned", scorer),
        importance=dataset_path(store, IMPORTANCE, importance),
        tagger=model_path(store, "tagger", tagger),
        tagged=dataset_path(store, PREMASKED, tagged),
        premasked=dataset_path(store, PREMASKED, premasked),
        premasked_content=dataset_path(store, PREMASKED, premasked_content),
        random_masks=dataset_path(store, PREMASKED, random_masks),
        warm_head=model_path(store, "warm-head", warm) if warm else None,
        pretrained={arm: model_path(store, "pretrained", fp) for arm, fp in pretrained.items()},
        pretrain_start=start,
        finetuned={arm: model_path(store, "finetuned", fp) for arm, fp in finetuned_arms.items()},
        results=fs.join(store, "results", digest(sorted(finetuned_arms.items()))),
        replicate_seed=cfg.seed + replicate,
    )
