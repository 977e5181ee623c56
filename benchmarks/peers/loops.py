"""The worker loop every system runs, and the report channel of the peers' jobs.

One iteration is either ``time.sleep(0.001)`` ("idle") or about 1 ms of pure-Python
work ("busy"); ``check`` runs once per iteration (a checkpoint, a status read, or
nothing) and ends the loop by returning something truthy. The controller calibrates
the busy iteration count once and hands the same count to every worker, so each
system runs the same loop.

Jobs run inside the peers' own workers (an RQ work horse, a Celery prefork child, a
dramatiq worker thread), so they report over Redis lists: ``ready`` (with the pid),
then they block until the controller pushes "go", report ``running`` and loop.
Every timestamp is ``time.monotonic()``: CLOCK_MONOTONIC, comparable across processes.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

IDLE_SLEEP_S = 0.001
BUSY_WORK_S = 0.001
GO_TIMEOUT_S = 120


def work(n: int) -> int:
    x = 0
    for i in range(n):
        x += i * i
    return x


def calibrate(seconds: float = BUSY_WORK_S) -> int:
    """Iterations of :func:`work` that take about ``seconds``: the fastest of many
    short runs, since on a shared machine most runs are stretched by other load."""
    n = 1_000
    while True:
        t = time.perf_counter()
        work(n)
        if time.perf_counter() - t > 0.002:
            break
        n *= 2
    best = min(_timed(n) for _ in range(50))
    return max(1, int(n * seconds / best))


def _timed(n: int) -> float:
    t = time.perf_counter()
    work(n)
    return time.perf_counter() - t


def run_loop(mode: str, iters: int, check: Callable[[], Any]) -> Any:
    """Call ``check`` once per iteration until it returns something truthy."""
    if mode == "idle":
        sleep = time.sleep
        while True:
            result = check()
            if result:
                return result
            sleep(IDLE_SLEEP_S)
    while True:
        result = check()
        if result:
            return result
        work(iters)


def never() -> None:
    """The check of a job that only a kill ends (RQ, Celery)."""
    return None


def report_key(tag: str) -> str:
    return f"bench:peers:{tag}:report"


def go_key(tag: str) -> str:
    return f"bench:peers:{tag}:go"


def job_loop(url: str, tag: str, mode: str, iters: int, check: Callable[[], Any] = never) -> None:
    """The body of every peer job: report ready, wait for go, loop, report what ended it."""
    import redis

    client = redis.Redis.from_url(url)

    def say(ev: str, **fields: Any) -> None:
        fields.update(ev=ev, pid=os.getpid())
        client.rpush(report_key(tag), json.dumps(fields))

    say("ready", t=time.monotonic())
    if client.blpop([go_key(tag)], timeout=GO_TIMEOUT_S) is None:
        say("gave_up", t=time.monotonic())
        return
    say("running", t=time.monotonic())
    observed = run_loop(mode, iters, check)
    say("observed", t=observed)
    client.close()
