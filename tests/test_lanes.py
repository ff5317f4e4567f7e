"""Trainings side by side: dependencies first, results in task order, failures named, bad plans refused."""

from __future__ import annotations

import math
import operator

import pytest

from fallkd_lib.errors import UsageError
from fallkd_lib.train.lanes import Task, run_tasks, threads_per_job


def test_threads_are_shared_out_and_never_zero() -> None:
    assert threads_per_job(1) >= threads_per_job(2) >= 1
    assert threads_per_job(10_000) == 1


@pytest.mark.parametrize(
    "tasks, match",
    [
        ([Task("a", abs, (1,)), Task("a", abs, (2,))], "unique"),
        ([Task("a", abs, (1,), after="z")], "unknown keys"),
    ],
)
def test_bad_plans_are_refused_before_anything_runs(tasks, match) -> None:
    with pytest.raises(UsageError, match=match):
        run_tasks(tasks, 2, progress=False)


def test_jobs_must_be_a_whole_number() -> None:
    with pytest.raises(UsageError, match="jobs"):
        run_tasks([Task("a", abs, (1,))], 0)


@pytest.mark.slow
def test_tasks_run_in_processes_and_come_back_in_task_order() -> None:
    tasks = [
        Task("late", operator.add, (2, 3), after="first"),
        Task("first", math.sqrt, (16,)),
        Task("other", pow, (2, 10)),
    ]
    assert list(run_tasks(tasks, 2, progress=False).items()) == [("late", 5), ("first", 4.0), ("other", 1024)]


@pytest.mark.slow
def test_a_failed_task_is_named_and_waiting_ones_never_run() -> None:
    tasks = [Task("bad", math.sqrt, (-1,)), Task("after_bad", abs, (1,), after="bad")]
    with pytest.raises(RuntimeError, match="run 'bad' failed: ValueError"):
        run_tasks(tasks, 1, progress=False)


@pytest.mark.slow
def test_tasks_that_wait_for_each_other_are_refused() -> None:
    with pytest.raises(UsageError, match="wait for each other"):
        run_tasks([Task("a", abs, (1,), after="b"), Task("b", abs, (1,), after="a")], 2, progress=False)
