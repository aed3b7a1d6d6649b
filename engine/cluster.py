"""The GPUs a Ray cluster has and can scale to, and waiting for nodes that have them.

An autoscaling spot cluster normally has no GPU node until something asks for one. What its
autoscaler could add is read from the cluster config Ray keeps in its GCS (KubeRay and
autoscaler v2 report it there), else from the autoscaling config file the head's v1 monitor was
started with (`ray up`'s ~/ray_bootstrap_config.yaml; readable where the driver runs on the
head, as a Ray job's does).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time

import yaml


@dataclasses.dataclass(frozen=True)
class ClusterGpus:
    present: float      # GPUs of the alive nodes now
    offered: float      # GPUs the autoscaler could add at most (0: none, or it cannot be known)
    source: str         # where `offered` was read ("" where nothing was)

    @property
    def any(self) -> bool:
        return self.present > 0 or self.offered > 0


def offered_gpus(autoscaling_config: dict) -> float:
    """GPUs the worker node types of a cluster config can add: GPU x max_workers per type,
    within the cluster's max_workers."""
    head = autoscaling_config.get("head_node_type")
    per_node = sorted(((float((t.get("resources") or {}).get("GPU", 0)), int(t.get("max_workers", 0)))
                       for name, t in (autoscaling_config.get("available_node_types") or {}).items() if name != head),
                      reverse=True)
    nodes_left = int(autoscaling_config.get("max_workers", sum(n for _, n in per_node)))
    total = 0.0
    for gpus, count in per_node:  # the most GPUs per node first: the most the cluster could have
        take = min(count, nodes_left)
        total, nodes_left = total + gpus * take, nodes_left - take
    return total


def monitor_config_path(status_json: bytes | None, proc_root: str = "/proc") -> str | None:
    """The --autoscaling-config file of the v1 monitor whose status (Ray's internal KV key
    `__autoscaling_status`) is `status_json`, where its process is on this machine."""
    if not status_json:
        return None
    pid = json.loads(status_json).get("monitor_pid")
    try:
        with open(f"{proc_root}/{pid}/cmdline", "rb") as f:
            args = f.read().decode().split("\0")
    except OSError:
        return None
    for i, arg in enumerate(args):
        if arg.startswith("--autoscaling-config="):
            return arg.split("=", 1)[1]
        if arg == "--autoscaling-config" and i + 1 < len(args):
            return args[i + 1]
    return None


def cluster_gpus() -> ClusterGpus:
    """The connected cluster's GPUs now, and those its autoscaler could add."""
    import ray
    from ray._private.state import state
    from ray.experimental.internal_kv import _internal_kv_get

    present = float(ray.cluster_resources().get("GPU", 0))
    reported = state.get_max_resources_from_cluster_config() or {}
    if reported.get("GPU"):
        return ClusterGpus(present, float(reported["GPU"]), "the cluster config in Ray's GCS")
    path = monitor_config_path(_internal_kv_get("__autoscaling_status"))
    if path and os.path.isfile(os.path.expanduser(path)):  # the head's own file: a local path
        with open(os.path.expanduser(path)) as f:
            return ClusterGpus(present, offered_gpus(yaml.safe_load(f) or {}), path)
    return ClusterGpus(present, 0.0, "")


class NodesUnavailable(RuntimeError):
    """The nodes a stage asked for did not come within its wait."""


def wait_for_resources(bundle: dict[str, float], count: int, timeout_s: float, report, what: str,
                       timeout_key: str, report_every_s: float = 10.0, clock=time.monotonic) -> float:
    """Hold a placement group of `count` bundles until the cluster has room for all of them (its
    demand is what makes an autoscaler add nodes), then release it; the seconds waited. Says
    through `report` what it asked for and how long it has waited, every `report_every_s`;
    NodesUnavailable after `timeout_s`, naming `timeout_key`."""
    from ray.util.placement_group import placement_group, remove_placement_group

    asked = f"{count} x {json.dumps(bundle, sort_keys=True)} ({what})"
    group = placement_group([dict(bundle)] * count, strategy="SPREAD")
    start = clock()
    try:
        while True:
            waited = clock() - start
            if group.wait(timeout_seconds=max(0.0, min(report_every_s, timeout_s - waited))):
                return clock() - start
            waited = clock() - start
            if waited >= timeout_s:
                raise NodesUnavailable(f"asked the cluster for {asked} and waited {waited:.0f} s: no node with "
                                       f"room for them came; raise {timeout_key} or check the autoscaler "
                                       "(`ray status`)")
            report(f"waiting for nodes: asked for {asked}; waited {waited:.0f} s of {timeout_s:.0f} ({timeout_key})")
    finally:
        remove_placement_group(group)
