"""A multi-node Ray cluster on this machine, in a process of its own, on which the preemption
tests lose a worker node in the middle of a stage, as a spot node taken back would be.

    python tests/node_loss.py

starts the cluster (`ray.cluster_utils.Cluster`: a head that takes no tasks, two worker nodes
with 2 CPUs each) and reads scenarios from stdin, one a line:

    tag CONFIG.yaml OUT_DIR RESULT.json     a tagging job writing shards
    train SPEC.json OUT_DIR RESULT.json     a training run checkpointing

Each runs with two worker nodes (a node is added back after the last one's removal), and what
happened is written to RESULT.json when it ends. The `node_loss` fixture (tests/conftest.py)
runs this once for the session: one cluster start for every scenario.
"""
import contextlib
import json
import os
import pathlib
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter

import ray
from ray.cluster_utils import Cluster
from ray.util.state import list_actors

from trainer.local_ray import LOCAL_RUNTIME_ENV


@contextlib.contextmanager
def local_cluster():
    """(cluster, worker nodes); shut down on the way out, or its processes outlive this one."""
    # The head checks the nodes every 0.5 s and calls one dead after 3 failed checks (Ray's
    # defaults, 3 s and 5, add ~13 s before the lost node's actors are declared dead).
    health_checks = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}
    head = {"num_cpus": 0, "include_dashboard": True, "dashboard_host": "127.0.0.1", "_system_config": health_checks}
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        # Its workers ask Ray's state API about this cluster, not the test session's Ray beside it.
        hook = "worker_process_setup_hook"
        ray.init(address=cluster.address, runtime_env={hook: LOCAL_RUNTIME_ENV[hook]})
        workers = [cluster.add_node(num_cpus=2) for _ in range(2)]
        cluster.wait_for_nodes()
        yield cluster, workers
    finally:
        ray.shutdown()
        cluster.shutdown()


def wait_for(condition, alive, what: str, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if not alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the stage ended or stalled before {what}")
        time.sleep(0.01)


def remove_busiest_node(cluster, workers, class_part: str) -> dict:
    """Remove the worker node running the most alive actors whose class name has `class_part`."""
    alive = list_actors(address=cluster.address, filters=[("state", "=", "ALIVE")])  # this cluster's, not another's
    actors = [a for a in alive if class_part in a.class_name]
    busiest, count = Counter(a.node_id for a in actors).most_common(1)[0]
    node = next(w for w in workers if w.node_id == busiest)
    cluster.remove_node(node, allow_graceful=False)
    workers.remove(node)
    return {"actors_on_removed_node": count}


def tag(cluster, workers, config: str, out_dir: str) -> dict:
    out = pathlib.Path(out_dir)
    job = subprocess.Popen([sys.executable, "-m", "jobs.tag", config, f"compute.address={cluster.address}"])
    try:
        wait_for(lambda: len(list(out.glob("*.parquet"))) >= 2, lambda: job.poll() is None, "two shards were written")
        result = {"shards_before_removal": len(list(out.glob("*.parquet"))),
                  "complete_before_removal": (out / "manifest.json").exists(),
                  **remove_busiest_node(cluster, workers, "MapWorker")}
        result["exit_code"] = job.wait(timeout=300)
    finally:
        job.kill()
    return result


def start_training(spec_file: str, out_dir: str, name: str):
    """The training run SPEC.json describes, fitting in a thread: (thread, outcome, the run's Ray
    Train storage folder). `outcome` gets `metrics`, or `error` with the traceback."""
    import ray.data

    from trainer.objectives import SequenceClassification
    from trainer.params import TrainParams
    from trainer.run import fit

    spec = json.loads(pathlib.Path(spec_file).read_text())
    objective = SequenceClassification(**spec["objective"])
    outcome = {}

    def run():
        try:
            outcome["metrics"] = fit(objective, TrainParams(**spec["params"]), spec["model"],
                                     ray.data.from_items(spec["train"]), ray.data.from_items(spec["dev"]), out_dir,
                                     name, "", {"test": True})
        except Exception as e:  # reported in the result, not lost in a thread
            outcome["error"] = "".join(traceback.format_exception(e))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome, pathlib.Path(out_dir, "_ray_train")


def has_checkpoint(storage: pathlib.Path) -> bool:
    return any(storage.glob("*/checkpoint_manager_snapshot.json"))


def train(cluster, workers, spec_file: str, out_dir: str) -> dict:
    thread, outcome, storage = start_training(spec_file, out_dir, "node-loss")
    wait_for(lambda: has_checkpoint(storage), thread.is_alive, "a checkpoint")
    result = remove_busiest_node(cluster, workers, "RayTrainWorker")
    thread.join(timeout=400)
    return {**result, **outcome}


def write_result(result_path: str, result: dict) -> None:
    """Written whole, then renamed: the test reads it as soon as the name exists."""
    partial = pathlib.Path(result_path + ".partial")
    partial.write_text(json.dumps(result))
    os.replace(partial, result_path)


def serve(lines) -> None:
    with local_cluster() as (cluster, workers):
        for line in lines:
            mode, source, out_dir, result_path = line.split()
            while len(workers) < 2:  # the node a previous scenario removed, back
                workers.append(cluster.add_node(num_cpus=2))
                cluster.wait_for_nodes()
            try:
                result = {"tag": tag, "train": train}[mode](cluster, workers, source, out_dir)
                result["nodes_alive_after"] = sum(1 for n in ray.nodes() if n["Alive"])
            except Exception as e:
                result = {"error": "".join(traceback.format_exception(e))}
            write_result(result_path, result)


if __name__ == "__main__":
    serve(sys.stdin)
