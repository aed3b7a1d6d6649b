"""The Ray Data pipelines of the engine: importance scoring (stage 2) and tagging with mask
selection (stage 4), plus datasets derived from stored scores (another budget, the random
baseline). Each yields shard rows (engine.shards) for the pending shards only."""
from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pyarrow as pa
import ray.data
from ray.data import ActorPoolStrategy

from engine.contract import fs
from engine.corpus import CorpusShard, read_shards
from engine.remask import random_equal_budget, rebudget
from engine.scorer import ImportanceScorer
from engine.shards import PerShard, nest, per_shard
from engine.tagger import MaskTagger
from engine.text import SentenceTokenizer, worker_tokenizer
from engine.writer import shard_file


@dataclasses.dataclass(frozen=True)
class ActorPool:
    """How model actors are placed: the pool grows from `min_size` to `max_size` actors, each
    with `gpus` GPUs (0 on a CPU-only cluster; fractions share a card) and `cpus` CPUs, and
    receives one shard per call, run in forward passes of at most `max_batch_tokens` tokens."""

    min_size: int = 1
    max_size: int = 1
    gpus: float = 0.0
    cpus: float = 1.0
    max_batch_tokens: int | None = None  # tokens per forward pass (None: the actor's device default)
    dtype: str = "auto"                 # model weights: auto (bf16 on GPU, fp32 on CPU), float32, bfloat16
    # Torch threads of a CPU model actor (None: one per reserved CPU, Ray's default). The
    # forward pass is nearly all of the work, so a lone CPU actor may use every core of its
    # node although it reserves one: the text steps beside it are short.
    cpu_threads: int | None = None
    tokenizer_actors: int = 1
    # Shards one model actor works on at once, each call in its own thread. Python runs one at
    # a time, but while one call waits for the device the other unpacks its shard and queues
    # its forward passes, so the device is not left idle between shards.
    concurrent_shards: int = 1
    # Text work (reading, splitting, tokenizing) reserves half a CPU per task or actor, so on a
    # small machine it runs beside one model actor instead of waiting for it.
    text_cpus: float = 0.5
    # Reading files and writing shards reserve a quarter CPU per task: with the actors above a
    # 2-CPU machine still has room for one read and one write at a time.
    io_cpus: float = 0.25
    # Corpus files read at once (None: 2 per model actor the pool may grow to). A read parses
    # its file in well under a second (433,416 review documents: 0.15 s), so a few keep the
    # tokenizers fed; every one more is a worker process that starts beside the model actor
    # and slows its start.
    read_tasks: int | None = None
    # Model actors run sentences packed end to end, without padding (engine.packed), instead of
    # in padded length-sorted groups; None: packed on a GPU, padded on CPU.
    pack_sequences: bool | None = None
    # Model actors run their encoder's layers through torch.compile (engine.bert.Bert.compile_layers).
    compile_model: bool = False

    def reads(self) -> int:
        """Corpus files read at once."""
        return self.read_tasks or 2 * self.max_size

    def strategy(self) -> ActorPoolStrategy:
        return ActorPoolStrategy(min_size=self.min_size, max_size=self.max_size,
                                 max_concurrent_calls_per_actor=self.concurrent_shards,
                                 enable_true_multi_threading=self.concurrent_shards > 1)


def one_shard_per_block(ds) -> None:
    """Ray buffers what one task outputs into blocks of up to `target_max_block_size` (128 MiB),
    so all the shards of a file would travel as one block: tagged in one call, written at the
    end, lost together when the job is killed. A block size target of one byte ends a block
    after every row: each shard flows, is tagged and is written on its own. The setting is
    this dataset's own DataContext (captured when it was created), not the process's."""
    ds.context.target_max_block_size = 1


def _tokenize(ds, model_path: str, max_tokens: int, split: bool, pool: ActorPool):
    return ds.map_batches(
        PerShard, fn_constructor_kwargs=dict(step=SentenceTokenizer, step_kwargs=dict(
            model_path=model_path, max_tokens=max_tokens, split=split, configured=worker_tokenizer(model_path))),
        compute=ActorPoolStrategy(min_size=pool.tokenizer_actors, max_size=pool.tokenizer_actors), batch_size=1,
        batch_format="pyarrow", num_cpus=pool.text_cpus)


def _model(ds, actor: type, kwargs: dict, pool: ActorPool):
    # One shard per call: the actor regroups its sentences by length into forward passes of
    # at most `max_batch_tokens` tokens, so a call's results depend on that shard alone.
    # On CPU the actor's torch threads share cores with the text steps; OpenMP threads that
    # spin while waiting then stall each other (1M sentences on 2 cores: 108 s spinning, 72 s
    # passive; bench/scaling.py), so a CPU actor's threads wait passively.
    remote_args = {} if pool.gpus else {"runtime_env": {"env_vars": {"OMP_WAIT_POLICY": "PASSIVE"}}}
    return ds.map_batches(
        PerShard, fn_constructor_kwargs=dict(step=actor, step_kwargs={**kwargs, "max_batch_tokens": pool.max_batch_tokens,
                                                                     "dtype": pool.dtype, "cpu_threads": pool.cpu_threads,
                                                                     "compile_model": pool.compile_model}),
        compute=pool.strategy(), num_gpus=pool.gpus, num_cpus=pool.cpus, batch_size=1, batch_format="pyarrow",
        **remote_args)


def example_shards(examples: pl.DataFrame, shard_examples: int) -> dict[str, pa.Table]:
    """The labeled examples (example_id, text, label) cut into named shards, in order."""
    table = examples.select("example_id", "text", "label").to_arrow()
    return {f"examples{start:09d}": table.slice(start, shard_examples)
            for start in range(0, table.num_rows, shard_examples)}


def importance_dataset(shards: dict[str, pa.Table], scorer_path: str, *, delta: float, max_seq: int,
                       split_sentences: bool, filter_stopwords: bool, pool: ActorPool):
    """Shards of examples (example_id, text, label as class index) -> shard rows of `importance` rows."""
    ds = ray.data.from_arrow([nest(name, rows) for name, rows in shards.items()])
    one_shard_per_block(ds)
    ds = _tokenize(ds, scorer_path, max_seq - 2, split_sentences, pool)
    return _model(ds, ImportanceScorer, dict(model_path=scorer_path, delta=delta, filter_stopwords=filter_stopwords,
                                                 pack=pool.pack_sequences),
                  pool)


def premasked_dataset(shards: list[CorpusShard], columns: list[str], tagger_path: str, *, fmt: str,
                      encoding: str, max_seq: int, mask_ratio: float, split_sentences: bool, pool: ActorPool):
    """Corpus shards -> shard rows of `premasked` rows (documents split, tokenized, tagged, masks chosen)."""
    # One read task per file (a file is parsed once), yielding the shards asked of it.
    by_file: dict[int, dict] = {}
    for s in shards:
        item = by_file.setdefault(s.file_index, {"file_index": s.file_index, "path": s.path,
                                                 "starts": [], "stops": [], "names": []})
        item["starts"].append(s.start)
        item["stops"].append(s.stop)
        item["names"].append(s.name)
    files_ds = ray.data.from_items(list(by_file.values()), override_num_blocks=len(by_file))
    one_shard_per_block(files_ds)
    docs = files_ds.map_batches(read_shards, batch_size=1, num_cpus=pool.io_cpus,
                                compute=ray.data.TaskPoolStrategy(size=min(pool.reads(), len(by_file))),
                                fn_kwargs=dict(columns=columns, fmt=fmt, encoding=encoding))
    ds = _tokenize(docs, tagger_path, max_seq - 2, split_sentences, pool)
    return _model(ds, MaskTagger, dict(model_path=tagger_path, mask_ratio=mask_ratio, pack=pool.pack_sequences), pool)


def _read_source_shards(batch: dict[str, np.ndarray]):
    for name, path in zip(batch["name"], batch["path"]):
        yield nest(str(name), fs.read_parquet(str(path)))


def derived_dataset(source_dir: str, names: list[str], step, **kwargs):
    """Shard rows of a stored dataset's shards `names` (same names), each transformed by
    `step(rows: pa.Table, **kwargs)`: no model, one task per shard."""
    items = [{"name": n, "path": fs.join(source_dir, shard_file(n))} for n in names]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    one_shard_per_block(ds)
    ds = ds.map_batches(_read_source_shards, batch_size=1)
    return ds.map_batches(per_shard, fn_kwargs={"step": step, **kwargs}, batch_size=1, batch_format="pyarrow")


def random_baseline_dataset(source_dir: str, names: list[str], seed: int):
    """The same rows with as many masks per sentence, at uniformly random positions."""
    return derived_dataset(source_dir, names, random_equal_budget, seed=seed)


def rebudget_dataset(source_dir: str, names: list[str], mask_ratio: float, candidates: str = "all",
                     model_path: str | None = None):
    """The same rows with masks chosen from the stored scores at another budget ratio, among
    `candidates` (engine.remask.rebudget; "content" reads `model_path`'s tokenizer)."""
    return derived_dataset(source_dir, names, rebudget, mask_ratio=mask_ratio, candidates=candidates,
                           model_path=model_path)
