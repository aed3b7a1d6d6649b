"""Scoring and tagging on a cluster that Ray's own autoscaler manages (the fake multi-node
provider, tests/cluster/autoscaling.py): from zero GPU nodes, through a spot node taken back,
back to zero. Each scenario is bounded (about a minute here)."""
import pytest

from engine.contract import read_manifest
from jobs.config import load_config
from jobs.plan import make_plan

pytestmark = [pytest.mark.slow, pytest.mark.autoscaler]


def test_taskpt_submit_of_the_tag_stage_to_a_cluster_with_no_gpu_node_runs_on_one_it_adds(
        tmp_path_factory, tiny_bert, tiny_tagger, autoscaling):
    from test_submit import make_demo_project

    project = tmp_path_factory.mktemp("submit-autoscaled") / "project"
    plan = make_demo_project(project, tiny_bert, tiny_tagger)
    result = autoscaling("submit", str(project))
    assert result["exit_code"] == 0, result["log"][-3000:]
    assert f"[taskpt tag] wrote 12 sentences in 1 shard(s) to {plan.tagged}" in result["log"], result["log"][-3000:]
    assert "no node has a GPU yet" in result["log"] and result["launched"] >= 1, result["log"][-3000:]
    assert read_manifest(plan.tagged).compute["device"] == "GPU"


def test_tagging_from_zero_gpu_nodes_asks_for_one_runs_there_and_the_node_goes_when_idle(
        tmp_path_factory, tagged_reference, tagging_project_maker, autoscaling):
    root, _, reference, shards = tagged_reference
    config = tagging_project_maker(root, documents=2 * shards, shard_documents=2, stores=("store-autoscaled",),
                                   config_dir=tmp_path_factory.mktemp("autoscaled"))
    plan = make_plan(load_config(config))

    result = autoscaling("tag", config, plan.tagged)
    assert result.get("exit_code") == 0, result
    assert result["gpu_nodes_before"] == 0 and result["launched"] >= 1 and result["most_gpu_nodes"] >= 1, result
    assert "[taskpt tag] no node has a GPU yet: asking the cluster for 1 model actor(s) x {'GPU': 1.0, 'CPU': 1.0}" \
        in result["log"], result["log"][-3000:]
    assert "[taskpt tag] GPU node(s) ready after" in result["log"]
    assert read_manifest(plan.tagged).shards == read_manifest(reference.tagged).shards  # same names, rows, sha256
    assert read_manifest(plan.tagged).compute["device"] == "GPU"
    # Idle GPU nodes are removed (idle_timeout_minutes: 0.1 there).
    assert result["back_to_zero_s"] is not None, result


def test_a_gpu_node_taken_back_mid_stage_costs_its_unwritten_shards_only_and_the_output_is_the_same(
        tmp_path_factory, tagging_project_maker, autoscaling):
    from jobs.tag import main as tag_main

    # Long enough (150 shards) for the provider, polled every second, to take the node back
    # while the stage writes; the reference is the same stage run locally, without the fault.
    root, shards = tmp_path_factory.mktemp("spot"), 150
    config = tagging_project_maker(root, documents=2 * shards, shard_documents=2, stores=("store", "reference"))
    reference = make_plan(load_config(config, [f"store={root / 'reference'}"]))
    assert tag_main([config, f"store={root / 'reference'}", "compute.concurrent_shards=2"]) == 0
    plan = make_plan(load_config(config))

    result = autoscaling("tag", config, plan.tagged, "preempt")
    assert result.get("exit_code") == 0, result
    # Taken back while the stage was writing, with the model actor on it; another node came.
    assert result["preempted_node_gone"] and result["actors_on_preempted_node"] >= 1, result
    assert not result["complete_before_preemption"] and result["shards_before_preemption"] < shards, result
    assert result["launched"] >= 2, result
    assert read_manifest(plan.tagged).shards == read_manifest(reference.tagged).shards
    assert read_manifest(plan.random_masks).shards == read_manifest(reference.random_masks).shards
    assert result["back_to_zero_s"] is not None, result
