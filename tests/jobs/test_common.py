"""The Ray a command starts for itself when it finds no cluster."""
import os
import pathlib
import subprocess
import sys

PROJECT = pathlib.Path(__file__).resolve().parents[2]

SESSION = """
import types
import ray
from ray.util.state import get_actor, list_actors
from jobs.common import ray_session

@ray.remote(num_cpus=0)
class Probe:
    def ask_about(self, actor_id):
        state = get_actor(actor_id)  # with no address, as Ray Train's placement-group cleaner asks
        return state.state if state else None

cfg = types.SimpleNamespace(compute=types.SimpleNamespace(address=None, num_cpus=1))
with ray_session(cfg):
    # The state API: without it Ray Train's placement-group cleaner warns every second. (This
    # cluster's address: the test session's own local Ray runs beside it.)
    list_actors(address=ray.get_runtime_context().gcs_address)
    probe = Probe.remote()
    print("a worker asking about itself is told", ray.get(probe.ask_about.remote(probe._actor_id.hex())))
print("state API served")
"""


def test_a_local_ray_started_for_a_command_serves_the_state_api_that_ray_train_polls_from_its_own_workers(local_ray):
    """With another Ray on the machine (the session's), a worker asking the state API without an
    address is answered by its own Ray."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", SESSION], env=env, cwd=PROJECT, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0 and "state API served" in done.stdout, done.stderr[-3000:]
    assert "a worker asking about itself is told ALIVE" in done.stdout, done.stdout


MINIMAL_RAY = """
import sys, types
sys.modules["ray.dashboard.optional_deps"] = None  # what `pip install ray` without [default] lacks
import ray
from jobs.common import ray_session

cfg = types.SimpleNamespace(compute=types.SimpleNamespace(address=None, num_cpus=1))
with ray_session(cfg):
    print("ran", ray.get(ray.put(7)))
"""


def test_a_local_ray_starts_where_ray_is_installed_without_its_dashboard(local_ray):
    """The GPU test machine has `ray` from a wheel, not `ray[default]`: asking for the dashboard
    there made every command fail before it began."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", MINIMAL_RAY], env=env, cwd=PROJECT, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0 and "ran 7" in done.stdout, done.stderr[-3000:]


NO_DASHBOARD = """
import types
import ray
from ray._private import worker
from jobs.common import ray_session

cfg = types.SimpleNamespace(compute=types.SimpleNamespace(address=None, num_cpus=1))
with ray_session(cfg, trains=False):
    print("ran", ray.get(ray.put(7)), "dashboard at", repr(worker._global_node.webui_url))
    print("runtime env", ray.get_runtime_context().runtime_env)
"""


def test_a_local_ray_for_a_command_that_trains_nothing_starts_without_the_dashboard_or_a_runtime_env(local_ray):
    """`taskpt tag` and `taskpt score` run no Ray Train: their Ray skips the dashboard's processes
    (on 2 cores they slowed tagging by 4-5%) and Ray Train's runtime env (with one, no task can
    use the workers Ray starts ahead)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", NO_DASHBOARD], env=env, cwd=PROJECT, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0 and "ran 7 dashboard at ''" in done.stdout, done.stderr[-3000:]
    assert "runtime env {}" in done.stdout
