"""jobs.graph.run_steps: steps run once, after what they wait for, at most N at a time."""
import threading
import time

import pytest

from jobs.graph import run_steps


def test_a_step_starts_only_after_every_step_it_waits_for_has_finished():
    log = []

    def step(name):
        def fn():
            log.append(("start", name))
            time.sleep(0.02)
            log.append(("end", name))
            return name.upper()
        return fn

    steps = {"scorer": ([], step("scorer")), "score": (["scorer"], step("score")),
             "tagger": (["score"], step("tagger")), "general": ([], step("general")),
             "finetune": (["tagger", "general"], step("finetune"))}
    results = run_steps(steps, at_once=3)
    assert results == {name: name.upper() for name in steps}
    for name, (waits_for, _) in steps.items():
        for w in waits_for:
            assert log.index(("end", w)) < log.index(("start", name))


def test_independent_steps_run_side_by_side_up_to_at_once():
    barrier = threading.Barrier(3, timeout=5)  # passes only if three steps run at the same time
    steps = {f"s{i}": ([], barrier.wait) for i in range(3)}
    assert len(run_steps(steps, at_once=3)) == 3


def test_never_more_than_at_once_steps_run_together():
    lock, running, most = threading.Lock(), [0], [0]

    def fn():
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1

    run_steps({f"s{i}": ([], fn) for i in range(8)}, at_once=2)
    assert most[0] == 2


def test_a_failure_is_raised_and_the_steps_after_it_never_start():
    started = []

    def fail():
        raise RuntimeError("scorer broke")

    steps = {"scorer": ([], fail), "score": (["scorer"], lambda: started.append("score"))}
    with pytest.raises(RuntimeError, match="scorer broke"):
        run_steps(steps, at_once=2)
    assert started == []


def test_waiting_on_an_unknown_step_or_in_a_circle_is_an_error():
    with pytest.raises(ValueError, match="unknown"):
        run_steps({"a": (["b"], lambda: 1)}, at_once=1)
    with pytest.raises(ValueError, match="wait on each other"):
        run_steps({"a": (["b"], lambda: 1), "b": (["a"], lambda: 2)}, at_once=1)
