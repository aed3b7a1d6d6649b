"""Stage 4 throughput: tagging + mask selection, the whole engine path against its ceilings.

    python bench/tag.py --shape base --sentences 1000000 --source reviews     # GPU machine
    python bench/tag.py --shape minilm --sentences 20000 --source dialog      # 2-core CPU

Three runs over the same synthesised corpus (documents drawn in turn from the demo's review
snippets or dialog turns, as CSV files):
- ceiling: the engine's tagger forward alone (MaskTagger's model, its padded length-sorted
  groups, all built on the device before the clock starts): what the card can do;
- single process: a plain loop over the same classes (read a shard, SentenceTokenizer,
  MaskTagger, write_shard), no Ray;
- engine: `jobs.tag.tag_corpus`, what `taskpt tag` runs (Ray Data: read tasks, tokenizer
  actors, the model actor pool, shard writers, the manifest), on a local Ray started first.
The engine's output must equal the single process's, shard by shard.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

import harness


def synthetic_documents(texts: list[str], sentences: int) -> list[str]:
    """Documents taken in turn from `texts` until they hold `sentences` sentences (as the
    engine splits them)."""
    from engine.text import split_sentences

    counts = np.array([len(split_sentences(t)) for t in texts])
    cycles = -(-sentences // int(counts.sum()))
    cumulative = np.cumsum(np.tile(counts, cycles))
    n_docs = int(np.searchsorted(cumulative, sentences) + 1)
    return [texts[i % len(texts)] for i in range(n_docs)]


def synthesise_corpus(texts: list[str], sentences: int, out_dir: str, docs_per_file: int) -> tuple[list[str], int]:
    """CSV files (column `text`) of `synthetic_documents`. Returns (files, documents)."""
    docs = synthetic_documents(texts, sentences)
    n_docs = len(docs)
    os.makedirs(out_dir, exist_ok=True)
    files = []
    for start in range(0, n_docs, docs_per_file):
        path = os.path.join(out_dir, f"corpus-{start // docs_per_file:04d}.csv")
        pacsv.write_csv(pa.table({"text": docs[start:start + docs_per_file]}), path)
        files.append(path)
    return files, n_docs


def forward_alone(tagger, batches, backends=None) -> None:
    """The tagger's forward pass (`ModelActor.forward`) over batches of its inputs already on the device;
    `backends`: the attention kernels PyTorch may pick from (None: its default set)."""
    import contextlib

    import torch
    from torch.nn.attention import sdpa_kernel

    with torch.inference_mode(), sdpa_kernel(backends) if backends else contextlib.nullcontext():
        for inputs in batches:
            tagger.forward(inputs)


def ceiling(tagger_dir: str, rows: pa.Table, max_batch_tokens: int | None, options: dict) -> dict:
    """The tagger's forward passes alone, inputs already on the device, grouped (or packed:
    `options`, MaskTagger's pack) as the engine does it but from all of
    `rows` at once."""
    from engine.tagger import MaskTagger

    tagger = MaskTagger(tagger_dir, max_batch_tokens=max_batch_tokens, **options)
    groups = [inputs for _, inputs, *_ in tagger.groups(rows.column("input_ids"))]
    forward_alone(tagger, groups[:2] + groups[-2:])  # warm-up: kernels for short and long rows, memory pooled
    harness.reset_peak_memory()
    with harness.GpuClocks(interval_ms=100) as clocks:  # the ceiling runs for seconds: sampled more often
        _, seconds = harness.timed(forward_alone, tagger, groups)
    lengths = np.diff(rows.column("input_ids").combine_chunks().offsets.to_numpy()) + 2
    padded = sum(inputs["input_ids"].numel() for inputs in groups)
    return {"seconds": seconds, "sentences_per_s": rows.num_rows / seconds,
            "tflops": harness.encoder_flops(tagger.model.config, lengths) / seconds / 1e12,
            "padding": 1 - lengths.sum() / padded, "peak_gib": harness.peak_memory_gib(),
            "max_batch_tokens": tagger.max_batch_tokens, "gpu_clocks": clocks.summary()}


def shard_pieces(rows: pa.Table, shard_documents: int) -> list[pa.Table]:
    """Sentence rows (ordered by doc_id) cut into shards of `shard_documents` consecutive documents."""
    shard = rows.column("doc_id").to_numpy() // shard_documents
    bounds = np.flatnonzero(np.diff(shard)) + 1
    return [rows.slice(a, b - a) for a, b in zip([0, *bounds], [*bounds, rows.num_rows])]


def shard_ceiling(tagger_dir: str, rows: pa.Table, shard_documents: int, max_batch_tokens: int | None,
                  options: dict, as_engine_only: bool = False) -> dict:
    """The tagger's forward passes alone over shard-sized pieces of `rows`, grouped as a model
    actor groups a shard (one shard's sentences at a time): what the steady state could reach
    with the engine's grouping. Timed twice: `cold` as the engine meets each batch shape for
    the first time, `warm` once every shape has been run. Then, on a GPU, the same passes with
    PyTorch's cuDNN attention kernel allowed, as the engine ran them until 2026-11-27 (`cudnn_attention_`:
    its `cold` sees only cuDNN's per-shape plans for the first time; on an H200 they ran at 0.70
    of the rate without it cold, 0.93 warm; docs/performance.md).
    `as_engine_only`, packed passes, or a CPU: the engine's passes alone, cold then warm."""
    from torch.nn.attention import SDPBackend

    from engine.tagger import MaskTagger

    pieces = shard_pieces(rows, shard_documents)
    tagger = MaskTagger(tagger_dir, max_batch_tokens=max_batch_tokens, **options)
    batches = [inputs for piece in pieces for _, inputs, *_ in tagger.groups(piece.column("input_ids").combine_chunks())]
    lengths = np.diff(rows.column("input_ids").combine_chunks().offsets.to_numpy()) + 2
    padding = 1 - lengths.sum() / sum(inputs["input_ids"].numel() for inputs in batches)
    shapes = len({tuple(inputs["input_ids"].shape) for inputs in batches})
    result = {"shard_documents": shard_documents, "shards": len(pieces),
              "sentences_per_shard": rows.num_rows / len(pieces), "passes": len(batches)}
    # None: the kernels the engine lets PyTorch pick (engine.models.without_cudnn_attention on a GPU).
    with_cudnn = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    # Packed passes do not go through PyTorch's SDPA (engine.packed): cuDNN attention cannot change
    # them; nor is there cuDNN on a CPU.
    cudnn = not (as_engine_only or tagger.pack or tagger.device.type == "cpu")
    variants = [("", None), ("cudnn_attention_", with_cudnn)] if cudnn else [("", None)]
    for variant, backends in variants:  # the same passes each time
        result[f"{variant}padding"], result[f"{variant}shapes"] = padding, shapes
        for name in ("cold", "warm"):
            _, seconds = harness.timed(forward_alone, tagger, batches, backends)
            result[f"{variant}{name}"] = {"seconds": seconds, "sentences_per_s": rows.num_rows / seconds}
    return result


def single_process(tagger_dir: str, files: list[str], out_dir: str, shard_documents: int, max_seq: int,
                   options: dict) -> dict:
    """The same classes in a plain loop: read, split and tokenize, tag, write, shard by shard."""
    from engine.contract import PREMASKED, SCHEMAS
    from engine.corpus import check_corpus, corpus_shards, read_shards
    from engine.shards import numpy_batch, unnest
    from engine.tagger import MaskTagger
    from engine.text import SentenceTokenizer
    from engine.writer import write_shard

    start = time.perf_counter()
    counts = check_corpus(files, ["text"], "csv", "utf8")
    shards = corpus_shards(files, counts, shard_documents)
    tokenizer, tagger = SentenceTokenizer.for_model(tagger_dir, max_seq - 2), MaskTagger(tagger_dir, **options)
    rows = 0
    for index, path in enumerate(files):
        mine = [s for s in shards if s.file_index == index]
        batch = {"path": [path], "file_index": [index], "starts": [[s.start for s in mine]],
                 "stops": [[s.stop for s in mine]], "names": [[s.name for s in mine]]}
        for shard in read_shards(batch, ["text"], "csv", "utf8"):
            for name, docs in unnest(shard):
                tagged = tagger(tokenizer(numpy_batch(docs)))
                write_shard(out_dir, name, tagged.select(SCHEMAS[PREMASKED].names))
                rows += tagged.num_rows
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "sentences": rows, "sentences_per_s": rows / seconds}


def engine_path(tagger_dir: str, files: list[str], work: str, shard_documents: int, max_seq: int,
                max_batch_tokens: int | None, tokenizer_actors: int, cpu_threads: int | None = None,
                concurrent_shards: int | None = None, options: dict | None = None) -> tuple[dict, str]:
    """`tag_corpus` exactly as `taskpt tag` runs it; Ray is started before the clock. `options`:
    compute.pack_sequences (pack), compute.compile_model, compute.read_tasks and compute.num_cpus (ray_cpus)."""
    options = options or {}
    import shutil

    import yaml

    from engine.contract.store import commit_model
    from engine.text import tokenizer_record
    from jobs.common import ray_session
    from jobs.config import load_config
    from jobs.plan import make_plan
    from jobs.tag import tag_corpus

    os.makedirs(work, exist_ok=True)
    task = os.path.join(work, "task.tsv")
    with open(task, "w") as f:
        f.write("text\tlabel\nfine\tpositive\nbad\tnegative\n")
    config = {"model": tagger_dir, "store": os.path.join(work, "store"),
              "task": {"train": task, "dev": task, "test": task, "text_column": "text", "label_column": "label"},
              "domain": {"corpus": os.path.join(os.path.dirname(files[0]), "*.csv"), "text_column": "text"},
              "tag": {"shard_documents": shard_documents, "max_seq": max_seq},
              "compute": {"max_batch_tokens": max_batch_tokens, "tokenizer_actors": tokenizer_actors,
                          "cpu_threads": cpu_threads, "concurrent_shards": concurrent_shards,
                          "pack_sequences": options.get("pack"), "read_tasks": options.get("read_tasks"),
                          "compile_model": options.get("compile_model", False),
                          "num_cpus": options.get("ray_cpus")}}
    path = os.path.join(work, "bench-tag.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    cfg = load_config(path, [])
    plan = make_plan(cfg)
    shutil.copytree(tagger_dir, plan.tagger, dirs_exist_ok=True)
    # Committed as taskpt's training jobs commit a tagger, with its tokenizer's record (engine.text).
    commit_model(plan.tagger, {"what": "bench tagger", "tokenizer": tokenizer_record(tagger_dir)})
    # Ray as `taskpt tag` starts it (jobs.tag.main: a stage that trains nothing, so no dashboard
    # and no runtime env: jobs.common.ray_session).
    with ray_session(cfg, trains=False), harness.process_tree_usage() as memory, harness.GpuClocks() as clocks:
        start, start_wall = time.perf_counter(), time.time()
        tag_corpus(cfg, plan)
        seconds = time.perf_counter() - start
        start_up, model_spans = start_breakdown(start_wall)
    from engine.contract import read_manifest

    manifest = read_manifest(plan.tagged)
    steady = steady_state(plan.tagged, manifest, start_wall)
    # The card's clocks over the steady window, to hold against the ceiling's (a short run).
    steady_clocks = clocks.summary(start_wall + steady["first_shard_s"], start_wall + steady["last_shard_s"])
    return {"seconds": seconds, "sentences": manifest.rows, "sentences_per_s": manifest.rows / seconds,
            "peak_pss_gib": memory["peak_gib"], "at_peak_gib": memory["at_peak_gib"],
            "memory_sampler_cpu_s": memory["sampler_cpu_s"], "cpu_s_by_process": memory["cpu_s"],
            "busiest_threads": memory["busiest_threads"],
            "shards": len(manifest.shards), **steady, "model_calls": model_busy(model_spans, steady),
            "start": start_up, "gpu_clocks_steady": steady_clocks}, plan.tagged


def start_breakdown(start_wall: float) -> tuple[dict, list]:
    """Where the job's start went, from Ray's timeline of task events, in seconds after the
    job started: the first read task, and for the tokenizer actors and the model actor (the
    actor whose `__init__` took longest: it imports torch and loads the model) when their
    `__init__` began and ended and their first call began (the model actor's: and ended),
    and the first shard write began. Before `__init__` a new worker process starts and
    imports Ray Data. Also the model actor's calls, (start, end) each."""
    import ray

    inits, reads, writes, spans = {}, [], [], {}  # spans: worker -> its calls, (start, end) each
    for event in ray.timeline():
        if event.get("ph") != "X":
            continue
        name, at, seconds = event.get("cat", ""), event["ts"] / 1e6 - start_wall, event["dur"] / 1e6
        if at < 0:
            continue  # before this job: a Ray already running (the test suite's) has earlier events
        worker = (event.get("pid"), event.get("tid"))
        if name.startswith(("task::MapBatches(write_shards)", "task::MapWorker(MapBatches(ShardWriter)).submit")):
            writes.append(at)  # a write task, or a call of the writer actor (engine.writer.ShardWriter)
        elif name.startswith("task::MapWorker(MapBatches(PerShard))") and name.endswith(".__init__"):
            inits[worker] = (at, at + seconds)
        elif name.startswith("task::MapWorker(MapBatches(PerShard))") and name.endswith(".submit"):
            spans.setdefault(worker, []).append((at, at + seconds))
        elif name.startswith("task::MapBatches(read_shards)"):
            reads.append(at)
    if not inits:
        return {}, []
    model = max(inits, key=lambda w: inits[w][1] - inits[w][0])
    text = [w for w in inits if w != model]
    first_call = {w: min(calls) for w, calls in spans.items()}  # (start, end) of each worker's first call
    out = {"first_read_task_s": min(reads, default=None),
           "model_init_begin_s": inits[model][0], "model_init_end_s": inits[model][1],
           "model_first_call_s": first_call.get(model, (None,))[0],
           "model_first_call_end_s": first_call.get(model, (None, None))[1],
           "first_write_s": min(writes, default=None)}
    if text:
        out |= {"text_init_begin_s": min(inits[w][0] for w in text), "text_init_end_s": max(inits[w][1] for w in text),
                "text_first_call_s": min((first_call[w][0] for w in text if w in first_call), default=None)}
    return out, spans.get(model, [])  # "pid" is the node, "tid" the worker: a threaded actor's calls share it


def model_busy(spans: list[tuple[float, float]], steady: dict) -> dict:
    """How the model actor spent the steady window (first to last shard written): the share of
    it with at least one call running (below 1: it waited for shards to reach it), the mean
    number of calls running (compute.concurrent_shards at most), and its calls' mean length."""
    a, b = steady["first_shard_s"], steady.get("last_shard_s", 0.0)
    inside = [(max(s, a), min(e, b)) for s, e in spans if e > a and s < b]
    if not inside:
        return {}
    edges = sorted([(s, 1) for s, _ in inside] + [(e, -1) for _, e in inside])
    busy = running = 0.0
    depth, at = 0, a
    for t, step in edges:
        busy += (t - at) * (depth > 0)
        running += (t - at) * depth
        depth, at = depth + step, t
    return {"calls": len(spans), "mean_call_s": float(np.mean([e - s for s, e in spans])),
            "busy_share": busy / (b - a), "mean_running": running / (b - a)}


def steady_state(out: str, manifest, start_wall: float) -> dict:
    """The rate once every step is running, from the shard files' write times: the sentences of
    all shards but the first over the time between the first and the last written. What the
    end-to-end rate leaves out is the start (Ray workers, the model loaded, the first shard
    through every step): `first_shard_s`. Needs a few shards to mean anything."""
    written = sorted((os.path.getmtime(os.path.join(out, s.path)), s.rows) for s in manifest.shards)
    result = {"first_shard_s": written[0][0] - start_wall, "last_shard_s": written[-1][0] - start_wall}
    if len(written) >= 4 and written[-1][0] > written[0][0]:
        result["steady_sentences_per_s"] = sum(rows for _, rows in written[1:]) / (written[-1][0] - written[0][0])
    return result


def same_shards(a: str, b: str) -> bool:
    """Both folders hold the same shard files with the same rows."""
    import pyarrow.parquet as pq

    names = sorted(n for n in os.listdir(a) if n.endswith(".parquet"))
    if names != sorted(n for n in os.listdir(b) if n.endswith(".parquet")):
        return False
    for name in names:
        x, y = pq.read_table(os.path.join(a, name)), pq.read_table(os.path.join(b, name))
        for column in ("doc_id", "input_ids", "mask_positions"):
            if not x.column(column).equals(y.column(column)):
                return False
        if not np.allclose(x.column("scores").combine_chunks().values.to_numpy(),
                           y.column("scores").combine_chunks().values.to_numpy(), atol=1e-3):
            return False
    return True


def main(argv=None) -> int:
    from jobs.config import TagConfig

    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--suffix", default="", help="appended to the JSON file's name (runs of one shape and source "
                                                     "at other sizes)")
    parser.add_argument("--source", choices=("reviews", "dialog"), default="reviews")
    parser.add_argument("--tagger", default=None, help="a trained tagger checkpoint (default: random weights)")
    parser.add_argument("--shard-documents", type=int, default=TagConfig.shard_documents,
                        help="tag.shard_documents (other than its default: named in the JSON file's name)")
    parser.add_argument("--docs-per-file", type=int, default=100_000)
    parser.add_argument("--max-seq", type=int, default=256)
    parser.add_argument("--max-batch-tokens", type=int, default=None)
    parser.add_argument("--tokenizer-actors", type=int, default=1)
    parser.add_argument("--concurrent-shards", type=int, default=None, help="compute.concurrent_shards (default: its default)")
    parser.add_argument("--pack-sequences", action=argparse.BooleanOptionalAction, default=None,
                        help="compute.pack_sequences for the engine, its ceiling and the single process "
                             "(default: its default, packed on a GPU, padded on CPU)")
    parser.add_argument("--read-tasks", type=int, default=None, help="compute.read_tasks (default: its default)")
    parser.add_argument("--compile-model", action="store_true",
                        help="compute.compile_model for the engine, its ceiling and the single process")
    parser.add_argument("--ray-cpus", type=int, default=None,
                        help="compute.num_cpus of the local Ray (default: the machine's cores)")
    parser.add_argument("--runs", type=int, default=1,
                        help="the single process and the engine run this many times, taking turns; the figures are "
                             "the run with the median engine / single-process time (of two, the higher)")
    parser.add_argument("--skip-single", action="store_true", help="no single-process run (large corpora)")
    parser.add_argument("--ceiling-sentences", type=int, default=200_000, help="sentences the ceiling runs on")
    parser.add_argument("--ceiling-budgets", type=int, nargs="*", default=[],
                        help="also measure the ceiling at these tokens per forward pass")
    parser.add_argument("--shard-sweep", type=int, nargs="*", default=[],
                        help="also time the forward alone, grouped shard by shard as the engine does, with shards "
                             "of these many documents (each shard's sentences are grouped on their own: the "
                             "padding a shard size leaves)")
    args = parser.parse_args(argv)
    with harness.scratch(args.work, "tag") as work:  # not under --out: that folder is sent back
        return measure(args, work)


def measure(args, work: str) -> int:
    from engine.models import packs
    from jobs.config import TagConfig

    options = {"pack": args.pack_sequences, "compile_model": args.compile_model}
    engine_options = {**options, "read_tasks": args.read_tasks, "ray_cpus": args.ray_cpus}
    packed = packs(args.pack_sequences, harness.device().type)  # what the actors will do
    tagger_dir = args.tagger or harness.build_model(args.shape, "BertForTokenClassification",
                                                    harness.tokenizer_dir(args.tokenizer), os.path.join(work, "tagger"))
    files, documents = synthesise_corpus(harness.demo_texts(args.data, args.source), args.sentences,
                                         os.path.join(work, "corpus"), args.docs_per_file)
    print(f"corpus: {documents} documents in {len(files)} file(s), source {args.source}", flush=True)

    from engine.packed import flash_varlen
    from engine.text import SentenceTokenizer

    docs = pa.concat_tables([pacsv.read_csv(f) for f in files]).column("text").to_numpy(zero_copy_only=False)
    # The ceiling's rate is measured on the first documents (tokenizing a million sentences in
    # one process would take minutes and change nothing in the rate).
    docs = docs[: max(1, int(len(docs) * min(1.0, args.ceiling_sentences / args.sentences)))]
    rows = SentenceTokenizer.for_model(tagger_dir, args.max_seq - 2)({"doc_id": np.arange(len(docs)), "text": docs})
    lengths = np.diff(rows.column("input_ids").combine_chunks().offsets.to_numpy())
    # A trained tagger keeps its own shape: results are named "trained" instead of a shape.
    result = {"shape": "trained" if args.tagger else args.shape, "trained_tagger": bool(args.tagger), "source": args.source,
              "documents": documents, "shard_documents": args.shard_documents, "ceiling_sentences": rows.num_rows,
              "mean_wordpieces": float(lengths.mean()),
              "pack_sequences": packed, "compile_model": args.compile_model, "flash_varlen": flash_varlen() is not None,
              "read_tasks": args.read_tasks, "ray_cpus": args.ray_cpus,
              "ceiling": ceiling(tagger_dir, rows, args.max_batch_tokens, options)}
    print(f"ceiling: {result['ceiling']['sentences_per_s']:,.0f} sentences/s", flush=True)
    result["ceiling_sweep"] = [ceiling(tagger_dir, rows, budget, options) for budget in args.ceiling_budgets]
    result["shard_ceiling"] = shard_ceiling(tagger_dir, rows, args.shard_documents, args.max_batch_tokens, options)
    result["shard_sweep"] = [shard_ceiling(tagger_dir, rows, n, args.max_batch_tokens, options, as_engine_only=True)
                             for n in args.shard_sweep]
    # The single process and the engine take turns, `--runs` times: on a small shared machine
    # their rates drift by 10-20% between runs minutes apart, more than the gap being measured.
    pairs = []
    for run in range(args.runs):
        pair, single_dir = {}, os.path.join(work, f"single-{run}")
        if not args.skip_single:
            pair["single_process"] = single_process(tagger_dir, files, single_dir, args.shard_documents, args.max_seq,
                                                    options)
            print(f"single process: {pair['single_process']['sentences_per_s']:,.0f} sentences/s", flush=True)
        pair["engine"], engine_dir = engine_path(tagger_dir, files, os.path.join(work, f"engine-{run}"),
                                                 args.shard_documents, args.max_seq, args.max_batch_tokens,
                                                 args.tokenizer_actors, concurrent_shards=args.concurrent_shards,
                                                 options=engine_options)
        if not args.skip_single:
            pair["engine_equals_single_process"] = same_shards(engine_dir, single_dir)
            pair["engine_time_over_single_process"] = pair["engine"]["seconds"] / pair["single_process"]["seconds"]
            print(f"engine time / single-process time: {pair['engine_time_over_single_process']:.2f}", flush=True)
        pairs.append(pair)
    # The tables and the figures below are the run with the median ratio (a real pair, not a mix;
    # of an even number, the higher of the middle two).
    by_ratio = sorted(pairs, key=lambda p: p.get("engine_time_over_single_process", 0))
    result |= by_ratio[len(pairs) // 2]
    if args.runs > 1:
        result["runs"] = pairs
        if not args.skip_single:
            result["engine_equals_single_process"] = all(p["engine_equals_single_process"] for p in pairs)

    c, e = result["ceiling"], result["engine"]
    table = [{"run": "ceiling: tagger forward alone", "sentences/s": c["sentences_per_s"], "seconds": c["seconds"],
              "of ceiling": 1.0, "real TFLOP/s": c["tflops"], "peak GiB": c["peak_gib"]},
             {"run": "engine: taskpt tag path (Ray)", "sentences/s": e["sentences_per_s"], "seconds": e["seconds"],
              "of ceiling": e["sentences_per_s"] / c["sentences_per_s"], "real TFLOP/s": None,
              "peak GiB": e["peak_pss_gib"]}]
    for sweep in result["ceiling_sweep"]:
        table.append({"run": f"ceiling at {sweep['max_batch_tokens']} tokens/pass", "sentences/s": sweep["sentences_per_s"],
                      "seconds": sweep["seconds"], "of ceiling": sweep["sentences_per_s"] / c["sentences_per_s"],
                      "real TFLOP/s": sweep["tflops"], "peak GiB": sweep["peak_gib"]})
    shards = result["shard_ceiling"]
    for variant, what in (("", "as the engine groups"),
                          ("cudnn_attention_", "as the engine groups, cuDNN attention on (the engine until 2026-11-27)")):
        if f"{variant}padding" not in shards:
            continue
        for name in ("cold", "warm"):
            run = shards[f"{variant}{name}"]
            table.append({"run": f"forward alone, shard by shard, {what}, {name} ({shards[f'{variant}padding']:.0%} "
                                 f"padding, {shards['passes']} passes, {shards[f'{variant}shapes']} shapes)",
                          "sentences/s": run["sentences_per_s"], "seconds": run["seconds"],
                          "of ceiling": run["sentences_per_s"] / c["sentences_per_s"], "real TFLOP/s": None, "peak GiB": None})
    for sweep in result["shard_sweep"]:
        for name in ("cold", "warm"):
            table.append({"run": f"forward alone, shards of {sweep['shard_documents']:,} documents, {name} ("
                                 f"{sweep['padding']:.0%} padding, {sweep['passes']} passes, {sweep['shapes']} shapes)",
                          "sentences/s": sweep[name]["sentences_per_s"], "seconds": sweep[name]["seconds"],
                          "of ceiling": sweep[name]["sentences_per_s"] / c["sentences_per_s"], "real TFLOP/s": None,
                          "peak GiB": None})
    if "steady_sentences_per_s" in e:
        steady = e["steady_sentences_per_s"]
        table.append({"run": f"engine, steady state (first shard at {e['first_shard_s']:.1f} s)", "sentences/s": steady,
                      "seconds": None, "of ceiling": steady / c["sentences_per_s"], "real TFLOP/s": None,
                      "peak GiB": None})
    if "single_process" in result:
        s = result["single_process"]
        table.append({"run": "single process, same classes", "sentences/s": s["sentences_per_s"],
                      "seconds": s["seconds"], "of ceiling": s["sentences_per_s"] / c["sentences_per_s"],
                      "real TFLOP/s": None, "peak GiB": None})
    model = f"trained tagger {args.tagger}" if args.tagger else f"{args.shape} shape"
    model += ", sentences packed end to end" if packed else ", sentences padded"
    harness.print_table(f"tagging, {e['sentences']:,} sentences ({args.source}, mean {lengths.mean():.1f} "
                        f"wordpieces), {model}, {harness.card()}", table)
    print(f"engine / ceiling: {e['sentences_per_s'] / c['sentences_per_s']:.2f}")
    if e.get("start"):
        print("engine start, seconds after the job began: " + ", ".join(
            f"{k.removesuffix('_s')} {v:.1f}" for k, v in e["start"].items() if v is not None)
            + f", first shard written {e['first_shard_s']:.1f}")
    if e.get("model_calls"):
        m = e["model_calls"]
        print(f"model actor, first to last shard written: a call running {m['busy_share']:.0%} of the time, "
              f"{m['mean_running']:.2f} calls running on average; {m['calls']} calls of {m['mean_call_s'] * 1000:.0f} ms on average")
    if c.get("gpu_clocks") and e.get("gpu_clocks_steady"):
        print(harness.clocks_line({"ceiling": c["gpu_clocks"], "engine's steady window": e["gpu_clocks_steady"]}))
    if "single_process" in result:
        ratios = ", ".join(f"{p['engine_time_over_single_process']:.2f}" for p in pairs)
        print(f"engine time / single-process time: {result['engine_time_over_single_process']:.2f}"
              + (f" (median of {args.runs} runs taking turns: {ratios})" if args.runs > 1 else "")
              + f"; outputs equal: {result['engine_equals_single_process']}")
    variant = {None: "", True: "-packed", False: "-padded"}[args.pack_sequences]
    if args.shard_documents != TagConfig.shard_documents:
        variant += f"-shards{args.shard_documents}"
    variant += "-compiled" * args.compile_model + args.suffix
    harness.write_json(args.out, f"tag-{result['shape']}-{args.source}{variant}", result)
    return 0 if result.get("engine_equals_single_process", True) else 1


if __name__ == "__main__":
    sys.exit(main())
