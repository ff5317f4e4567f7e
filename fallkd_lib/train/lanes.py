"""Run independent trainings side by side: `jobs` processes with the CPU's threads shared out between them.

Small models on small inputs use two cores badly from one process (each convolution is too small to split well),
so two single-threaded trainings finish sooner than the same two one after the other with two threads each.
A task may wait for another (a distilled student waits for its teacher). Each process trains with the same
thread count every time, so a run's numbers depend on `jobs` (float sums in another order), never on which
process or in which order it ran: the same command gives the same table.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from fallkd_lib.errors import UsageError


@dataclass
class Task:
    """One call to run in a worker: key (unique), a module-level function, its arguments, and the key it waits for."""

    key: str
    fn: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    after: str | None = None


def threads_per_job(jobs: int) -> int:
    """The torch threads each of `jobs` processes gets: the usable cores shared out, at least one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // jobs)


def _init_worker(threads: int) -> None:
    """Pin a worker's torch thread pools before it trains anything."""
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


def run_tasks(tasks: list[Task], jobs: int, progress: bool = True, desc: str = "runs") -> dict[str, object]:
    """Run the tasks in `jobs` spawned processes (dependencies first); returns {key: result} in task order.

    A failed task stops the rest (those running finish) and its exception is raised with the task's key.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"jobs must be a whole number >= 1, got {jobs!r}")
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise UsageError(f"task keys must be unique, got {keys}")
    missing = sorted({t.after for t in tasks if t.after is not None} - set(keys))
    if missing:
        raise UsageError(f"tasks wait for unknown keys {missing}")
    done: dict[str, object] = {}
    waiting = list(tasks)
    running: dict[Future, Task] = {}
    context = multiprocessing.get_context("spawn")  # no forked torch thread pools
    bar = tqdm(total=len(tasks), desc=desc, unit="run", disable=not progress)
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_init_worker, initargs=(threads_per_job(jobs),)
    ) as pool:
        started: dict[str, float] = {}
        while waiting or running:
            for task in [t for t in waiting if t.after is None or t.after in done]:
                waiting.remove(task)
                started[task.key] = time.perf_counter()
                running[pool.submit(task.fn, *task.args, **task.kwargs)] = task
            if not running:
                raise UsageError(f"tasks {[t.key for t in waiting]} wait for each other")
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                task = running.pop(future)
                try:
                    done[task.key] = future.result()
                except Exception as exc:
                    for other in running:
                        other.cancel()
                    raise RuntimeError(f"run {task.key!r} failed: {type(exc).__name__}: {exc}") from exc
                bar.update(1)
                bar.write(f"{task.key}: done in {time.perf_counter() - started[task.key]:.0f} s")
    bar.close()
    return {k: done[k] for k in keys}
