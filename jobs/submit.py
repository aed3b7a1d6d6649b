"""`taskpt submit | logs | status | stop`: a stage as a Ray job on a cluster, through Ray's
JobSubmissionClient (the dashboard's job server, port 8265 of the head node).

    taskpt submit CONFIG.yaml [--stage run] [--address URL] [--working-dir .] [--install] [--follow] [key=value ...]
    taskpt logs ID [--follow]      taskpt status ID      taskpt stop ID

The project directory is uploaded as the job's working_dir (without .git, .venv, data, store,
nor any input or store path inside it), and the job runs `python -m jobs.<stage> CONFIG.yaml
...` there, what `ray job submit --working-dir . -- python -m jobs.<stage> CONFIG.yaml` runs.
Before anything is uploaded every path of the config is checked (jobs.paths): inputs and the
store must be reachable from the cluster's nodes (object storage, or a disk every node shares);
relative paths are resolved here only when the job server runs on this machine.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shlex
import sys
import time
import urllib.request

from jobs.config import ConfigError, load_config
from jobs.environment import pinned_requirements, ray_temp_root
from jobs.paths import check_submit_paths, is_loopback

STAGES = {"run": "jobs.run", "finetune": "jobs.finetune", "score": "jobs.score", "train-tagger": "jobs.train_tagger",
          "tag": "jobs.tag", "pretrain": "jobs.pretrain", "evaluate": "jobs.evaluate"}
# Never uploaded: the local environment, demo data and local stores, build and test leftovers.
EXCLUDES = [".git", ".venv", ".whl", "data", "store", "**/__pycache__", ".pytest_cache", "*.egg-info"]
DEFAULT_ADDRESS = "http://127.0.0.1:8265"  # the head's job server through an SSH tunnel or `ray dashboard`


def job_request(config: str, stage: str, overrides: list[str], working_dir: str, *, head_here: bool,
                install: bool = False, cwd: str | None = None) -> tuple[dict, list[str]]:
    """The submit_job arguments and a line per path the job reads or writes. The config and its
    paths are checked here first (jobs.paths.check_submit_paths), so a bad key or path fails
    before upload. `head_here`: the job server runs on this machine; `install`: the job's
    runtime_env installs taskpt's requirements, pinned as installed here."""
    cfg = load_config(config, overrides, resolve=False)
    root = os.path.abspath(working_dir)
    path = os.path.abspath(config)
    if os.path.commonpath([root, path]) != root:
        raise ConfigError(f"{config}: the config must be inside the working directory {root} (it is uploaded with it)")
    paths = check_submit_paths(cfg, head_here, cwd or os.getcwd())
    entrypoint = shlex.join(["python", "-m", STAGES[stage], os.path.relpath(path, root), *overrides, *paths.overrides])
    runtime_env = {"working_dir": root, "excludes": EXCLUDES + upload_excludes(paths.local, root, path)}
    if install:
        runtime_env["pip"] = {"packages": pinned_requirements(), "pip_check": False}
    return {"entrypoint": entrypoint, "runtime_env": runtime_env, "metadata": {"taskpt_stage": stage}}, paths.lines


def upload_excludes(local_paths: list[str], root: str, config: str) -> list[str]:
    """The config's data and store paths that lie inside the uploaded directory, as patterns
    anchored at its root: the job reads them where they are, and a corpus or store can be far
    larger than the project."""
    patterns = []
    for path in local_paths:
        relative = os.path.relpath(os.path.realpath(path), os.path.realpath(root))
        if relative == "." or relative.startswith(".."):
            continue
        if os.path.commonpath([os.path.realpath(config), os.path.realpath(path)]) == os.path.realpath(path):
            continue  # never the config itself
        patterns.append("/" + relative)
    return patterns


def head_is_here(address: str, headers: dict[str, str], env: dict[str, str]) -> bool:
    """Whether the job server at `address` runs on this machine: a loopback address, and the
    session it serves has its folder in this machine's Ray temp dir. Loopback alone is not
    enough: `ray dashboard cluster.yaml` is an SSH tunnel from 127.0.0.1 to a remote head."""
    if not is_loopback(address):
        return False
    request = urllib.request.Request(f"{address.rstrip('/')}/api/version", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            session = json.load(response).get("session_name") or ""
    except OSError as e:
        raise ConnectionError(f"the job server at {address} does not answer ({e})") from None
    return bool(session) and os.path.isdir(os.path.join(ray_temp_root(env), session))


def auth_headers(env: dict[str, str]) -> dict[str, str]:
    """The cluster's token as an HTTP header, found where Ray looks for it (RAY_AUTH_TOKEN, the
    file at RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token). Passed explicitly, so the job server's
    token authentication stays on without setting RAY_AUTH_MODE in this process."""
    token = env.get("RAY_AUTH_TOKEN", "").strip()
    path = env.get("RAY_AUTH_TOKEN_PATH") or os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
    if not token and os.path.isfile(path):
        with open(path) as f:
            token = f.read().strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def server_address(address: str | None, env: dict[str, str]) -> str:
    """The job server's URL: --address, else $RAY_API_SERVER_ADDRESS, else DEFAULT_ADDRESS."""
    address = address or env.get("RAY_API_SERVER_ADDRESS") or DEFAULT_ADDRESS
    return address if "://" in address else f"http://{address}"


def client(address: str):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address, headers=auth_headers(dict(os.environ)))


def submit(jobs, request: dict, wait_s: float = 60.0) -> str:
    """submit_job, waiting while a head that has just started has no job agent ready yet, or
    closes the connection without an answer (a busy head). The submission id is chosen here,
    so a retry after a request the head took but did not answer makes no second job."""
    import requests

    request = {**request, "submission_id": request.get("submission_id") or f"raysubmit_{secrets.token_hex(8)}"}
    deadline, tried = time.monotonic() + wait_s, False
    while True:
        try:
            return jobs.submit_job(**request)
        except RuntimeError as e:
            if tried and "already exists" in str(e):
                return request["submission_id"]  # the head took the request the connection dropped
            if "No available agent" not in str(e) or time.monotonic() > deadline:
                raise
            print("the head's job agent is not ready yet; retrying", file=sys.stderr, flush=True)
        except requests.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            print("the job server closed the connection without an answer; retrying", file=sys.stderr, flush=True)
        tried = True
        time.sleep(2)


def follow(jobs, job_id: str) -> str:
    """Print the job's logs as they come until it ends; returns its final status."""
    async def tail():
        async for lines in jobs.tail_job_logs(job_id):
            print(lines, end="", flush=True)

    asyncio.run(tail())
    return str(jobs.get_job_status(job_id))


# What a stage prints of its outputs: `[taskpt tag] wrote ...`, cache hits, `taskpt run`'s
# summary line with the indented table after it, and the error line of a stage that failed.
RESULT_LINE = re.compile(r"^(\[taskpt [\w-]+\] (.*\bwrote\b|.*\bcache hit\b|done in )|taskpt [\w-]+: error: )")


def result_lines(logs: str) -> list[str]:
    """The lines of a job's log that say what was written where (or why it failed)."""
    found, in_table = [], False
    for line in logs.splitlines():
        if in_table and line.startswith("  "):
            found.append(line)
            continue
        in_table = False
        if RESULT_LINE.match(line):
            found.append(line)
            in_table = "Written (or reused) under" in line
    return found


def main(argv: list[str] | None = None, command: str = "submit") -> int:
    parser = argparse.ArgumentParser(prog=f"taskpt {command}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", help=f"the cluster's job server (default: $RAY_API_SERVER_ADDRESS or {DEFAULT_ADDRESS})")
    if command == "submit":
        parser.add_argument("config", help="pipeline config (YAML), inside the working directory")
        parser.add_argument("overrides", nargs="*", help="key.sub=value, applied over the file")
        parser.add_argument("--stage", default="run", choices=list(STAGES), help="what to run (default: all stages)")
        parser.add_argument("--working-dir", default=".", help="the project directory to upload (default: .)")
        parser.add_argument("--install", action="store_true",
                            help="install taskpt's requirements (pinned as installed here) in the job's environment, "
                                 "for a cluster whose image lacks them")
        parser.add_argument("--follow", action="store_true", help="print the job's logs until it ends")
    else:
        parser.add_argument("id", help="the submission id `taskpt submit` printed")
        if command == "logs":
            parser.add_argument("--follow", action="store_true", help="keep printing until the job ends")
    args = parser.parse_intermixed_args(argv)  # overrides may follow options
    env = dict(os.environ)
    address = server_address(args.address, env)
    try:
        if command == "submit":
            load_config(args.config, args.overrides, resolve=False)  # a bad key fails before any request
            # Paths are checked before the client connects: a refused path never reaches the server.
            here = head_is_here(address, auth_headers(env), env)
            request, lines = job_request(args.config, args.stage, args.overrides, args.working_dir, head_here=here,
                                         install=args.install)
            print("\n".join(["the job reads and writes:", *(f"  {line}" for line in lines)]), flush=True)
            if args.install:
                packages = request["runtime_env"]["pip"]["packages"]
                print(f"the job's environment installs, on its first start on each node: {' '.join(packages)}",
                      flush=True)
        jobs = client(address)
        if command == "submit":
            job_id = submit(jobs, request)
            print(f"submitted {job_id} to {jobs.get_address()}\n"
                  f"  taskpt logs {job_id} --follow | taskpt status {job_id} | taskpt stop {job_id}", flush=True)
            if not args.follow:
                return 0
            status = follow(jobs, job_id)
            print(f"{job_id}: {status}")
            return 0 if status == "SUCCEEDED" else 1
        if command == "logs":
            if args.follow:
                follow(jobs, args.id)
            else:
                print(jobs.get_job_logs(args.id), end="")
            return 0
        if command == "status":
            info = jobs.get_job_info(args.id)
            print(f"{args.id}: {info.status}  {info.entrypoint}" + (f"\n  {info.message}" if info.message else ""))
            if info.status.is_terminal():
                for line in result_lines(jobs.get_job_logs(args.id)):
                    print(f"  {line}")
            return 0
        stopped = jobs.stop_job(args.id)
        print(f"{args.id}: {'stop requested' if stopped else 'not running'}")
        return 0
    except ConfigError as e:
        print(f"taskpt {command}: error: {e}", file=sys.stderr)
        return 2
    except (ConnectionError, RuntimeError, ValueError, OSError) as e:  # an unreachable server, an unknown id
        print(f"taskpt {command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
