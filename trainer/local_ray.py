"""What a Ray started on this machine for one command (jobs.common.ray_session) runs with, that
a cluster's Ray does not. Light on purpose: every worker process of that Ray imports it."""
import os

# Ray Train's controller polls its workers every 2 s by default, at the start and the end of
# every training job too; on one machine that wait is most of a small job's fixed cost (a tiny
# fine-tune on 2 cores: fit() 18-19 s at 2 s, 12-14 s at 0.2 s). Its preemption watcher is
# off: one machine is no spot node whose drain Ray reports, and the watcher's actor logs an
# error line at every training job's start (constructor arguments in the object store).
LOCAL_RAY_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2", "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}


def use_this_ray() -> None:
    """Run by each worker process as it starts (runtime_env's `worker_process_setup_hook`).

    Ray Train's placement-group cleaner asks Ray's state API whether its controller lives, with
    no address; Ray then takes $RAY_ADDRESS, else the last `ray start` on this machine, else the
    one Ray it finds running. With another Ray on the machine (a second command, a `ray start`
    left running) the cleaner asked that one, was told the controller is gone and quit (seen:
    before the job's placement group reached it; after, it would remove the group under the
    running job), or failed ("multiple active Ray instances"). The worker's own Ray is the
    answer."""
    import ray

    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address


LOCAL_RUNTIME_ENV = {"env_vars": LOCAL_RAY_ENV, "worker_process_setup_hook": f"{__name__}.use_this_ray"}
