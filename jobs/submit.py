"""`taskpt submit | logs | status | stop`: a stage as a Ray job on a cluster, through Ray's
JobSubmissionClient (the dashboard's job server, port 8265 of the head node).

    taskpt submit CONFIG.yaml [--stage run] [--address URL] [--working-dir .] [--follow] [key=value ...]
    taskpt logs ID [--follow]      taskpt status ID      taskpt stop ID

The project directory is uploaded as the job's working_dir (without .git, .venv, data, store),
and the job runs `python -m jobs.<stage> CONFIG.yaml ...` there, exactly what
`ray job submit --working-dir . -- python -m jobs.<stage> CONFIG.yaml` runs. Input files and
the store must be reachable from the cluster's nodes: object storage (s3://...) or a shared disk.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import time

from jobs.config import ConfigError, load_config

STAGES = {"run": "jobs.run", "finetune": "jobs.finetune", "score": "jobs.score", "train-tagger": "jobs.train_tagger",
          "tag": "jobs.tag", "pretrain": "jobs.pretrain", "evaluate": "jobs.evaluate"}
# Never uploaded: the local environment, demo data and local stores, build and test leftovers.
EXCLUDES = [".git", ".venv", ".whl", "data", "store", "**/__pycache__", ".pytest_cache", "*.egg-info"]
DEFAULT_ADDRESS = "http://127.0.0.1:8265"  # the head's job server through an SSH tunnel or `ray dashboard`


def job_request(config: str, stage: str, overrides: list[str], working_dir: str) -> dict:
    """The submit_job arguments; the config is checked here first, so a bad key fails before upload."""
    load_config(config, overrides)
    root = os.path.abspath(working_dir)
    path = os.path.abspath(config)
    if os.path.commonpath([root, path]) != root:
        raise ConfigError(f"{config}: the config must be inside the working directory {root} (it is uploaded with it)")
    entrypoint = shlex.join(["python", "-m", STAGES[stage], os.path.relpath(path, root), *overrides])
    return {"entrypoint": entrypoint, "runtime_env": {"working_dir": root, "excludes": EXCLUDES},
            "metadata": {"taskpt_stage": stage}}


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


def client(address: str | None):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address or os.environ.get("RAY_API_SERVER_ADDRESS") or DEFAULT_ADDRESS,
                               headers=auth_headers(dict(os.environ)))


def submit(jobs, request: dict, wait_s: float = 60.0) -> str:
    """submit_job, waiting while a head that has just started has no job agent ready yet."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return jobs.submit_job(**request)
        except RuntimeError as e:
            if "No available agent" not in str(e) or time.monotonic() > deadline:
                raise
            print("the head's job agent is not ready yet; retrying", file=sys.stderr, flush=True)
            time.sleep(2)


def follow(jobs, job_id: str) -> str:
    """Print the job's logs as they come until it ends; returns its final status."""
    async def tail():
        async for lines in jobs.tail_job_logs(job_id):
            print(lines, end="", flush=True)

    asyncio.run(tail())
    return str(jobs.get_job_status(job_id))


def main(argv: list[str] | None = None, command: str = "submit") -> int:
    parser = argparse.ArgumentParser(prog=f"taskpt {command}", description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", help=f"the cluster's job server (default: $RAY_API_SERVER_ADDRESS or {DEFAULT_ADDRESS})")
    if command == "submit":
        parser.add_argument("config", help="pipeline config (YAML), inside the working directory")
        parser.add_argument("overrides", nargs="*", help="key.sub=value, applied over the file")
        parser.add_argument("--stage", default="run", choices=list(STAGES), help="what to run (default: all stages)")
        parser.add_argument("--working-dir", default=".", help="the project directory to upload (default: .)")
        parser.add_argument("--follow", action="store_true", help="print the job's logs until it ends")
    else:
        parser.add_argument("id", help="the submission id `taskpt submit` printed")
        if command == "logs":
            parser.add_argument("--follow", action="store_true", help="keep printing until the job ends")
    args = parser.parse_args(argv)
    try:
        request = job_request(args.config, args.stage, args.overrides, args.working_dir) if command == "submit" else None
        jobs = client(args.address)
        if request:
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
            return 0
        stopped = jobs.stop_job(args.id)
        print(f"{args.id}: {'stop requested' if stopped else 'not running'}")
        return 0
    except ConfigError as e:
        print(f"taskpt {command}: error: {e}", file=sys.stderr)
        return 2
    except (ConnectionError, RuntimeError, ValueError) as e:  # what the client raises for an unreachable server or unknown id
        print(f"taskpt {command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
