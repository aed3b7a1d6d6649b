"""Run by test_preemption.py in its own process: a multi-node Ray cluster on this machine
(`ray.cluster_utils.Cluster`: a head that takes no tasks, two worker nodes), a tagging job
driven against it, and the worker node that hosts the most model/tokenizer actors removed
while the job writes shards, as a spot node taken back would be.

    python tests/jobs/node_loss.py CONFIG.yaml OUT_DIR RESULT.json
"""
import json
import pathlib
import subprocess
import sys
import time
from collections import Counter

import ray
from ray.cluster_utils import Cluster
from ray.util.state import list_actors


def main(config: str, out_dir: str, result_path: str) -> None:
    cluster = Cluster(initialize_head=True, connect=True,
                      head_node_args={"num_cpus": 0, "include_dashboard": True, "dashboard_host": "127.0.0.1"})
    workers = [cluster.add_node(num_cpus=2) for _ in range(2)]
    cluster.wait_for_nodes()
    out = pathlib.Path(out_dir)
    job = subprocess.Popen([sys.executable, "-m", "jobs.tag", config, f"compute.address={cluster.address}"])
    deadline = time.monotonic() + 240
    while len(list(out.glob("*.parquet"))) < 2:
        if job.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the job ended (exit {job.returncode}) or stalled before the node was removed")
        time.sleep(0.01)
    actors = [a for a in list_actors(filters=[("state", "=", "ALIVE")]) if "MapWorker" in a.class_name]
    busiest, count = Counter(a.node_id for a in actors).most_common(1)[0]
    victim = next(w for w in workers if w.node_id == busiest)
    shards_before = len(list(out.glob("*.parquet")))
    complete_before = (out / "manifest.json").exists()
    cluster.remove_node(victim, allow_graceful=False)
    removed_at = time.monotonic()
    exit_code = job.wait(timeout=300)
    result = {"exit_code": exit_code, "shards_before_removal": shards_before, "complete_before_removal": complete_before,
              "actors_on_removed_node": count, "seconds_after_removal": round(time.monotonic() - removed_at, 1),
              "nodes_alive_after": sum(1 for n in ray.nodes() if n["Alive"])}
    pathlib.Path(result_path).write_text(json.dumps(result))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])
