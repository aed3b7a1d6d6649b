"""The CPU smoke of every benchmark script: each runs end to end with a tiny model on a few
sentences, in this process (sharing the test session's local Ray), and writes JSON whose
figures are consistent. No timing is asserted; rates only have to be measured."""
import json
import os
import re
import sys
from types import SimpleNamespace

import pytest

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "bench")
WORDS = ("the a movie film story plot acting great good bad terrible awful wonderful boring funny dull "
         "brilliant love hate best worst fun slow mess charming script you me what who know think").split()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """The bench folder importable as scripts import each other, and a tiny demo data folder."""
    import numpy as np

    sys.path.insert(0, os.path.abspath(BENCH))
    data = tmp_path_factory.mktemp("bench-data")
    rng = np.random.default_rng(0)
    sentence = lambda n: " ".join(rng.choice(WORDS, n)) + "."  # noqa: E731
    with open(data / "train.tsv", "w") as f:
        f.write("id\ttext\tlabel\n")
        for i in range(40):
            f.write(f"{i}\t{sentence(int(rng.integers(4, 30)))} {sentence(5)}\t{'positive' if i % 2 else 'negative'}\n")
    with open(data / "corpus.csv", "w") as f:
        f.write(",statement,reply\n")
        for i in range(300):
            f.write(f"{i},{sentence(int(rng.integers(2, 12)))},{sentence(int(rng.integers(2, 8)))}\n")
    yield {"data": str(data), "out": str(tmp_path_factory.mktemp("bench-out"))}
    sys.path.remove(os.path.abspath(BENCH))


def fake_nvidia_smi(folder, monkeypatch) -> None:
    """Puts first on PATH a stand-in nvidia-smi of an older driver, which knows the clock
    reasons as clocks_throttle_reasons only: a sample at the card's maximum clock, then samples
    with the clock lowered by a power cap, every 50 ms until it is stopped."""
    fake = folder / "nvidia-smi"
    fake.write_text("#!/bin/sh\n"
                    'case "$1" in *clocks_event_reasons*) echo "Field is not a valid field to query."; exit 2;; esac\n'
                    "echo '0, 1980, 1980, 420.5, 50, 0x0000000000000000'\n"
                    "while true; do echo '0, 1700, 1980, 700.0, 66, 0x0000000000000004'; sleep 0.05; done\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def run(script: str, bench: dict, *args: str) -> None:
    module = __import__(script)
    assert module.main(["--shape", "tiny", "--data", bench["data"], "--out", bench["out"], *args]) == 0


def result(bench: dict, name: str) -> dict:
    with open(os.path.join(bench["out"], f"{name}.json")) as f:
        return json.load(f)


def test_score_bench_decisions_match_the_published_style(bench, tmp_path, monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch)  # the clocks are sampled as on a GPU machine
    run("score", bench, "--sentences", "24", "--baseline-sentences", "12", "--shard-sentences", "8", "--compile-model")
    out = result(bench, "score-tiny")
    assert out["differing_decisions_fp32"] == 0
    assert 0 < out["important_fraction"] < 1, "the random scorer must give a mix of decisions"
    assert all(r["sentences/s"] > 0 and r["real TFLOP/s"] > 0 for r in out["runs"])
    # The engine's last layer runs at [CLS] alone, so it executes less than the whole encoder's
    # count; Hugging Face's model (the published style) runs it all.
    assert out["runs"][0]["executed TFLOP/s"] == out["runs"][0]["real TFLOP/s"]
    assert all(0 < r["executed TFLOP/s"] < r["real TFLOP/s"] for r in out["runs"][1:])
    runs = {r["run"].split(", ", 1)[1]: r for r in out["runs"][2:]}  # the engine in its default dtype
    one_call, in_shards = runs["float32, 2048 tokens/pass"], runs["float32, 2048 tokens/pass, calls of 8 sentences"]
    assert in_shards["passes"] > one_call["passes"] > 0  # one pass per wordpiece of each call's longest sentence
    with_cudnn = "float32, 2048 tokens/pass, cuDNN attention on (the engine until 2026-11-27)"
    assert {"float32, 2048 tokens/pass, first time (new shapes)", with_cudnn, f"{with_cudnn}, first time (new shapes)"} <= set(runs)
    assert runs[with_cudnn]["passes"] == one_call["passes"]  # the same passes, other attention kernels allowed
    assert out["differing_decisions_one_call_vs_variants"]["cuDNN attention on (the engine until 2026-11-27)"] == 0
    # Packed sentences: the same decisions at fp32 as the published style, the same passes.
    packed = "sentences packed (compute.pack_sequences)"
    assert out["differing_decisions_fp32_packed"] == 0 and out["differing_decisions_one_call_vs_variants"][packed] == 0
    assert runs[f"float32, 2048 tokens/pass, {packed}"]["passes"] == one_call["passes"]
    # Packed with sentences starting in groups, as before the rolling schedule: the same decisions.
    grouped = "packed, sentences starting in groups (the engine until its rolling schedule, 2026-11-27)"
    assert runs[f"float32, 2048 tokens/pass, {grouped}"]["passes"] >= runs[f"float32, 2048 tokens/pass, {packed}"]["passes"]
    assert out["differing_decisions_one_call_vs_variants"][grouped] == 0
    # The call's forward passes replayed alone: the same passes, the rule's work between them left out.
    alone = out["passes_alone"]
    assert alone["passes"] == one_call["passes"] and 0 < alone["seconds"] and alone["executed_tflops"] > 0
    # The tokens the passes ran: the real ones and, padded (as on CPU), the padding.
    assert out["pass_tokens"]["ran"] >= out["pass_tokens"]["real"] > 0
    # The layers compiled (compute.compile_model): the same passes and decisions, replayed alone too.
    compiled = "layers compiled (compute.compile_model)"
    assert runs[f"float32, 2048 tokens/pass, {compiled}"]["passes"] == one_call["passes"]
    assert out["differing_decisions_one_call_vs_variants"][compiled] == 0
    assert out["compiled_passes_alone"]["passes"] == one_call["passes"]
    assert out["device_waits"] is None  # a GPU's diagnosis
    # The card's clocks while the default call ran and while the matmul peak was measured.
    assert set(out["gpu_clocks"]) == {"default_call", "matmul_peak"}
    assert all(g["samples"] > 0 and g["sm_mhz_median"] == 1700 for g in out["gpu_clocks"].values())


def test_host_cost_bench_finds_the_engines_padded_pass_dispatching_fewer_operations_with_the_same_logits(bench):
    run("host_cost", bench, "--passes", "5", "--rounds", "2")  # main() returns 1 where logits differ from Hugging Face's
    out = result(bench, "host-cost-tiny")
    theirs, padded, packed = out["runs"]
    assert all(r["passes/s"] > 0 and r["aten ops per pass"] > 0 for r in out["runs"])
    assert padded["aten ops per pass"] < theirs["aten ops per pass"]


def test_host_work_bench_runs_both_actors_whole_logic_on_its_stand_in_models_logits(bench):
    run("host_work", bench, "--tag-sentences", "40", "--score-sentences", "24", "--rounds", "2")
    runs = result(bench, "host-work-tiny")["runs"]
    assert [(r["actor"], r["packed"]) for r in runs] == [("MaskTagger", True), ("MaskTagger", False),
                                                         ("ImportanceScorer", True), ("ImportanceScorer", False)]
    assert all(r["passes"] > 0 and r["median_s"] > 0 and len(r["seconds"]) == 2 for r in runs)
    assert all(r["masks_per_sentence"] > 0 for r in runs[:2])
    assert all(0 < r["important_fraction"] < 1 for r in runs[2:])  # the rule kept some wordpieces, dropped others


def test_cold_start_bench_times_each_step_of_a_fresh_model_actor_in_a_child_process(bench):
    run("cold_start", bench, "--shard-sentences", "20", "--calls", "2")
    out = result(bench, "cold-start-tiny")
    steps = out["steps"]
    assert list(steps)[:4] == ["import torch", "import engine.tagger", "device's first use",
                               "MaskTagger(...): tokenizer, weights onto the device"]
    assert steps["call 1"] > 0 and steps["call 2"] > 0 and out["sentences_per_call"] == 20
    assert abs(sum(steps.values()) - out["whole_s"]) < 1e-6  # the steps account for the child's whole time


def test_pretrain_bench_runs_both_steps_on_the_same_batches(bench):
    run("pretrain", bench, "--steps", "1", "--warmup", "1")
    out = result(bench, "pretrain-tiny")
    assert out["baseline"]["steps"] == out["trainer"]["steps"] == 1
    # Same weights, same batches, the same loss computed two ways.
    assert out["trainer"]["mean_loss"] == pytest.approx(out["baseline"]["mean_loss"], rel=1e-3)
    assert out["speedup"] > 0


def test_families_bench_runs_every_family_on_the_same_rows_and_both_masked_lm_losses_agree(bench):
    run("families", bench, "--sentences", "60", "--rounds", "1", "--steps", "1", "--batch-size", "2",
        "--families", "bert,roberta,deberta-v2")
    out = result(bench, "families-tiny-tagging-masked-lm")
    assert [row["family"] for row in out["table"]] == ["bert", "roberta", "deberta-v2"]
    for family, steps in out["masked_lm"].items():
        # Same weights (the fresh head drawn alike), same batch: the loss at the masked positions
        # alone is the library's over every position.
        assert steps["first_loss"]["trainer"] == pytest.approx(steps["first_loss"]["library"], rel=1e-4), family
        assert steps["trainer"] > 0 and steps["library"] > 0
    assert all(len(rates["engine"]) == len(rates["plain"]) == 1 for rates in out["tagging"].values())


def test_train_job_bench_times_the_variants_on_the_same_instances(bench, local_ray):
    # Two of the three variants (the streamed one is the slowest; trainer/test_data.py checks
    # that all three give the same rows).
    run("train_job", bench, "--documents", "150", "--shard-documents", "50", "--steps", "1", "--runs", "1",
        "--variants", "materialized,on the driver")
    out = result(bench, "train-job-tiny")
    jobs = [out["runs"][v][0] for v in ("materialized", "on the driver")]
    assert len({job["instances"] for job in jobs}) == 1 and jobs[0]["instances"] > 0  # the same rows each way
    assert len({job["held_out"] for job in jobs}) == 1
    for job in jobs:
        assert 0 < job["rows_and_counts_s"] < job["job_s"] and job["fit_s"] > 0
    assert list(out["speedup"]) == ["on the driver"] and out["speedup"]["on the driver"] > 0


def test_tag_bench_engine_output_equals_the_single_process_loop(bench, local_ray):
    run("tag", bench, "--sentences", "400", "--shard-documents", "75", "--source", "dialog", "--ceiling-budgets", "64",
        "--shard-sweep", "150", "100000")
    out = result(bench, "tag-tiny-dialog-shards75")  # not tag.shard_documents' default: in the name
    assert out["engine_equals_single_process"] is True
    assert out["engine"]["sentences"] == out["single_process"]["sentences"] >= 400
    assert out["engine"]["shards"] >= 4
    assert out["engine"]["steady_sentences_per_s"] > 0 and 0 < out["engine"]["first_shard_s"] < out["engine"]["seconds"]
    # Where the start went (Ray's timeline): the model actor is made, then called; the text
    # actors' first call comes before the model's; the first write follows the model's first
    # call and ends in the first shard file.
    start = out["engine"]["start"]
    assert 0 < start["model_init_begin_s"] < start["model_init_end_s"] <= start["model_first_call_s"] < out["engine"]["seconds"]
    assert start["model_first_call_s"] < start["model_first_call_end_s"] <= start["first_write_s"]
    assert start["first_write_s"] <= out["engine"]["first_shard_s"]
    assert start["text_init_end_s"] <= start["text_first_call_s"] <= start["model_first_call_s"]
    assert [s["max_batch_tokens"] for s in out["ceiling_sweep"]] == [64]
    shards = out["shard_ceiling"]  # the forward passes alone, one shard's sentences at a time
    assert shards["shards"] == out["engine"]["shards"] and 0 <= shards["padding"] < 1 and shards["warm"]["seconds"] > 0
    # No "cuDNN attention allowed" variant of the same passes on a CPU: it has no cuDNN.
    assert "cudnn_attention_padding" not in shards
    # The same shard by shard timing at other shard sizes; one shard holding every document
    # is grouped as the ceiling groups them all at once.
    small, whole = out["shard_sweep"]
    assert small["shards"] == -(-out["documents"] // 150) and small["warm"]["seconds"] > 0
    assert whole["shards"] == 1 and whole["padding"] == pytest.approx(out["ceiling"]["padding"])
    assert "cudnn_attention_padding" not in whole
    assert out["versions"]["torch"] and out["versions"]["transformers"]


def test_tag_bench_with_packed_sentences_equals_the_single_process_loop_packing_them_too(bench, local_ray, tmp_path,
                                                                                       monkeypatch):
    fake_nvidia_smi(tmp_path, monkeypatch)  # the clocks are sampled as on a GPU machine
    run("tag", bench, "--sentences", "400", "--shard-documents", "75", "--source", "dialog", "--pack-sequences",
        "--runs", "2")
    out = result(bench, "tag-tiny-dialog-packed-shards75")
    assert out["pack_sequences"] is True and out["engine_equals_single_process"] is True
    assert out["engine"]["sentences"] == out["single_process"]["sentences"] >= 400
    # Two runs taking turns, each compared shard by shard; the figures are the slower pair's.
    assert len(out["runs"]) == 2 and all(r["engine_equals_single_process"] for r in out["runs"])
    ratios = [r["engine_time_over_single_process"] for r in out["runs"]]
    assert out["engine_time_over_single_process"] == max(ratios) == out["engine"]["seconds"] / out["single_process"]["seconds"]
    assert 0 <= out["engine"]["memory_sampler_cpu_s"] < out["engine"]["seconds"]
    # Packed passes hold no padding and do not go through SDPA: no cuDNN attention variant.
    assert out["shard_ceiling"]["padding"] == 0 and "cudnn_attention_padding" not in out["shard_ceiling"]
    assert out["engine"]["sentences"] == out["ceiling_sentences"]
    # The card's clocks in the ceiling's run and in the engine's steady window, the window's fewer.
    ceiling_clocks, steady_clocks = out["ceiling"]["gpu_clocks"], out["engine"]["gpu_clocks_steady"]
    assert ceiling_clocks["samples"] > 0 and steady_clocks["reasons"] == {"sw_power_cap": 1.0}
    assert steady_clocks["of_max_sm_clock"] == pytest.approx(1700 / 1980)


def test_grouping_bench_counts_the_tagging_actors_passes_by_shard_size(bench):
    run("grouping", bench, "--source", "reviews", "--sentences", "150", "--max-batch-tokens", "512",
        "--shard-documents", "20", "1000000")
    out = result(bench, "grouping-reviews")
    assert out["sentences"] >= 150 and out["pad_multiple"] == 8
    for how in ("padded", "packed"):
        small, larger_than_corpus, whole = out["runs"][how]
        assert small["shards"] == -(-out["documents"] // 20) > 1 and whole["shards"] == 1
        assert larger_than_corpus["shards"] == 1 and larger_than_corpus["passes"] == whole["passes"]
        for run_ in (small, whole):
            assert 0 <= run_["padding"] < 1 and run_["passes"] >= len(run_["shapes"]) > 0
    assert all(width % 8 == 0 for _, width in out["runs"]["padded"][0]["shapes"])  # as on a GPU
    # Packed passes hold real tokens only, so fewer of them carry the same sentences.
    for padded, packed in zip(out["runs"]["padded"], out["runs"]["packed"]):
        assert padded["padding"] > 0 == packed["padding"] and packed["passes"] <= padded["passes"]


def test_scaling_bench_and_summary(bench, local_ray, capsys):
    run("scaling", bench, "--sizes", "200", "400", "--shard-documents", "100")
    out = result(bench, "scaling-tiny")
    assert [r["sentences"] >= s for r, s in zip(out["runs"], (200, 400))] == [True, True]
    import summary

    assert summary.main([bench["out"]]) == 0
    printed = capsys.readouterr().out
    for stage in ("scoring (tiny, 24 sentences)", "TaskPT step (tiny)", "scaling (tiny)"):
        assert stage in printed
    assert re.search(r"tagging \(tiny, dialog, [\d,]+ sentences, shards of 75 documents\)", printed)


def test_a_scripts_own_scratch_folder_is_removed_however_it_ends_and_a_given_one_is_kept(bench, tmp_path):
    import harness

    with harness.scratch(None, "test") as fresh:
        assert os.path.isdir(fresh) and os.path.basename(fresh).startswith("bench-test-")
        open(os.path.join(fresh, "corpus.csv"), "w").close()
    assert not os.path.exists(fresh)
    with pytest.raises(RuntimeError), harness.scratch(None, "test") as failed:
        raise RuntimeError("the run failed")
    assert not os.path.exists(failed)
    given = str(tmp_path / "work")
    with harness.scratch(given, "test") as kept:
        open(os.path.join(kept, "corpus.csv"), "w").close()
    assert kept == given and os.path.isfile(os.path.join(given, "corpus.csv"))


def test_a_one_token_sequence_costs_the_same_with_the_last_layer_at_its_first_token(bench):
    import harness

    config = SimpleNamespace(hidden_size=8, intermediate_size=32, num_hidden_layers=3)
    assert harness.encoder_flops(config, [1], True) == harness.encoder_flops(config, [1])
    whole, skipping = harness.encoder_flops(config, [10, 20]), harness.encoder_flops(config, [10, 20], True)
    assert 2 / 3 * whole < skipping < whole  # one of three layers mostly skipped


def test_the_model_actors_busy_share_counts_overlapping_calls_once_and_clips_them_to_the_window(bench):
    from tag import model_busy

    spans = [(-1.0, 1.0), (0.5, 2.0), (3.0, 4.0), (4.5, 9.0)]  # (start, end) of each call, seconds
    busy = model_busy(spans, {"first_shard_s": 0.0, "last_shard_s": 5.0})
    # Within the window (5 s) a call runs over [0, 2], [3, 4] and [4.5, 5]; two at once over [0.5, 1].
    assert busy["busy_share"] == pytest.approx(3.5 / 5)
    assert busy["mean_running"] == pytest.approx((0.5 + 2 * 0.5 + 1.0 + 1.0 + 0.5) / 5)
    assert busy["calls"] == 4 and busy["mean_call_s"] == pytest.approx((2.0 + 1.5 + 1.0 + 4.5) / 4)
    assert model_busy(spans, {"first_shard_s": 10.0}) == {}  # one shard: no window


def test_the_usage_sampler_finds_the_thread_that_kept_a_core_busy(bench):
    """A child process spins one thread for 2.5 s of CPU: it is the busiest process, and its
    spinning thread (its main thread: tid = pid) holds that time."""
    import subprocess
    import time

    import harness

    spin = "import time\nend = time.thread_time() + 2.5\nwhile time.thread_time() < end: pass"
    with harness.process_tree_usage(interval=0.2) as usage:
        child = subprocess.Popen([sys.executable, "-c", spin])
        child.wait()
        time.sleep(0.1)
    busiest = usage["busiest_threads"]
    assert busiest["process"].endswith(f"[{child.pid}]")
    assert busiest["threads"][next(name for name in busiest["threads"] if name.endswith(f"[{child.pid}]"))] >= 1.5


def test_the_gpu_clock_sampler_falls_back_to_the_drivers_field_names_and_summarises_a_window(bench, tmp_path,
                                                                                             monkeypatch):
    import time

    import harness

    fake_nvidia_smi(tmp_path, monkeypatch)  # its clocks fall from the maximum as a power cap sets in
    with harness.GpuClocks(interval_ms=50) as clocks:
        time.sleep(0.5)
        window = time.time()
        time.sleep(0.5)
    assert clocks.process is None  # stopped
    whole, later = clocks.summary(), clocks.summary(start=window)
    assert whole["sm_mhz_median"] == 1700 and whole["sm_mhz_min"] == 1700 and whole["power_w_max"] == 700
    assert later["samples"] < whole["samples"] and later["of_max_sm_clock"] == pytest.approx(1700 / 1980)
    assert later["reasons"] == {"sw_power_cap": 1.0}
    assert 0 < whole["reasons"]["sw_power_cap"] < 1  # the first sample had none


def test_the_gpu_clock_sampler_without_nvidia_smi_has_no_samples(bench, tmp_path, monkeypatch):
    import harness

    monkeypatch.setenv("PATH", str(tmp_path))
    with harness.GpuClocks() as clocks:
        pass
    assert clocks.samples == [] and clocks.summary() == {}
