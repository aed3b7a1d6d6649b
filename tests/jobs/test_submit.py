"""`taskpt submit | status | logs`: a real Ray head on loopback (`ray start --head`, job server
on 127.0.0.1, token authentication on), a tagging job submitted through JobSubmissionClient
with the project as its working_dir, and its dataset checked."""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from engine.contract import PREMASKED, read_manifest
from jobs.config import load_config
from jobs.plan import make_plan
from jobs.submit import EXCLUDES, auth_headers, job_request
from jobs.submit import main as submit_main

PROJECT = pathlib.Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A Ray head node on loopback with its job server; stopped (its whole process group) after."""
    from ray.job_submission import JobSubmissionClient

    dashboard = free_port()
    env = dict(os.environ, PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path_factory.mktemp("head") / "head.log"
    head = subprocess.Popen(
        ["ray", "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={free_port()}",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
         "--num-cpus=2", "--disable-usage-stats",
         # Its own agent ports: the suite's other Ray (local_ray) already holds the defaults.
         f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
         f"--runtime-env-agent-port={free_port()}", f"--metrics-export-port={free_port()}"],
        env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + 120
    while True:
        try:
            JobSubmissionClient(address, headers=auth_headers(dict(os.environ))).list_jobs()
            break
        except Exception:
            assert head.poll() is None and time.monotonic() < deadline, f"the head did not start: {log.read_text()[-2000:]}"
            time.sleep(1)
    yield address
    os.killpg(head.pid, signal.SIGKILL)  # the head and everything it started (a graceful stop takes 30 s)
    head.wait(60)
    # `ray start` leaves the address of the cluster it started here for later `ray.init()`s.
    pathlib.Path("/tmp/ray/ray_current_cluster").unlink(missing_ok=True)


def test_a_bad_config_key_fails_before_anything_is_uploaded(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("model: m\nstore: s\ntask: {train: a, dev: b, test: c}\ndomain: {corpus: d}\ncompute: {gpus: 1}\n")
    assert submit_main([str(config), "--working-dir", str(tmp_path), "--address", "http://127.0.0.1:1"]) == 2
    assert "config key 'compute.gpus'" in capsys.readouterr().err


def test_the_job_runs_the_stage_module_from_the_uploaded_project(tmp_path_factory, tagging_project_maker):
    root = tmp_path_factory.mktemp("request")
    config = tagging_project_maker(root, documents=4, shard_documents=2)
    request = job_request(config, "tag", ["tag.max_seq=24"], str(root))
    assert request["entrypoint"] == "python -m jobs.tag tag.yaml tag.max_seq=24"
    assert request["runtime_env"] == {"working_dir": str(root), "excludes": EXCLUDES}
    with pytest.raises(Exception, match="must be inside the working directory"):
        job_request(config, "tag", [], str(PROJECT / "configs"))


@pytest.mark.slow
def test_a_tagging_job_submitted_to_a_loopback_head_writes_its_dataset(ray_head, tmp_path_factory,
                                                                        tagging_project_maker, capsys):
    root = tmp_path_factory.mktemp("submitted")
    project = root / "project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns(".git", ".venv", ".whl", "data", "store",
                                                                   "__pycache__", ".pytest_cache", "*.egg-info"))
    config = tagging_project_maker(root, documents=6, shard_documents=2, config_dir=project / "configs")

    assert submit_main([config, "--stage", "tag", "--address", ray_head, "--working-dir", str(project), "--follow"]) == 0
    said = capsys.readouterr().out
    job_id = said.split("submitted ", 1)[1].split()[0]
    assert "[taskpt tag] wrote" in said and f"{job_id}: SUCCEEDED" in said

    plan = make_plan(load_config(config))
    manifest = read_manifest(plan.tagged)
    assert manifest.kind == PREMASKED and [s.path for s in manifest.shards] == [
        "file00000-doc000000000.parquet", "file00000-doc000000002.parquet", "file00000-doc000000004.parquet"]
    assert read_manifest(plan.random_masks).rows == manifest.rows > 0

    assert submit_main([job_id, "--address", ray_head], command="status") == 0
    assert f"{job_id}: SUCCEEDED  python -m jobs.tag configs/tag.yaml" in capsys.readouterr().out
    assert submit_main([job_id, "--address", ray_head], command="logs") == 0
    assert "[taskpt tag] wrote" in capsys.readouterr().out
    assert submit_main([job_id, "--address", ray_head], command="stop") == 0
    assert f"{job_id}: not running" in capsys.readouterr().out  # it had finished
