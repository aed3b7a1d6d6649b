"""A worker node lost in the middle of a stage (a spot node taken back): the stage finishes on
the surviving node, and the dataset equals, file for file, a run without the fault."""
import pathlib

import pytest

from engine.contract import read_manifest
from jobs.config import load_config
from jobs.plan import make_plan
from jobs.store import main as store_main


@pytest.mark.slow
def test_tagging_survives_losing_a_worker_node_and_equals_a_run_without_the_fault(
        local_ray, tmp_path_factory, tagged_reference, tagging_project_maker, node_loss, capsys):
    root, _, reference, shards = tagged_reference
    here = tmp_path_factory.mktemp("preemption")
    config = tagging_project_maker(root, documents=2 * shards, shard_documents=2, stores=("store-preemption",),
                                   config_dir=here)
    plan = make_plan(load_config(config))

    result = node_loss("tag", config, plan.tagged)
    assert result["exit_code"] == 0, result
    # The node went while the stage was writing, and it had actors on it.
    assert not result["complete_before_removal"] and result["shards_before_removal"] < shards, result
    assert result["actors_on_removed_node"] >= 1 and result["nodes_alive_after"] == 2, result  # head + survivor

    out = pathlib.Path(plan.tagged)
    assert not list(out.glob("*.tmp"))
    assert read_manifest(plan.tagged).shards == read_manifest(reference.tagged).shards  # same names, rows, sha256
    assert read_manifest(plan.random_masks).shards == read_manifest(reference.random_masks).shards
    capsys.readouterr()
    assert store_main(["verify", out.name, config]) == 0
