"""`taskpt submit | status | logs`: the request it builds, and README's two submit commands run
as written against a real Ray head on loopback (`ray start --head`, job server on 127.0.0.1,
token authentication on), their datasets checked in the user's store."""
import glob
import http.server
import importlib.metadata
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import torch

from engine.contract import PREMASKED, read_manifest
from engine.contract.store import commit_model
from jobs.config import load_config
from jobs.plan import make_plan
from jobs.submit import EXCLUDES, auth_headers, head_is_here, job_request, result_lines
from jobs.submit import main as submit_main

PROJECT = pathlib.Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def venv_env(**extra) -> dict[str, str]:
    """This environment with the test's Python first on PATH (`taskpt`, `ray`, `python`)."""
    return dict(os.environ, PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **extra)


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A Ray head node on loopback with its job server; stopped (its whole process group) after."""
    from ray.job_submission import JobSubmissionClient

    dashboard = free_port()
    env = venv_env()
    # As README does before `ray start --head`: a token for the head to check (kept if there is one).
    subprocess.run(["ray", "get-auth-token", "--generate"], env=env, check=True, capture_output=True)
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
    request, lines = job_request(config, "tag", ["tag.max_seq=24"], str(root), head_here=True)
    assert request["entrypoint"] == "python -m jobs.tag tag.yaml tag.max_seq=24"
    # The inputs and the store inside the uploaded directory stay out of the upload.
    assert request["runtime_env"] == {"working_dir": str(root), "excludes": EXCLUDES + [
        "/train.tsv", "/dev.tsv", "/test.tsv", "/corpus.txt", "/store"]}
    assert f"store: {root}/store (on this machine, where the job server runs)" in lines
    with pytest.raises(Exception, match="must be inside the working directory"):
        job_request(config, "tag", [], str(PROJECT / "configs"), head_here=True)


def test_install_gives_the_job_taskpts_requirements_pinned_as_installed_here(tmp_path_factory, tagging_project_maker):
    from ray.runtime_env import RuntimeEnv

    root = tmp_path_factory.mktemp("install")
    config = tagging_project_maker(root, documents=2, shard_documents=2)
    request, _ = job_request(config, "tag", [], str(root), head_here=True, install=True)
    pip = request["runtime_env"]["pip"]
    RuntimeEnv(**request["runtime_env"])  # Ray's own validation of the runtime_env
    packages = {p.split("==")[0].split("[")[0]: p for p in pip["packages"]}
    declared = {"torch", "transformers", "tokenizers", "pyarrow", "polars", "pyyaml", "packaging", "aiohttp",
                "matplotlib"}
    assert set(packages) == declared  # no test extras; no ray, the cluster's own runs the job
    assert packages["torch"] == f"torch=={torch.__version__.split('+')[0]}"  # no local build label (+cpu)
    assert packages["polars"] == f"polars=={importlib.metadata.version('polars')}"
    assert "pip" not in job_request(config, "tag", [], str(root), head_here=True)[0]["runtime_env"]


def test_a_relative_path_for_a_remote_job_server_is_refused_before_any_request(tmp_path, monkeypatch, capsys):
    (tmp_path / "demo.yaml").write_text((PROJECT / "configs/demo.yaml").read_text())
    monkeypatch.setattr("jobs.submit.client", lambda address: pytest.fail("the check let the submission through"))
    assert submit_main([str(tmp_path / "demo.yaml"), "--working-dir", str(tmp_path),
                        "--address", "http://10.0.0.5:8265", "tag.max_seq=24"]) == 2  # overrides after options
    err = capsys.readouterr().err
    assert "config key 'model': data/demo/model is a relative path and the job server is not on this machine" in err


class VersionServer(http.server.BaseHTTPRequestHandler):
    """A job server's /api/version, answering with the session name the test gives it."""
    session = ""

    def do_GET(self):
        body = json.dumps({"version": "4", "session_name": self.session}).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_loopback_job_server_is_this_machine_only_when_its_session_is_here(tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), type("Server", (VersionServer,), {"session": "session_1_2"}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"http://127.0.0.1:{server.server_port}"
    env = {"RAY_TMPDIR": str(tmp_path)}
    try:
        # An SSH tunnel (`ray dashboard cluster.yaml`): loopback, but the head's session is elsewhere.
        assert not head_is_here(address, {}, env)
        (tmp_path / "ray" / "session_1_2").mkdir(parents=True)
        assert head_is_here(address, {}, env)
        assert not head_is_here("http://10.0.0.5:8265", {}, env)  # not asked: not loopback
    finally:
        server.shutdown()


class FlakyHead:
    """A job server that answers `submit_job` with the given failures first, then with the id."""

    def __init__(self, *failures):
        self.failures, self.requests = list(failures), []

    def submit_job(self, **request):
        self.requests.append(request)
        if self.failures:
            raise self.failures.pop(0)
        return request["submission_id"]


def test_a_dropped_connection_is_retried_with_the_same_submission_id_and_never_makes_a_second_job(monkeypatch):
    import requests

    from jobs import submit as submit_module

    monkeypatch.setattr(submit_module.time, "sleep", lambda s: None)
    # The head took the first request but closed the connection: the retry finds the job there.
    head = FlakyHead(requests.exceptions.ConnectionError("Connection aborted."),
                     RuntimeError("Job with submission_id X already exists. Please use a different submission_id."))
    job_id = submit_module.submit(head, {"entrypoint": "python -m jobs.tag c.yaml"})
    assert job_id.startswith("raysubmit_") and [r["submission_id"] for r in head.requests] == [job_id, job_id]
    # A head without its job agent yet: retried, then submitted once.
    head = FlakyHead(RuntimeError("No available agent to submit job"))
    assert submit_module.submit(head, {"entrypoint": "e", "submission_id": "mine"}) == "mine" and len(head.requests) == 2
    # Another error is the user's to see, at once.
    head = FlakyHead(RuntimeError("Job with submission_id mine already exists"))
    with pytest.raises(RuntimeError, match="already exists"):
        submit_module.submit(head, {"entrypoint": "e", "submission_id": "mine"})


def test_the_result_lines_of_a_log_say_what_was_written_where():
    log = "\n".join([
        "[taskpt run] taskpt 0.1.0 in Ray job raysubmit_X; reads model /m; writes under /s",
        "[taskpt run] stage 1/6 finetune", "epoch 1 loss 0.5",
        "[taskpt finetune] general: wrote /s/models/finetuned/a (best epoch 1, dev accuracy 0.7)",
        "[taskpt tag] the random baseline (same masks per sentence): cache hit, /s/premasked/b",
        "[taskpt run] done in 9s (finetune 9s). Written (or reused) under /s:",
        "  tagger                             /s/models/tagger/c",
        "  results                            /s/results/d",
        "Job finished", "  indented but after the table"])
    assert result_lines(log) == [
        "[taskpt finetune] general: wrote /s/models/finetuned/a (best epoch 1, dev accuracy 0.7)",
        "[taskpt tag] the random baseline (same masks per sentence): cache hit, /s/premasked/b",
        "[taskpt run] done in 9s (finetune 9s). Written (or reused) under /s:",
        "  tagger                             /s/models/tagger/c", "  results                            /s/results/d"]
    assert result_lines("taskpt tag: error: config key 'store': ...\n") == ["taskpt tag: error: config key 'store': ..."]


def readme_submit_commands() -> list[str]:
    """The submit commands README and docs/cluster.md give for the demo config, as written."""
    commands = []
    for doc in ("README.md", "docs/cluster.md"):
        for line in (PROJECT / doc).read_text().splitlines():
            if "configs/demo.yaml" in line and ("taskpt submit" in line or "ray job submit" in line):
                commands.append(line.split("  #")[0].strip())
    return list(dict.fromkeys(commands))


def make_demo_project(project: pathlib.Path, tiny_bert: str, tiny_tagger: str):
    """This project's files, and under data/demo and store/demo what configs/demo.yaml names, at
    test size: the tiny BERT as the model, a few labeled rows, a dialog corpus, and the tagger
    committed in the store, so stage 4 can run. Returns the plan a local run would follow."""
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns(".git", ".venv", ".whl", "data", "store",
                                                                   "__pycache__", ".pytest_cache", "*.egg-info"))
    demo = project / "data/demo"
    shutil.copytree(tiny_bert, demo / "model")
    for split in ("train", "dev", "test"):
        (demo / f"{split}.tsv").write_text("text\tlabel\ngood fun\t1\nbad mess\t0\n")
    (demo / "corpus.csv").write_text("statement,reply\n" + "".join(
        f"what a {w} movie.,it was {w} and slow!\n" for w in ("great", "bad", "boring", "charming", "dull", "funny")))
    plan = make_plan(load_config(str(project / "configs/demo.yaml"), [f"base_dir={project}"]))
    shutil.copytree(tiny_tagger, plan.tagger)
    commit_model(plan.tagger, {"test": "tiny tagger"})
    return plan


@pytest.mark.slow
def test_readmes_submit_commands_run_as_written_and_write_to_the_users_store(ray_head, tmp_path_factory, tiny_bert,
                                                                              tiny_tagger):
    submit_taskpt, submit_ray = readme_submit_commands()
    assert submit_taskpt == "taskpt submit configs/demo.yaml --stage tag --follow"
    assert submit_ray.startswith("RAY_AUTH_MODE=token ray job submit --address http://127.0.0.1:8265 ")
    project = tmp_path_factory.mktemp("readme") / "project"
    plan = make_demo_project(project, tiny_bert, tiny_tagger)
    env = venv_env(RAY_API_SERVER_ADDRESS=ray_head)  # taskpt submit's address; README's is 127.0.0.1:8265

    def run(command: str) -> str:
        done = subprocess.run(command, shell=True, cwd=project, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout + done.stderr

    said = run(submit_taskpt)
    assert f"store: {project}/store/demo (from store/demo) (on this machine, where the job server runs)" in said
    job_id = said.split("submitted ", 1)[1].split()[0]
    assert f"[taskpt tag] wrote 12 sentences in 1 shard(s) to {plan.tagged}" in said and f"{job_id}: SUCCEEDED" in said
    manifest = read_manifest(plan.tagged)
    assert manifest.kind == PREMASKED and manifest.rows == 12 and read_manifest(plan.random_masks).rows == 12
    # Nothing was written into Ray's copy of the project.
    assert glob.glob("/tmp/ray/session_*/runtime_resources/working_dir_files/*/store") == []

    status = run(f"taskpt status {job_id}")
    assert f"{job_id}: SUCCEEDED  python -m jobs.tag configs/demo.yaml base_dir={project}" in status
    assert f"  [taskpt tag] wrote 12 sentences in 1 shard(s) to {plan.tagged}" in status
    assert "[taskpt tag] wrote" in run(f"taskpt logs {job_id}")
    assert f"{job_id}: not running" in run(f"taskpt stop {job_id}")  # it had finished

    shutil.rmtree(project / "store/demo/premasked")
    said = run(submit_ray.replace("http://127.0.0.1:8265", ray_head))
    assert f"[taskpt tag] taskpt {importlib.metadata.version('taskpt')} in Ray job raysubmit_" in said
    assert f"[taskpt tag] wrote 12 sentences in 1 shard(s) to {plan.tagged}" in said
    assert read_manifest(plan.tagged).rows == 12
    assert glob.glob("/tmp/ray/session_*/runtime_resources/working_dir_files/*/store") == []
