"""engine.cluster: the GPUs an autoscaler can add, read from its config, and the wait for nodes."""
import json

import pytest

from engine.cluster import ClusterGpus, NodesUnavailable, monitor_config_path, offered_gpus, wait_for_resources


def test_the_gpus_an_autoscaler_can_add_are_gpus_per_node_times_nodes_within_max_workers():
    config = {"max_workers": 3, "head_node_type": "head", "available_node_types": {
        "head": {"resources": {"CPU": 0, "GPU": 8}, "max_workers": 0},  # the head is never added
        "cpu": {"resources": {"CPU": 16}, "max_workers": 10},
        "gpu_a": {"resources": {"GPU": 1}, "max_workers": 2},
        "gpu_b": {"resources": {"GPU": 4}, "max_workers": 2}}}
    assert offered_gpus(config) == 4 * 2 + 1 * 1  # 3 workers at most: the 4-GPU type first
    assert offered_gpus({"available_node_types": {"gpu": {"resources": {"GPU": 1}, "max_workers": 2}}}) == 2
    assert offered_gpus({"max_workers": 8, "available_node_types": {"cpu": {"resources": {"CPU": 4}}}}) == 0
    assert offered_gpus({}) == 0


def test_the_monitor_config_is_read_from_the_monitor_process_command_line(tmp_path):
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "cmdline").write_bytes(b"python\0monitor.py\0--logs-dir=/x\0"
                                                b"--autoscaling-config=/home/ray/ray_bootstrap_config.yaml\0")
    status = json.dumps({"monitor_pid": 4242, "autoscaler_report": {}}).encode()
    assert monitor_config_path(status, proc_root=str(tmp_path)) == "/home/ray/ray_bootstrap_config.yaml"
    assert monitor_config_path(json.dumps({"monitor_pid": 99}).encode(), proc_root=str(tmp_path)) is None
    assert monitor_config_path(None, proc_root=str(tmp_path)) is None


def test_a_cluster_that_can_add_gpus_counts_as_having_them():
    assert ClusterGpus(0.0, 2.0, "x").any and ClusterGpus(1.0, 0.0, "").any and not ClusterGpus(0.0, 0.0, "").any


def test_resources_the_cluster_has_are_not_waited_for(local_ray):
    lines = []
    assert wait_for_resources({"CPU": 1}, 1, 30, lines.append, "one CPU", "compute.wait_for_nodes_s") < 30
    assert lines == []


def test_waiting_for_nodes_that_never_come_says_so_then_ends_with_an_error_naming_the_key(local_ray):
    lines = []
    with pytest.raises(NodesUnavailable, match=r"asked the cluster for 1 x \{\"CPU\": 1, \"GPU\": 1\} \(model "
                                               r"actors\) and waited [0-9] s: .*raise compute.wait_for_nodes_s"):
        wait_for_resources({"GPU": 1, "CPU": 1}, 1, 1.5, lines.append, "model actors", "compute.wait_for_nodes_s",
                           report_every_s=0.5)
    assert lines and all(line.startswith("waiting for nodes: asked for 1 x {\"CPU\": 1, \"GPU\": 1} (model actors)")
                         for line in lines)
    assert lines[-1].endswith("of 2 (compute.wait_for_nodes_s)")
    # The placement group that asked is gone: its CPU is free again.
    assert wait_for_resources({"CPU": 2}, 1, 30, lines.append, "two CPUs", "k") < 30
