"""Fault tests of the mask store: a tagging job killed with SIGKILL while it writes, and a shard
truncated by hand, are both finished by the next run, which computes only what is missing and
gives the same dataset, file for file, as a run that was never interrupted."""
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import pytest

from engine.contract import PREMASKED, read_manifest, read_rows
from jobs.config import load_config
from jobs.plan import make_plan
from jobs.store import main as store_main
from jobs.tag import main as tag_main

SHARDS = 24


@pytest.fixture(scope="module")
def tagging_project(tmp_path_factory, tagging_project_maker):
    """A config whose stage 4 has SHARDS shards to write, with the tagger already in two
    stores: `store` (the run that gets killed) and `reference` (the run that does not)."""
    root = tmp_path_factory.mktemp("resume")
    return root, tagging_project_maker(root, documents=2 * SHARDS, shard_documents=2, stores=("store", "reference"))


def shard_times(directory) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in pathlib.Path(directory).glob("*.parquet")}


def kill_while_writing(config: str, out: pathlib.Path, ray_address: str, seed: int) -> None:
    """Start `python -m jobs.tag` against the running cluster, wait until a random number of its
    shards are in place, then SIGKILL it (and anything it started in its process group)."""
    wait_for = random.Random(seed).randint(1, SHARDS // 3)
    job = subprocess.Popen([sys.executable, "-m", "jobs.tag", config, f"compute.address={ray_address}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while len(list(out.glob("*.parquet"))) < wait_for:
        assert job.poll() is None, f"the tagging job ended (exit {job.returncode}) before it was killed"
        assert time.monotonic() < deadline, "the tagging job wrote no shard in 240 s"
        time.sleep(0.01)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()


@pytest.mark.slow
def test_a_tagging_job_killed_while_writing_is_finished_by_the_next_run_and_equals_an_uninterrupted_run(
        local_ray, tagging_project, capsys):
    root, config = tagging_project
    # The reference run's model actor works on two shards at once (the GPU default): each
    # call's output depends on its own shard only, so the files are the same.
    reference = make_plan(load_config(config, [f"store={root / 'reference'}"]))
    assert tag_main([config, f"store={root / 'reference'}", "compute.concurrent_shards=2"]) == 0
    capsys.readouterr()
    plan = make_plan(load_config(config))
    out = pathlib.Path(plan.tagged)

    kill_while_writing(config, out, local_ray.get_runtime_context().gcs_address, seed=int(time.time()))
    time.sleep(2)  # tasks the dead driver had in flight are cancelled by the cluster
    assert not (out / "manifest.json").exists(), "the job finished before it was killed"
    before = shard_times(out)
    assert 1 <= len(before) < SHARDS

    assert tag_main([config]) == 0
    said = capsys.readouterr().out
    assert f"of {SHARDS} shard(s) already in" in said
    resumed = int(said.split("resuming: ")[1].split(" of ")[0])
    assert resumed >= len(before)
    after = shard_times(out)
    assert {name: after[name] for name in before} == before  # finished shards were not rewritten
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"file00000-doc{2 * i:09d}.parquet" for i in range(SHARDS)] + ["config.yaml", "manifest.json"])

    # File for file (sha256 per shard), row for row: the same as the run never interrupted.
    assert read_manifest(plan.tagged).shards == read_manifest(reference.tagged).shards
    assert read_rows(plan.tagged, PREMASKED).equals(read_rows(reference.tagged, PREMASKED))
    assert read_manifest(plan.random_masks).shards == read_manifest(reference.random_masks).shards
    assert store_main(["verify", out.name, config]) == 0


@pytest.mark.slow
def test_a_truncated_shard_fails_verify_and_the_next_run_redoes_that_shard_only(local_ray, tagging_project, capsys):
    root, config = tagging_project
    plan = make_plan(load_config(config))
    if not (pathlib.Path(plan.tagged) / "manifest.json").exists():
        assert tag_main([config]) == 0
    out = pathlib.Path(plan.tagged)
    shards = read_manifest(plan.tagged).shards
    victim = out / shards[SHARDS // 2].path
    with open(victim, "r+b") as f:
        f.truncate(victim.stat().st_size // 2)
    capsys.readouterr()
    assert store_main(["verify", out.name, config]) == 1
    assert f"{victim.name}: sha256 differs" in capsys.readouterr().out
    before = shard_times(out)

    assert tag_main([config]) == 0
    said = capsys.readouterr().out
    assert f"1 shard(s) missing or damaged ({victim.name})" in said
    assert f"resuming: {SHARDS - 1} of {SHARDS} shard(s)" in said
    after = shard_times(out)
    assert [name for name in before if after[name] != before[name]] == [victim.name]
    assert read_manifest(plan.tagged).shards == shards
    assert store_main(["verify", out.name, config]) == 0
