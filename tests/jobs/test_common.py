"""The Ray a command starts for itself when it finds no cluster."""
import os
import pathlib
import subprocess
import sys

PROJECT = pathlib.Path(__file__).resolve().parents[2]

SESSION = """
import types
import ray
from ray.util.state import list_actors
from jobs.common import ray_session
cfg = types.SimpleNamespace(compute=types.SimpleNamespace(address=None, num_cpus=1))
with ray_session(cfg):
    # The state API: without it Ray Train's placement-group cleaner warns every second. (This
    # cluster's address: the test session's own local Ray runs beside it.)
    list_actors(address=ray.get_runtime_context().gcs_address)
print("state API served")
"""


def test_a_local_ray_started_for_a_command_serves_the_state_api_that_ray_train_polls():
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", SESSION], env=env, cwd=PROJECT, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0 and "state API served" in done.stdout, done.stderr[-3000:]
