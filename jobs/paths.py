"""Where a Ray job reads and writes: the config's paths checked before `taskpt submit` uploads
anything, and again inside the job, so that no stage writes into Ray's temporary copy of the
project (a job's working_dir, deleted by Ray) or reads from it what was never uploaded."""
from __future__ import annotations

import dataclasses
import glob
import ipaddress
import json
import os
import urllib.parse

from jobs.config import PATH_KEYS, ConfigError, PipelineConfig, get_key, is_uri, join_path, names_hub_model

# Set by Ray's job supervisor in a job driver's environment: the job's runtime_env and metadata, as JSON.
RAY_JOB_CONFIG = "RAY_JOB_CONFIG_JSON_ENV_VAR"
REMEDY = "an absolute path on storage every node shares, a URI (s3://...), or base_dir=DIR"


def is_loopback(address: str) -> bool:
    """Whether a job server address (`http://127.0.0.1:8265`) names this machine's loopback."""
    host = urllib.parse.urlsplit(address if "://" in address else f"http://{address}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclasses.dataclass
class SubmitPaths:
    overrides: list[str]    # added to the job's command line: base_dir when relative paths were resolved here
    lines: list[str]        # what the check found, one line per path, for the user
    local: list[str]        # paths on this machine's disk, absolute (to keep out of the upload)


def check_submit_paths(cfg: PipelineConfig, head_here: bool, cwd: str) -> SubmitPaths:
    """Every path of `cfg` (loaded unresolved) as the job will see it. URIs pass. Relative paths
    are read from base_dir, or, when the job server runs on this machine (`head_here`), from
    `cwd`, passed on as base_dir; with a remote head and no absolute base_dir they are refused,
    naming the key. On this machine the inputs must exist; elsewhere absolute paths pass with a
    line saying they must be on a disk every node shares. A Hugging Face model id in `model` passes
    (the job finds it in its own Hugging Face cache). Raises ConfigError on the first problem."""
    base, overrides = cfg.base_dir, []
    if base is not None and not is_uri(base) and not os.path.isabs(os.path.expanduser(base)):
        if not head_here:
            raise ConfigError(f"config key 'base_dir': {base} is a relative path and the job server is not on this "
                              f"machine; give an absolute path on storage every node shares, or a URI (s3://...)")
        base = join_path(cwd, base)
        overrides.append(f"base_dir={base}")
    lines, local = [], []
    for key in PATH_KEYS:
        written = get_key(cfg, key)
        if written is None:
            continue
        if key == "model" and names_hub_model(written, base or cwd):
            lines.append(f"model: {written} (a Hugging Face model id: read from the Hugging Face cache where the "
                         "job runs, downloaded there once)")
            continue
        relative = not is_uri(written) and not os.path.isabs(os.path.expanduser(written))
        if relative and base is None:
            if not head_here:
                raise ConfigError(f"config key '{key}': {written} is a relative path and the job server is not on "
                                  f"this machine, so it would be read inside the job's uploaded copy of the project; "
                                  f"give {REMEDY}")
            base = cwd
            overrides.append(f"base_dir={cwd}")
        path = join_path(base, written) if relative else os.path.expanduser(written)
        if is_uri(path):
            lines.append(f"{key}: {path}")
            continue
        if head_here and key != "store" and not (os.path.exists(path) or glob.glob(path)):
            raise ConfigError(f"config key '{key}': {path} does not exist")
        where = "on this machine, where the job server runs" if head_here else "must be on a disk every node shares"
        lines.append(f"{key}: {path}" + (f" (from {written})" if relative else "") + f" ({where})")
        local.append(path)
    return SubmitPaths(overrides=overrides, lines=lines, local=local)


def ray_job(env: dict[str, str]) -> dict | None:
    """The job's config ({"runtime_env": ..., "metadata": ...}) when this process is the driver
    of a Ray job, else None."""
    raw = env.get(RAY_JOB_CONFIG)
    return json.loads(raw) if raw else None


def job_working_dir(job: dict, cwd: str) -> str | None:
    """The job's uploaded working directory, where Ray runs its entrypoint; None without one."""
    return os.path.realpath(cwd) if (job.get("runtime_env") or {}).get("working_dir") else None


def check_job_paths(cfg: PipelineConfig, working_dir: str) -> None:
    """Inside a job: the store must not resolve into the uploaded copy (Ray deletes it with the
    job's session: everything written there is lost), and an input resolved there must have
    been uploaded. Raises ConfigError naming the key."""
    for key in PATH_KEYS:
        path = get_key(cfg, key)
        if path is None or is_uri(path):
            continue
        real = os.path.realpath(path)
        if os.path.commonpath([real, working_dir]) != working_dir:
            continue
        if key == "store":
            raise ConfigError(f"config key 'store': {path} is inside this Ray job's uploaded working directory, "
                              f"which Ray deletes; nothing is written there. Give {REMEDY}")
        if not (os.path.exists(path) or glob.glob(path)):
            raise ConfigError(f"config key '{key}': {path} is inside this Ray job's uploaded working directory and "
                              f"was not uploaded (data/ and store/ never are); give {REMEDY}")
