"""Stage 2 throughput: importance scoring, the published style against the engine's scorer.

    python bench/score.py --shape base --sentences 4000 --baseline-sentences 384    # GPU machine
    python bench/score.py --shape minilm --sentences 200 --baseline-sentences 64    # 2-core CPU

Both score the same review sentences (the demo's Rotten Tomatoes snippets, split and cut to
126 wordpieces) with the same classifier (random weights of the named shape, drawn wider than
BERT's init so that outputs and decisions vary; each sentence's label is the model's own
prediction, so all are scored). The engine's cost grows with the share of unimportant
(kept) wordpieces; the table says what share this model gives.
- published style: fp32, batches of 32 sentences, every pass padded to 128, the auxiliary
  inputs rebuilt as Python lists and copied to the device at every step, decisions on the host;
- engine: `ImportanceScorer` (what `taskpt score` runs per shard) in fp32, on the baseline's
  sentences: its decisions must be identical; and in the default dtype (bf16 on a GPU) on
  all sentences in one call, for the rate; then on the same sentences in calls of
  --shard-sentences (about what `taskpt score` gives an actor per shard of score.shard_examples
  examples, the demo's examples being one sentence or two).
Real TFLOP/s counts only the tokens of each auxiliary sequence ([CLS] s' w_i [SEP]), no padding,
as the whole encoder's work at each (the baseline's, and the engine's until 2026-11-27);
executed TFLOP/s, for the engine's runs, counts its last layer as it runs it: at [CLS] alone,
keys and values excepted (engine.bert.Bert; about 1/L less for L layers).
Passes: forward passes run (a sentence takes one per wordpiece, one after the other; padded, a
group of sentences runs as many as its longest has wordpieces, packed, a sentence starts in the
first pass with room for all its steps: engine.rule_passes); on a GPU each costs milliseconds of
Python and kernel launches whatever its size. The engine's
default-dtype runs are timed twice, the first time their batch shapes are met (as in `taskpt
score`, whose passes change shape at every step) and again; the one call is also run with
PyTorch's cuDNN attention kernel allowed, as the engine ran until 2026-11-27 (it builds a plan
per new shape; `engine.models.without_cudnn_attention`), with the other
`compute.pack_sequences` (packed end to end, no padding: the default on a GPU; padded: on CPU),
and packed with its sentences starting in groups, as before the rolling schedule (GROUPED).
The fp32 decisions are compared with the baseline's both padded and packed. Last, the default
run's forward passes are recorded and replayed back to back with nothing between them: their
time against the whole call's says how much of it is the device's work on those passes alone.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
import time

import numpy as np

import harness

# Random weights this wide give a mix of decisions at delta 0.01 (measured: tiny 0.1 -> ~46% of
# wordpieces important, minilm 0.05 -> ~36%); BERT's own 0.02 leaves outputs nearly constant.
INIT_STD = {"tiny": 0.1, "minilm": 0.05, "base": 0.05}
# The engine's default dtype runs once more with the other `compute.pack_sequences` (packed by
# default on a GPU, padded on CPU), and packed with the schedule it had before (engine.rule_passes).
PACKED, PADDED = "sentences packed (compute.pack_sequences)", "sentences padded (compute.pack_sequences: false)"
GROUPED = "packed, sentences starting in groups (the engine until its rolling schedule, 2026-11-27)"
COMPILED = "layers compiled (compute.compile_model)"


def published_style(model, rows: list[np.ndarray], labels: np.ndarray, delta: float, cls_id: int, sep_id: int,
                    pad_id: int, device, batch_size: int = 32, pad_to: int = 128) -> list[np.ndarray]:
    """The rule as the published code runs it (see the module docstring)."""
    import torch

    out = []
    for start in range(0, len(rows), batch_size):
        batch, targets = rows[start:start + batch_size], labels[start:start + batch_size]

        def probabilities(sequences):
            inputs = [[cls_id, *s, sep_id] + [pad_id] * (pad_to - len(s) - 2) for s in sequences]
            masks = [[1] * (len(s) + 2) + [0] * (pad_to - len(s) - 2) for s in sequences]
            ids = torch.tensor(inputs, device=device)
            attention = torch.tensor(masks, device=device)
            return model(input_ids=ids, attention_mask=attention).logits.float().softmax(-1).cpu().numpy()

        p_full = probabilities([list(r) for r in batch])[np.arange(len(batch)), targets]
        kept = [[] for _ in batch]
        important = [[] for _ in batch]
        for i in range(max(len(r) for r in batch)):
            active = [b for b, r in enumerate(batch) if len(r) > i]
            probs = probabilities([kept[b] + [int(batch[b][i])] for b in active])
            for j, b in enumerate(active):
                decision = bool(p_full[b] - probs[j, targets[b]] < delta)
                important[b].append(decision)
                if not decision:
                    kept[b].append(int(batch[b][i]))
        out.extend(np.array(d, dtype=bool) for d in important)
    return out


def auxiliary_lengths(decisions: list[np.ndarray]) -> np.ndarray:
    """Every sequence the rule runs, by its real length: the full sentence, then at step i
    [CLS] + (kept before i) + w_i + [SEP]."""
    lengths = []
    for important in decisions:
        kept_before = np.concatenate([[0], np.cumsum(~important)[:-1]])
        lengths.append(len(important) + 2)
        lengths.extend(kept_before + 3)
    return np.array(lengths)


@contextlib.contextmanager
def count_passes(model):
    """Yields a list that grows by one at every forward pass of `model` inside the block."""
    calls = []
    hook = model.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        yield calls
    finally:
        hook.remove()


def count_scorer_passes(scorer):
    """Yields a list that grows by one at every forward pass of the engine's `scorer` inside
    the block, padded or packed (every pass embeds its tokens once)."""
    return count_passes(scorer.model.embeddings)


def review_sentences(data: str, tokenizer_dir: str, count: int, max_seq: int = 128) -> list[np.ndarray]:
    from engine.text import SentenceTokenizer

    texts = harness.demo_texts(data, "reviews")
    rows = SentenceTokenizer.for_model(tokenizer_dir, max_seq - 2)({"id": np.arange(len(texts)), "text": np.array(texts, object)})
    ids = [np.asarray(r, dtype=np.int64) for r in rows.column("input_ids").to_pylist()]
    return [ids[i % len(ids)] for i in range(count)]


def device_waits(run) -> dict | None:
    """On a GPU, what in one more call of `run` keeps the host from running ahead of the device:
    the Python lines where PyTorch reports an operation that waits for it
    (torch.cuda.set_sync_debug_mode), then from the profiler the CUDA runtime calls that took
    the host's time (a synchronize, an allocation), the kernels' total time against the call's,
    and the kernels that took most of it. None on CPU."""
    import collections
    import time
    import warnings

    import torch
    from torch.profiler import ProfilerActivity, profile

    if not torch.cuda.is_available():
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    waits = collections.Counter(f"{os.path.relpath(w.filename)}:{w.lineno}" for w in caught
                                if "synchroniz" in str(w.message))
    harness.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        run()
        harness.synchronize()
        wall = time.perf_counter() - start
    events = prof.key_averages()
    device_s = {e.key: (e.count, e.self_device_time_total / 1e6) for e in events if e.self_device_time_total > 0}
    runtime = sorted(((e.key, e.count, e.self_cpu_time_total / 1e6) for e in events if e.key.startswith("cuda")),
                     key=lambda x: -x[2])
    return {"synchronizing_lines": dict(waits.most_common(10)), "profiled_call_s": wall,
            "kernels_s": sum(seconds for _, seconds in device_s.values()),
            "top_kernels": [(k[:90], n, t) for k, (n, t) in sorted(device_s.items(), key=lambda x: -x[1][1])[:10]],
            "cuda_runtime_host_s": runtime[:8]}


def main(argv=None) -> int:
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=64, help="sentences the engine scores for its rate")
    parser.add_argument("--baseline-sentences", type=int, default=32, help="sentences both score (decisions compared)")
    parser.add_argument("--delta", type=float, default=0.01)
    parser.add_argument("--budgets", type=int, nargs="*", default=None,
                        help="tokens per forward pass to try (default: the engine's default only)")
    parser.add_argument("--suffix", default="", help="appended to the JSON file's name (runs of one shape at other sizes)")
    parser.add_argument("--shard-sentences", type=int, nargs="*", default=[2048],
                        help="sentences per call in the shard runs, as taskpt score's shards feed the actor")
    parser.add_argument("--compile-model", action="store_true",
                        help="also score with the layers compiled (compute.compile_model), its passes replayed too")
    parser.add_argument("--init-std", type=float, default=None,
                        help="spread of the random weights (default: one that gives this shape a decision mix)")
    args = parser.parse_args(argv)
    with harness.scratch(args.work, "score") as work:
        return measure(args, work)


def measure(args, work: str) -> int:
    import torch
    import transformers

    from engine.packed import flash_varlen
    from engine.rule_passes import group_starts
    from engine.scorer import ImportanceScorer

    class GroupedPasses(ImportanceScorer):
        """Packed passes scheduled as the engine did before its rolling schedule: sentences in
        groups, each starting when the one before has finished, widths rounded as on the device."""

        def schedule(self, lengths):
            return group_starts(lengths, self.max_batch_tokens, self.pad_multiple)

    model_dir = harness.build_model(args.shape, "BertForSequenceClassification", harness.tokenizer_dir(args.tokenizer),
                                    os.path.join(work, "scorer"), init_std=args.init_std or INIT_STD[args.shape])
    rows = review_sentences(args.data, model_dir, max(args.sentences, args.baseline_sentences))
    dev = harness.device()
    fp32_scorer = ImportanceScorer(model_dir, delta=args.delta, filter_stopwords=False, dtype="float32", pack=False)
    # The baseline runs the same fp32 weights in Hugging Face's model, as the published code does.
    reference = transformers.BertForSequenceClassification.from_pretrained(model_dir).to(dev).eval()
    tok = fp32_scorer.tokenizer
    with torch.inference_mode():  # labels: the model's own prediction, so every sentence is scored
        labels = np.array([int(x.argmax()) for x in fp32_scorer.logits(rows)])

    def engine_run(scorer, n, per_call=None, backends=None, once=False):
        """Score the first n sentences in calls of `per_call` (None: one call), twice: the first
        time every batch shape is new to the process (as in `taskpt score`, whose passes change
        shape at every step), the second time each has been seen. `backends`: the attention
        kernels PyTorch may pick (None: its default set). (decisions, first seconds, second
        seconds, passes per time, peak GiB of the second). `once`: only the calls, nothing
        returned (`device_waits`)."""
        from torch.nn.attention import sdpa_kernel

        calls = [range(a, min(a + (per_call or n), n)) for a in range(0, n, per_call or n)]
        batches = [{"example_id": np.arange(c.start, c.stop), "sentence_index": np.zeros(len(c), np.int32),
                    "label": labels[c.start:c.stop], "input_ids": np.array(rows[c.start:c.stop] + [None], dtype=object)[:-1]}
                   for c in calls]
        if once:
            for b in batches:
                scorer(b)
            return None
        with sdpa_kernel(backends) if backends else contextlib.nullcontext():
            _, first = harness.timed(lambda: [scorer(b) for b in batches])
            harness.reset_peak_memory()
            with count_scorer_passes(scorer) as passes:
                out, seconds = harness.timed(lambda: [scorer(b) for b in batches])
        decisions = [np.array(x, dtype=bool) for table in out for x in table.column("important").to_pylist()]
        return decisions, first, seconds, len(passes), harness.peak_memory_gib()

    @contextlib.contextmanager
    def recording_passes(model):
        """Yields a list that gets (method, inputs) for every forward pass `model` runs inside
        the block, padded (`forward`) or packed (`packed`), for `passes_alone`."""
        recorded = []

        def recording(method):
            names = list(inspect.signature(method).parameters)

            def run(*args, **kwargs):
                recorded.append((method, {**dict(zip(names, args)), **kwargs}))
                return method(*args, **kwargs)
            return run

        model.forward, model.packed = recording(model.forward), recording(model.packed)
        try:
            yield recorded
        finally:
            del model.forward, model.packed  # the class's methods again

    def passes_alone(model, recorded):
        """The passes of one call (the full sentences', then the rule's), as `recording_passes`
        recorded them, replayed back to back with nothing between them (no rule, no
        bookkeeping): what the device does with those passes alone. {passes, seconds,
        executed_tflops}."""
        with torch.inference_mode():
            harness.timed(lambda: [method(**inputs) for method, inputs in recorded])  # shapes met before, as in the run
            _, seconds = harness.timed(lambda: [method(**inputs) for method, inputs in recorded])
        tokens = np.concatenate([sequence_lengths(inputs) for _, inputs in recorded])
        flops = harness.encoder_flops(model.config, tokens, last_layer_at_first_token=True)
        return {"passes": len(recorded), "seconds": seconds, "executed_tflops": flops / seconds / 1e12}

    def sequence_lengths(inputs):
        """Real tokens of each sequence of a recorded pass, padded (an additive mask) or packed."""
        if "packing" in inputs:
            return inputs["packing"].cu_seqlens.diff().cpu().numpy()
        return (inputs["attention_mask"] == 0).sum(-1).flatten().cpu().numpy()

    def pass_tokens(recorded):
        """Tokens the recorded passes ran, and the real ones among them: a packed pass sized by
        the host's bound (engine.scorer._KeptBound) runs tokens past its real ones, a padded one
        its padding."""
        return {"ran": sum(inputs["input_ids"].numel() for _, inputs in recorded),
                "real": int(sum(sequence_lengths(inputs).sum() for _, inputs in recorded))}

    def table_row(how, run, first=False):
        """(how, decisions, seconds, peak GiB, passes) of an `engine_run` result, timed the
        first time its shapes were met or again."""
        decisions, first_s, seconds, passes, gib = run
        return how + (", first time (new shapes)" if first else ""), decisions, first_s if first else seconds, gib, passes

    def diagnostics(scorer, per_pass, fast):
        """The default budget's other runs: shard-sized calls, one call with the other
        compute.pack_sequences, then one with cuDNN attention allowed (after the others: only
        its per-shape plans are new); table rows for them and
        for the first time of `fast`, and how many decisions each differs by from `fast`."""
        runs = {f"calls of {size} sentences": engine_run(scorer, args.sentences, size) for size in args.shard_sentences}
        runs[PADDED if scorer.pack else PACKED] = engine_run(other_scorer(scorer), args.sentences)
        runs[GROUPED] = engine_run(grouped_packed(scorer), args.sentences)
        runs["cuDNN attention on (the engine until 2026-11-27)"] = engine_run(scorer, args.sentences, backends=with_cudnn)
        compiled_alone = None
        if args.compile_model:  # the first time includes compiling
            try:  # a variant: where torch.compile cannot run here, the rest stands without it
                compiled = ImportanceScorer(model_dir, delta=args.delta, filter_stopwords=False,
                                            max_batch_tokens=scorer.max_batch_tokens, compile_model=True)
                with recording_passes(compiled.model) as recorded:
                    runs[COMPILED] = engine_run(compiled, args.sentences)
                compiled_alone = passes_alone(compiled.model, recorded[len(recorded) // 2:])  # the second time
            except Exception as error:  # noqa: BLE001
                print(f"{COMPILED}: failed, {error!r}")
                compiled_alone = {"error": repr(error)}
        rows_out = [table_row(per_pass, fast, first=True)]
        rows_out += [table_row(f"{per_pass}, {how}", run, first) for how, run in runs.items() for first in (False, True)]
        differing = {how: int(sum((a != b).sum() for a, b in zip(fast[0], run[0]))) for how, run in runs.items()}
        return rows_out, differing, compiled_alone

    nb = args.baseline_sentences
    # Baseline: published style, fp32, on the first nb sentences.
    with torch.inference_mode():
        published_style(reference, rows[:4], labels[:4], args.delta, tok.cls_token_id, tok.sep_token_id,
                        tok.pad_token_id, dev)  # warm-up
        harness.reset_peak_memory()
        with count_passes(reference) as baseline_passes:
            baseline, baseline_s = harness.timed(published_style, reference, rows[:nb], labels[:nb], args.delta,
                                                 tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, dev)
    baseline_peak, baseline_passes = harness.peak_memory_gib(), len(baseline_passes)
    fp32, _, fp32_s, fp32_passes, fp32_peak = engine_run(fp32_scorer, nb)
    differing = int(sum((a != b).sum() for a, b in zip(baseline, fp32)))
    packed_fp32 = ImportanceScorer(model_dir, delta=args.delta, filter_stopwords=False, dtype="float32", pack=True)
    differing_packed = int(sum((a != b).sum() for a, b in zip(baseline, engine_run(packed_fp32, nb)[0])))
    del packed_fp32

    def other_scorer(scorer):
        """`scorer` with the other compute.pack_sequences."""
        return ImportanceScorer(model_dir, delta=args.delta, filter_stopwords=False,
                                max_batch_tokens=scorer.max_batch_tokens, pack=not scorer.pack)

    def grouped_packed(scorer):
        """A packed scorer whose sentences start in groups, as padded ones do (`GroupedPasses`)."""
        return GroupedPasses(model_dir, delta=args.delta, filter_stopwords=False,
                             max_batch_tokens=scorer.max_batch_tokens, pack=True)
    del fp32_scorer, reference
    # The default dtype at the engine's default token budget per forward pass, then at each
    # other budget asked for (summary.py reads the first as the engine's figure). At the default
    # budget, then in calls of shard size, then with cuDNN attention allowed.
    from torch.nn.attention import SDPBackend

    with_cudnn = [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                  SDPBackend.MATH]
    fast_runs, extra_runs, default_budget = [], [], None
    # The card's clocks while the default call runs and while its matmul peak is measured: the
    # share of peak holds only if the clocks were the same.
    clocks, windows = harness.GpuClocks(interval_ms=100).start(), {}
    for budget in [None, *(args.budgets or [])]:
        if fast_runs and budget == default_budget:
            continue  # the default again
        fast_scorer = ImportanceScorer(model_dir, delta=args.delta, filter_stopwords=False, max_batch_tokens=budget)
        per_pass = f"{fast_scorer.max_batch_tokens} tokens/pass"
        if budget is None:
            default_budget, default_packed = fast_scorer.max_batch_tokens, fast_scorer.pack
        with recording_passes(fast_scorer.model) as recorded:
            started = time.time()
            fast = engine_run(fast_scorer, args.sentences)
            windows.setdefault("default_call", (started, time.time()))
        fast_runs.append(table_row(per_pass, fast))
        if budget is None:
            extra_runs, differing_variants, compiled_alone = diagnostics(fast_scorer, per_pass, fast)
            second_time = recorded[len(recorded) // 2:]  # engine_run ran the call twice
            alone, default_tokens = passes_alone(fast_scorer.model, second_time), pass_tokens(second_time)
            del recorded, second_time
            try:  # a diagnosis only: the figures above stand without it
                waits = device_waits(functools.partial(engine_run, fast_scorer, args.sentences, once=True))
            except Exception as error:  # noqa: BLE001
                waits = {"error": repr(error)}
        else:
            del recorded
        config, dtype = fast_scorer.model.config, str(fast_scorer.dtype).removeprefix("torch.")
        del fast_scorer
    fast_runs += extra_runs
    started = time.time()
    peak = harness.matmul_tflops()
    windows["matmul_peak"] = (started, time.time())
    clocks.stop()
    gpu_clocks = {what: clocks.summary(*window) for what, window in windows.items()}

    def tflops(decisions, seconds, executed=False):
        lengths = auxiliary_lengths(decisions)
        return harness.encoder_flops(config, lengths, last_layer_at_first_token=executed) / seconds / 1e12

    table = [
        {"run": "published style, fp32", "sentences": nb, "sentences/s": nb / baseline_s, "x baseline": 1.0,
         "real TFLOP/s": tflops(baseline, baseline_s), "of matmul peak": tflops(baseline, baseline_s) / peak,
         "executed TFLOP/s": tflops(baseline, baseline_s), "peak GiB": baseline_peak, "passes": baseline_passes},
        {"run": "engine ImportanceScorer, fp32, padded", "sentences": nb, "sentences/s": nb / fp32_s,
         "x baseline": baseline_s / fp32_s, "real TFLOP/s": tflops(fp32, fp32_s),
         "of matmul peak": tflops(fp32, fp32_s) / peak, "executed TFLOP/s": tflops(fp32, fp32_s, executed=True),
         "peak GiB": fp32_peak, "passes": fp32_passes},
    ] + [
        {"run": f"engine ImportanceScorer, {dtype}, {how}", "sentences": args.sentences,
         "sentences/s": args.sentences / fast_s, "x baseline": (args.sentences / fast_s) / (nb / baseline_s),
         "real TFLOP/s": tflops(fast, fast_s), "of matmul peak": tflops(fast, fast_s) / peak,
         "executed TFLOP/s": tflops(fast, fast_s, executed=True), "peak GiB": fast_peak, "passes": passes}
        for how, fast, fast_s, fast_peak, passes in fast_runs
    ]  # summary.py reads the first three as published style, fp32, default dtype
    lengths = np.array([len(r) for r in rows])
    important = float(np.mean(np.concatenate(fast_runs[0][1])))
    harness.print_table(f"importance scoring, {args.shape} shape, review sentences (mean {lengths.mean():.1f} "
                        f"wordpieces), {harness.card()}; matmul peak {peak:.1f} TFLOP/s", table)
    rule_s = fast_runs[0][2]  # the default run, again
    for replayed in (alone, compiled_alone):
        if replayed and "error" not in replayed:
            replayed["of_matmul_peak"] = replayed["executed_tflops"] / peak
    alone["whole_call_seconds"] = rule_s
    print(f"the default run's {alone['passes']} forward passes replayed back to back, nothing between them: "
          f"{alone['seconds']:.3f} s against {rule_s:.3f} s for the whole call; "
          f"{alone['executed_tflops']:.3g} executed TFLOP/s, {alone['of_matmul_peak']:.1%} of matmul peak")
    if compiled_alone and "error" not in compiled_alone:
        print(f"with the layers compiled, the same call's {compiled_alone['passes']} passes replayed back to back: "
              f"{compiled_alone['seconds']:.3f} s, {compiled_alone['executed_tflops']:.3g} executed TFLOP/s, "
              f"{compiled_alone['of_matmul_peak']:.1%} of matmul peak")
    if waits and "error" in waits:
        print(f"device_waits failed: {waits['error']}")
    elif waits:
        print(f"one more default call: kernels {waits['kernels_s']:.3f} s of {waits['profiled_call_s']:.3f} s (profiled); "
              f"lines that wait for the device: {waits['synchronizing_lines'] or 'none reported'}; CUDA runtime calls "
              "(host s): " + ", ".join(f"{k} {n} {t:.3f}" for k, n, t in waits["cuda_runtime_host_s"][:5]))
        print("kernels (device s): " + "; ".join(f"{k} x{n} {t:.3f}" for k, n, t in waits["top_kernels"][:6]))
    if all(gpu_clocks.values()):
        print(harness.clocks_line({"default call": gpu_clocks["default_call"], "matmul peak": gpu_clocks["matmul_peak"]}))
    ran, real = default_tokens["ran"], default_tokens["real"]
    print(f"tokens the default run's passes ran: {ran:,} for {real:,} real ones (+{ran / real - 1:.1%}: the host's "
          "bounds on the kept counts, engine.scorer._KeptBound, or padding)")
    print(f"decisions differing between the published style and the engine at fp32: {differing} of "
          f"{sum(len(d) for d in baseline)} ({differing_packed} with sentences packed); "
          f"important wordpieces: {important:.1%}; decisions differing between "
          f"one call and the variants ({dtype}: other passes, other rounding): {differing_variants}")
    harness.write_json(args.out, f"score-{args.shape}{args.suffix}", {
        "shape": args.shape, "delta": args.delta, "matmul_peak_tflops": peak, "mean_wordpieces": float(lengths.mean()),
        "important_fraction": important, "differing_decisions_fp32": differing,
        "differing_decisions_fp32_packed": differing_packed, "pack_sequences": default_packed,
        "flash_varlen": flash_varlen() is not None,
        "differing_decisions_one_call_vs_variants": differing_variants,
        "passes_alone": alone, "pass_tokens": default_tokens, "device_waits": waits,
        "compiled_passes_alone": compiled_alone, "gpu_clocks": gpu_clocks,
        "runs": table})
    return 0 if differing == differing_packed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
