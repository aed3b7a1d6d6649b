"""Ray's fake multi-node provider, with worker nodes a test can take back the way a cloud takes
back a spot instance. Loaded by the autoscaler's monitor process (`provider: {type: external,
module: spot_provider.SpotProvider}`, this directory on its PYTHONPATH).

A file `<preempt_dir>/<node_id>.preempt` makes the provider's next poll end that node's
processes at once (no graceful shutdown) and drop it from its node list; the file is then
renamed `<node_id>.preempted`. The autoscaler sees the node gone, as after a spot termination,
and launches another when there is demand for it.

Each node keeps its runtime environments (a Ray job's working_dir) in a directory of its own,
as separate machines do: in Ray's fake provider every node shares the head's session
directory, and a node's runtime-env agent deletes the packages there that it does not know,
the head's job driver's included.
"""
import os

import ray._private.parameter
from ray.autoscaler._private.fake_multi_node.node_provider import FakeMultiNodeProvider


class OwnRuntimeEnvDir(ray._private.parameter.RayParams):
    def __init__(self, *args, **kwargs):
        node_id = (kwargs.get("env_vars") or {}).get("RAY_OVERRIDE_NODE_ID_FOR_TESTING", "")
        kwargs.setdefault("runtime_env_dir_name", f"runtime_resources_{node_id[-5:]}")
        super().__init__(*args, **kwargs)


class SpotProvider(FakeMultiNodeProvider):
    def _create_node_with_resources_and_labels(self, node_config, tags, count, resources, labels):
        shared = ray._private.parameter.RayParams
        ray._private.parameter.RayParams = OwnRuntimeEnvDir  # this monitor process's nodes only
        try:
            super()._create_node_with_resources_and_labels(node_config, tags, count, resources, labels)
        finally:
            ray._private.parameter.RayParams = shared

    def non_terminated_nodes(self, tag_filters):
        self._take_back_marked_nodes()
        return super().non_terminated_nodes(tag_filters)

    def _take_back_marked_nodes(self) -> None:
        marks = self.provider_config.get("preempt_dir")
        if not marks or not os.path.isdir(marks):
            return
        for name in os.listdir(marks):
            if not name.endswith(".preempt"):
                continue
            node_id = name.removesuffix(".preempt")
            with self.lock:
                node = self._nodes.pop(node_id, None)
            if node is not None and "node" in node:
                node["node"].kill_all_processes(check_alive=False, allow_graceful=False)
            os.replace(os.path.join(marks, name), os.path.join(marks, node_id + ".preempted"))
