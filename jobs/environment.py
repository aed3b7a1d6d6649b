"""What a Ray job needs of its Python environment: taskpt's version and its own requirements,
pinned as installed here (`taskpt submit --install` hands them to Ray's `pip` runtime_env)."""
from __future__ import annotations

import importlib.metadata
import os
import sys
import tomllib

from packaging.requirements import Requirement
from packaging.version import Version

PROJECT_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyproject.toml")
# The cluster's own Ray runs the job: a pip runtime_env cannot replace it (Ray swaps a `ray[...]`
# requirement for the libraries' dependencies), and it must be the version the head runs.
NOT_INSTALLED_BY_JOB = {"ray"}


def taskpt_version() -> str:
    """The version of the code this process runs: the pyproject.toml beside the package (a Ray
    job runs the uploaded project, which may be newer than a taskpt installed on the node)."""
    if os.path.isfile(PROJECT_FILE):
        with open(PROJECT_FILE, "rb") as f:
            return tomllib.load(f)["project"]["version"]
    return importlib.metadata.version("taskpt")


def pinned_requirements() -> list[str]:
    """taskpt's dependencies (pyproject.toml's, as installed with it), each pinned to the
    version installed here: `name[extras]==version`, without a local build label (`+cpu`),
    which PyPI does not serve. Test extras and Ray are left out."""
    try:
        declared = importlib.metadata.requires("taskpt") or []
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("taskpt is not installed in this environment (`make install`), so its requirements "
                           "cannot be pinned") from None
    pinned = []
    for text in declared:
        requirement = Requirement(text)
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        if requirement.name.lower() in NOT_INSTALLED_BY_JOB:
            continue
        version = Version(importlib.metadata.version(requirement.name)).public
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        pinned.append(f"{requirement.name}{extras}=={version}")
    return pinned


def ray_temp_root(env: dict[str, str]) -> str:
    """Where Ray keeps its session folders on this machine when started without --temp-dir."""
    base = env.get("RAY_TMPDIR") or (sys.platform.startswith("linux") and env.get("TMPDIR")) or "/tmp"
    return os.path.join(base, "ray")
