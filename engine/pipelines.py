"""The two Ray Data pipelines of the engine: importance scoring (stage 2) and tagging with
mask selection (stage 4), plus the random baseline derived from stored masks."""
from __future__ import annotations

import dataclasses

import polars as pl
import ray.data
from ray.data import ActorPoolStrategy

from engine.corpus import read_documents
from engine.remask import random_equal_budget, rebudget
from engine.scorer import ImportanceScorer
from engine.tagger import MaskTagger
from engine.text import SentenceTokenizer


@dataclasses.dataclass(frozen=True)
class ActorPool:
    """How model actors are placed: the pool grows from `min_size` to `max_size` actors, each
    with `gpus` GPUs (0 on a CPU-only cluster; fractions share a card) and `cpus` CPUs, and
    receives batches of `batch_size` rows."""

    min_size: int = 1
    max_size: int = 1
    gpus: float = 0.0
    cpus: float = 1.0
    batch_size: int = 256
    tokenizer_actors: int = 1
    # Text work (reading, splitting, tokenizing) reserves half a CPU per task or actor, so on a
    # small machine it runs beside one model actor instead of waiting for it.
    text_cpus: float = 0.5

    def strategy(self) -> ActorPoolStrategy:
        return ActorPoolStrategy(min_size=self.min_size, max_size=self.max_size)


def _tokenize(ds, model_path: str, max_tokens: int, split: bool, pool: ActorPool):
    return ds.map_batches(
        SentenceTokenizer, fn_constructor_kwargs=dict(model_path=model_path, max_tokens=max_tokens, split=split),
        compute=ActorPoolStrategy(min_size=1, max_size=pool.tokenizer_actors), batch_size=1024, num_cpus=pool.text_cpus)


def importance_dataset(examples: pl.DataFrame, scorer_path: str, *, delta: float, max_seq: int,
                       split_sentences: bool, filter_stopwords: bool, pool: ActorPool):
    """examples: (example_id, text, label as class index) -> `importance` rows."""
    ds = ray.data.from_arrow(examples.select("example_id", "text", "label").to_arrow())
    ds = _tokenize(ds, scorer_path, max_seq - 2, split_sentences, pool)
    return ds.map_batches(
        ImportanceScorer, fn_constructor_kwargs=dict(model_path=scorer_path, delta=delta, filter_stopwords=filter_stopwords),
        compute=pool.strategy(), num_gpus=pool.gpus, num_cpus=pool.cpus, batch_size=pool.batch_size)


def premasked_dataset(files: list[str], columns: list[str], tagger_path: str, *, fmt: str,
                      encoding: str, max_seq: int, mask_ratio: float, split_sentences: bool,
                      max_documents: int, pool: ActorPool):
    """Corpus files -> `premasked` rows (documents split, tokenized, tagged, masks chosen)."""
    files_ds = ray.data.from_items([{"file_index": i, "path": p} for i, p in enumerate(files)],
                                   override_num_blocks=len(files))
    docs = files_ds.map_batches(read_documents, batch_size=1, num_cpus=pool.text_cpus,
                                fn_kwargs=dict(columns=columns, fmt=fmt, encoding=encoding))
    if max_documents:
        docs = docs.limit(max_documents)
    ds = _tokenize(docs, tagger_path, max_seq - 2, split_sentences, pool)
    return ds.map_batches(
        MaskTagger, fn_constructor_kwargs=dict(model_path=tagger_path, mask_ratio=mask_ratio),
        compute=pool.strategy(), num_gpus=pool.gpus, num_cpus=pool.cpus, batch_size=pool.batch_size)


def random_baseline_dataset(premasked, seed: int):
    """The same rows with as many masks per sentence, at uniformly random positions."""
    return premasked.map_batches(random_equal_budget, fn_kwargs={"seed": seed}, batch_format="pyarrow")


def rebudget_dataset(premasked, mask_ratio: float):
    """The same rows with masks chosen from the stored scores at another budget ratio."""
    return premasked.map_batches(rebudget, fn_kwargs={"mask_ratio": mask_ratio}, batch_format="pyarrow")
