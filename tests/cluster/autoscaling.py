"""A Ray cluster on this machine managed by Ray's own autoscaler (the v1 monitor with the fake
multi-node provider, spot_provider.SpotProvider): a CPU head, and `gpu_spot` worker nodes
({"CPU": 1, "GPU": 1}: the GPU is a logical resource, the actors on it run on the CPU) that the
autoscaler launches on demand, from none, and removes when idle.

`autoscaling_cluster(workdir)` starts it and yields an AutoscalingCluster; its processes all
end on the way out (never `ray stop`, which would end every Ray on the machine).

    RAY_FAKE_CLUSTER=1 AUTOSCALER_UPDATE_INTERVAL_S=1 PYTHONPATH=tests/cluster:tests:. python tests/cluster/autoscaling.py WORKDIR

starts one and reads scenarios from stdin, one a line, each writing what happened to RESULT.json:

    tag CONFIG OUT_DIR RESULT.json [preempt]   `taskpt tag` (jobs.tag) run against the cluster;
                                               with preempt, the GPU node is taken back once the
                                               stage has written a shard
    submit PROJECT RESULT.json                 `taskpt submit configs/demo.yaml --stage tag` to its job server
    train SPEC.json OUT_DIR RESULT.json        a GPU training run whose node is taken back after
                                               its first checkpoint

After a tag or submit scenario it waits (up to 2 minutes) for the autoscaler to remove the idle
GPU nodes (back_to_zero_s in the result). The
`autoscaling` fixture (tests/conftest.py) runs this once for the test session.
"""
import contextlib
import dataclasses
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

import yaml
from node_loss import has_checkpoint, start_training, wait_for, write_result

GPU_NODE_TYPE = "gpu_spot"
# Every top-level key of a cluster config: the v1 autoscaler reads the file as it is.
EMPTY_KEYS = {"auth": {}, "docker": {}, "file_mounts": {}, "cluster_synced_files": [],
              "file_mounts_sync_continuously": False, "rsync_exclude": [], "rsync_filter": [],
              "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
              "worker_setup_commands": [], "head_start_ray_commands": [], "worker_start_ray_commands": []}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def autoscaling_config(gcs_address: str, preempt_dir: str, head_cpus: int, max_workers: int,
                       idle_timeout_minutes: float) -> dict:
    from ray.autoscaler._private.fake_multi_node.node_provider import FAKE_HEAD_NODE_TYPE

    return {"cluster_name": "taskpt-test", "max_workers": max_workers, "upscaling_speed": 1.0,
            "idle_timeout_minutes": idle_timeout_minutes, "head_node_type": FAKE_HEAD_NODE_TYPE,
            "provider": {"type": "external", "module": "spot_provider.SpotProvider", "use_node_id_as_ip": True,
                         "disable_node_updaters": True, "disable_launch_config_check": True,
                         "gcs_address": gcs_address, "preempt_dir": preempt_dir},
            "available_node_types": {
                FAKE_HEAD_NODE_TYPE: {"resources": {"CPU": head_cpus}, "node_config": {}, "max_workers": 0},
                GPU_NODE_TYPE: {"resources": {"CPU": 1, "GPU": 1, "object_store_memory": 150 * 2**20},
                                "node_config": {}, "min_workers": 0, "max_workers": max_workers}},
            **EMPTY_KEYS}


@dataclasses.dataclass
class AutoscalingCluster:
    address: str
    job_server: str
    preempt_dir: pathlib.Path
    monitor_log: pathlib.Path

    def gpu_nodes(self) -> list[str]:
        """Node ids of the alive GPU worker nodes."""
        import ray

        return [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("GPU", 0) > 0]

    def preempt(self, node_id: str) -> None:
        """Take the node back, as a cloud takes back a spot instance (spot_provider)."""
        (self.preempt_dir / f"{node_id}.preempt").touch()

    def launched(self) -> int:
        """GPU nodes the autoscaler has launched so far, read from its log."""
        return self.monitor_log.read_text().count(f"Adding 1 node(s) of type {GPU_NODE_TYPE}") \
            if self.monitor_log.exists() else 0


def descendants(pid: int) -> list[int]:
    children = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return children + [d for c in children for d in descendants(c)]


@contextlib.contextmanager
def autoscaling_cluster(workdir, head_cpus: int = 1, max_workers: int = 2, idle_timeout_minutes: float = 0.1):
    """The cluster; this process must have RAY_FAKE_CLUSTER=1, AUTOSCALER_UPDATE_INTERVAL_S and
    this directory on PYTHONPATH in its environment (the monitor inherits them)."""
    import ray
    from ray.autoscaler._private.fake_multi_node.node_provider import FAKE_HEAD_NODE_ID
    from ray.cluster_utils import Cluster

    workdir = pathlib.Path(workdir)
    preempt_dir = workdir / "preempt"
    preempt_dir.mkdir(parents=True, exist_ok=True)
    port, dashboard = free_port(), free_port()
    config = workdir / "autoscaling.yaml"
    config.write_text(yaml.safe_dump(autoscaling_config(f"127.0.0.1:{port}", str(preempt_dir), head_cpus,
                                                        max_workers, idle_timeout_minutes)))
    health_checks = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}
    cluster = Cluster(initialize_head=True, head_node_args={
        "gcs_server_port": port, "num_cpus": head_cpus, "num_gpus": 0, "object_store_memory": 200 * 2**20,
        "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": dashboard,
        # Its own agent ports: the test session's other Ray already holds the defaults, and a
        # head agent that cannot bind its HTTP port leaves the job server with no agent.
        "dashboard_agent_listen_port": free_port(), "metrics_agent_port": free_port(),
        "metrics_export_port": free_port(), "runtime_env_agent_port": free_port(),
        "autoscaling_config": str(config),
        "env_vars": {"RAY_OVERRIDE_NODE_ID_FOR_TESTING": FAKE_HEAD_NODE_ID}, "_system_config": health_checks})
    head = cluster.head_node
    monitor_log = pathlib.Path(head.get_logs_dir_path()) / "monitor.log"
    try:
        yield AutoscalingCluster(cluster.address, f"http://127.0.0.1:{dashboard}", preempt_dir, monitor_log)
    finally:
        ray.shutdown()
        monitors = [p.process.pid for p in head.all_processes.get("monitor", [])]
        nodes = [d for pid in monitors for d in descendants(pid)]
        cluster.shutdown()
        for pid in nodes:  # the fake worker nodes' raylets, started by the monitor
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class NodeWatch:
    """The most GPU nodes alive at once while it runs (polled every 0.2 s)."""

    def __init__(self, cluster: AutoscalingCluster):
        self.cluster, self.most, self.done = cluster, 0, threading.Event()
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def poll(self) -> None:
        while not self.done.wait(0.2):
            self.most = max(self.most, len(self.cluster.gpu_nodes()))

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.most


def back_to_zero(cluster: AutoscalingCluster, timeout_s: float = 120) -> float | None:
    """Seconds until no GPU node is left; None if some still are after `timeout_s`."""
    start = time.monotonic()
    while cluster.gpu_nodes():
        if time.monotonic() - start > timeout_s:
            return None
        time.sleep(0.5)
    return time.monotonic() - start


def take_back_a_gpu_node(cluster: AutoscalingCluster) -> dict:
    """A GPU node taken back (the one with the most alive actors), as a cloud takes back a spot instance."""
    from collections import Counter

    from ray.util.state import list_actors

    nodes = cluster.gpu_nodes()
    alive = list_actors(address=cluster.address, filters=[("state", "=", "ALIVE")])
    on_gpu = Counter(a.node_id for a in alive if a.node_id in nodes)
    node = on_gpu.most_common(1)[0][0] if on_gpu else nodes[0]
    cluster.preempt(node)
    deadline = time.monotonic() + 60
    while node in cluster.gpu_nodes() and time.monotonic() < deadline:
        time.sleep(0.1)
    return {"preempted_node": node, "actors_on_preempted_node": on_gpu.get(node, 0),
            "preempted_node_gone": node not in cluster.gpu_nodes()}


def tag(cluster: AutoscalingCluster, config: str, out_dir: str, *options) -> dict:
    out, log = pathlib.Path(out_dir), pathlib.Path(out_dir + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    result = {"gpu_nodes_before": len(cluster.gpu_nodes())}
    before, watch = cluster.launched(), NodeWatch(cluster)
    with open(log, "w") as sink:
        job = subprocess.Popen([sys.executable, "-m", "jobs.tag", config, f"compute.address={cluster.address}"],
                               stdout=sink, stderr=subprocess.STDOUT)
    try:
        if "preempt" in options:
            wait_for(lambda: any(out.glob("*.parquet")), lambda: job.poll() is None, "a shard was written")
            result |= {"shards_before_preemption": len(list(out.glob("*.parquet"))),
                       "complete_before_preemption": (out / "manifest.json").exists(), **take_back_a_gpu_node(cluster)}
        result["exit_code"] = job.wait(timeout=300)
    finally:
        job.kill()
        most = watch.stop()
    result |= {"most_gpu_nodes": most, "launched": cluster.launched() - before,
               "log": log.read_text(errors="replace")}
    return result


def submit(cluster: AutoscalingCluster, project: str) -> dict:
    before, watch = cluster.launched(), NodeWatch(cluster)
    env = dict(os.environ, RAY_API_SERVER_ADDRESS=cluster.job_server,
               PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for key in ("RAY_FAKE_CLUSTER", "PYTHONPATH", "RAY_ADDRESS"):  # the job's own environment is the cluster's
        env.pop(key, None)
    done = subprocess.run(["taskpt", "submit", "configs/demo.yaml", "--stage", "tag", "--follow"], cwd=project,
                          env=env, capture_output=True, text=True, timeout=300)
    return {"exit_code": done.returncode, "log": done.stdout + done.stderr, "most_gpu_nodes": watch.stop(),
            "launched": cluster.launched() - before}


def train(cluster: AutoscalingCluster, spec_file: str, out_dir: str) -> dict:
    before, watch = cluster.launched(), NodeWatch(cluster)
    thread, outcome, storage = start_training(spec_file, out_dir, "autoscaled")
    try:
        wait_for(lambda: has_checkpoint(storage), thread.is_alive, "a checkpoint")
        result = take_back_a_gpu_node(cluster)
    except RuntimeError as e:
        thread.join(timeout=60)
        raise RuntimeError(f"{e}; the run: {outcome.get('error', 'no error')}") from None
    finally:
        thread.join(timeout=400)
        most = watch.stop()
    return {**result, **outcome, "most_gpu_nodes": most, "launched": cluster.launched() - before}


def serve(workdir: str, lines) -> None:
    import ray

    with autoscaling_cluster(workdir) as cluster:
        # The state API and ray.nodes() ask this cluster (the driver's own connection).
        ray.init(address=cluster.address, log_to_driver=False)
        for line in lines:
            words = line.split()
            options = [w for w in words if w == "preempt"]
            mode, *args, result_path = [w for w in words if w not in options]
            try:
                result = {"tag": tag, "submit": submit, "train": train}[mode](cluster, *args, *options)
                if mode != "train":  # after a stage; a training run's nodes are left to the next scenario
                    result["back_to_zero_s"] = back_to_zero(cluster)
            except Exception as e:
                result = {"error": "".join(traceback.format_exception(e))}
            write_result(result_path, result)


if __name__ == "__main__":
    serve(sys.argv[1], sys.stdin)
