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


@pytest.fixture(scope="module")
def tagging_project(tagged_reference, tagging_project_maker, tmp_path_factory):
    """(config, reference plan, shards): the reference's stage 4 into a store of this module's,
    with the tagger already there, for a run that gets killed; the reference is the run that was not."""
    root, _, reference, shards = tagged_reference
    config = tagging_project_maker(root, documents=2 * shards, shard_documents=2, stores=("store-resume",),
                                   config_dir=tmp_path_factory.mktemp("resume"))
    return config, reference, shards


def shard_times(directory) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in pathlib.Path(directory).glob("*.parquet")}


def kill_while_writing(config: str, out: pathlib.Path, ray_address: str, shards: int, seed: int) -> None:
    """Start `python -m jobs.tag` against the running cluster, wait until a random number of its
    shards are in place, then SIGKILL it (and anything it started in its process group)."""
    wait_for = random.Random(seed).randint(1, shards // 3)
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
    config, reference, shards = tagging_project
    plan = make_plan(load_config(config))
    out = pathlib.Path(plan.tagged)

    kill_while_writing(config, out, local_ray.get_runtime_context().gcs_address, shards, seed=int(time.time()))
    time.sleep(2)  # tasks the dead driver had in flight are cancelled by the cluster
    assert not (out / "manifest.json").exists(), "the job finished before it was killed"
    before = shard_times(out)
    assert 1 <= len(before) < shards

    assert tag_main([config]) == 0
    said = capsys.readouterr().out
    assert f"of {shards} shard(s) already in" in said
    resumed = int(said.split("resuming: ")[1].split(" of ")[0])
    assert resumed >= len(before)
    after = shard_times(out)
    assert {name: after[name] for name in before} == before  # finished shards were not rewritten
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"file00000-doc{2 * i:09d}.parquet" for i in range(shards)] + ["config.yaml", "manifest.json"])

    # File for file (sha256 per shard), row for row: the same as the run never interrupted.
    assert read_manifest(plan.tagged).shards == read_manifest(reference.tagged).shards
    assert read_rows(plan.tagged, PREMASKED).equals(read_rows(reference.tagged, PREMASKED))
    assert read_manifest(plan.random_masks).shards == read_manifest(reference.random_masks).shards
    assert store_main(["verify", out.name, config]) == 0


@pytest.mark.slow
def test_a_truncated_shard_fails_verify_and_the_next_run_redoes_that_shard_only(local_ray, tagging_project, capsys):
    config, _, count = tagging_project
    plan = make_plan(load_config(config))
    if not (pathlib.Path(plan.tagged) / "manifest.json").exists():
        assert tag_main([config]) == 0
    out = pathlib.Path(plan.tagged)
    shards = read_manifest(plan.tagged).shards
    victim = out / shards[count // 2].path
    with open(victim, "r+b") as f:
        f.truncate(victim.stat().st_size // 2)
    capsys.readouterr()
    assert store_main(["verify", out.name, config]) == 1
    assert f"{victim.name}: sha256 differs" in capsys.readouterr().out
    before = shard_times(out)

    assert tag_main([config]) == 0
    said = capsys.readouterr().out
    assert f"1 shard(s) missing or damaged ({victim.name})" in said
    assert f"resuming: {count - 1} of {count} shard(s)" in said
    after = shard_times(out)
    assert [name for name in before if after[name] != before[name]] == [victim.name]
    assert read_manifest(plan.tagged).shards == shards
    assert store_main(["verify", out.name, config]) == 0
