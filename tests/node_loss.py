"""Run by the preemption tests in a process of its own: a multi-node Ray cluster on this machine
(`ray.cluster_utils.Cluster`: a head that takes no tasks, two worker nodes with 2 CPUs each),
a stage run against it, and the worker node that hosts the stage's actors removed while it
works, as a spot node taken back would be. Writes what happened to RESULT.json.

    python tests/node_loss.py tag CONFIG.yaml OUT_DIR RESULT.json     a tagging job writing shards
    python tests/node_loss.py train SPEC.json OUT_DIR RESULT.json     a training run checkpointing
"""
import contextlib
import json
import pathlib
import subprocess
import sys
import threading
import time
from collections import Counter

import ray
from ray.cluster_utils import Cluster
from ray.util.state import list_actors


@contextlib.contextmanager
def local_cluster():
    """(cluster, worker nodes); shut down on the way out, or its processes outlive this one."""
    cluster = Cluster(initialize_head=True, connect=True,
                      head_node_args={"num_cpus": 0, "include_dashboard": True, "dashboard_host": "127.0.0.1"})
    try:
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
            raise SystemExit(f"the stage ended or stalled before {what}")
        time.sleep(0.01)


def remove_busiest_node(cluster, workers, class_part: str) -> dict:
    """Remove the worker node running the most alive actors whose class name has `class_part`."""
    actors = [a for a in list_actors(filters=[("state", "=", "ALIVE")]) if class_part in a.class_name]
    busiest, count = Counter(a.node_id for a in actors).most_common(1)[0]
    cluster.remove_node(next(w for w in workers if w.node_id == busiest), allow_graceful=False)
    return {"actors_on_removed_node": count}


def tag(config: str, out_dir: str) -> dict:
    out = pathlib.Path(out_dir)
    with local_cluster() as (cluster, workers):
        job = subprocess.Popen([sys.executable, "-m", "jobs.tag", config, f"compute.address={cluster.address}"])
        try:
            wait_for(lambda: len(list(out.glob("*.parquet"))) >= 2, lambda: job.poll() is None, "two shards were written")
            result = {"shards_before_removal": len(list(out.glob("*.parquet"))),
                      "complete_before_removal": (out / "manifest.json").exists(),
                      **remove_busiest_node(cluster, workers, "MapWorker")}
            result["exit_code"] = job.wait(timeout=300)
        finally:
            job.kill()
        result["nodes_alive_after"] = sum(1 for n in ray.nodes() if n["Alive"])
        return result


def train(spec_file: str, out_dir: str) -> dict:
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
                                     "node-loss", "", {"test": True})
        except Exception as e:  # reported in the result, not lost in a thread
            outcome["error"] = repr(e)

    storage = pathlib.Path(out_dir, "_ray_train")
    with local_cluster() as (cluster, workers):
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        wait_for(lambda: any(storage.glob("*/checkpoint_manager_snapshot.json")), thread.is_alive, "a checkpoint")
        result = remove_busiest_node(cluster, workers, "RayTrainWorker")
        thread.join(timeout=400)
        return {**result, **outcome, "nodes_alive_after": sum(1 for n in ray.nodes() if n["Alive"])}


if __name__ == "__main__":
    mode, source, out_dir, result_path = sys.argv[1:5]
    pathlib.Path(result_path).write_text(json.dumps({"tag": tag, "train": train}[mode](source, out_dir)))
