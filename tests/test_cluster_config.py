"""cluster.yaml is checked against the Ray autoscaler's own schema (shipped with Ray), so a typo
is caught before anyone pays for a node, and against what docs/cluster.md promises."""
import copy
import json
import pathlib

import jsonschema
import pytest
import ray
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = pathlib.Path(__file__).resolve().parents[1] / "cluster.yaml"
SCHEMA = json.loads((pathlib.Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())


@pytest.fixture
def cluster() -> dict:
    return yaml.safe_load(CLUSTER.read_text())


def test_cluster_yaml_passes_the_autoscaler_schema_as_written_and_with_its_defaults(cluster):
    jsonschema.validate(cluster, SCHEMA)
    validate_config(prepare_config(copy.deepcopy(cluster)))  # what `ray up` runs before it starts a node


@pytest.mark.parametrize("typo", [{"max_worker": 8}, {"idle_timeout_minute": 5}])
def test_a_misspelled_key_is_caught(cluster, typo):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cluster | typo, SCHEMA)


def test_a_misspelled_node_type_key_is_caught(cluster):
    cluster["available_node_types"]["gpu_spot_a10g"]["min_worker"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(cluster, SCHEMA)


def test_the_head_takes_no_tasks_and_gpu_workers_are_spot_and_scale_from_zero(cluster):
    types = cluster["available_node_types"]
    head = types.pop(cluster["head_node_type"])
    assert head["resources"] == {"CPU": 0} and "InstanceMarketOptions" not in head["node_config"]
    assert len(types) >= 2  # a second GPU type for when one spot pool is short
    for worker in types.values():
        assert worker["min_workers"] == 0 and worker["node_config"]["InstanceMarketOptions"] == {"MarketType": "spot"}
        assert worker["max_workers"] <= cluster["max_workers"]
    assert 0 < cluster["idle_timeout_minutes"] <= 30


def test_the_image_is_the_pinned_ray_and_the_job_server_stays_on_loopback_with_token_auth(cluster):
    assert cluster["docker"]["image"] == f"rayproject/ray:{ray.__version__}-py311-gpu"
    head_start = " ".join(cluster["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start and "RAY_AUTH_MODE=token ray start --head" in head_start
    assert "RAY_AUTH_MODE=token ray start --address" in " ".join(cluster["worker_start_ray_commands"])
    assert "/home/ray/.ray/auth_token" in cluster["file_mounts"]
