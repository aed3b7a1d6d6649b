"""Steps that wait on other steps, run as soon as their inputs are ready, several at a time.

`taskpt experiment` trains ~25 models; each Ray Train run has a fixed cost of about a minute
on the GPU machine (starting workers, streaming its data, checkpoints), most of it waiting.
Steps that do not depend on each other (the general arm's fine-tunes and the scorer, the
pretraining arms, the fine-tunes of every arm) overlap that waiting when run side by side.
"""
from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable


def run_steps(steps: dict[str, tuple[list[str], Callable[[], object]]], at_once: int) -> dict[str, object]:
    """Run every step `name: (names it waits for, fn)` once, at most `at_once` at a time, each
    as soon as the steps it waits for have finished; when several are ready they start in the
    order of `steps`. Returns each step's result. The first failure stops new steps from
    starting; the running ones finish, then it is raised."""
    for name, (waits_for, _) in steps.items():
        unknown = [w for w in waits_for if w not in steps]
        if unknown:
            raise ValueError(f"step {name!r} waits for unknown step(s) {unknown}")
    results, running = {}, {}
    with cf.ThreadPoolExecutor(max_workers=at_once) as pool:
        while len(results) < len(steps):
            for name, (waits_for, fn) in steps.items():
                if len(running) < at_once and name not in results and name not in running.values() \
                        and all(w in results for w in waits_for):
                    running[pool.submit(fn)] = name
            if not running:
                raise ValueError(f"steps {sorted(set(steps) - set(results))} wait on each other")
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                name = running.pop(future)
                error = future.exception()
                if error is not None:
                    cf.wait(running)  # let the others end (a Ray Train run cannot be cut short cleanly)
                    raise error
                results[name] = future.result()
    return results
