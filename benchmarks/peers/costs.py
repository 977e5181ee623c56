"""Per-iteration cost of noticing a request: what each design pays at every loop turn.

``checkpoint_execution()`` with nothing pending, ``threading.Event.is_set()``, a
redis-py ``GET``, RQ's ``job.get_status()`` and Celery's ``AsyncResult(id).state``
(each a round trip to the private server). timeit, best of ``repeat`` rounds.
"""

from __future__ import annotations

import threading
import timeit
import uuid
from collections.abc import Callable
from typing import Any


def per_call_ns(fn: Callable[[], Any], number: int, repeat: int) -> dict[str, float]:
    timer = timeit.Timer(fn)
    timer.timeit(min(number, 1000))  # warm up
    runs = [t / number * 1e9 for t in timer.repeat(repeat, number)]
    return {"best_ns": min(runs), "median_ns": sorted(runs)[len(runs) // 2]}


def _local_calls(url: str) -> tuple[dict[str, Callable[[], Any]], Callable[[], None]]:
    from tablevault_redis import Vault

    vault = Vault("bench", f"cost-{uuid.uuid4().hex[:8]}", redis_url=url, namespace="benchpeers")
    event = threading.Event()
    calls = {
        "checkpoint_execution": vault.checkpoint_execution,
        "event_is_set": event.is_set,
    }
    return calls, vault.close


def _remote_calls(url: str) -> tuple[dict[str, Callable[[], Any]], Callable[[], None]]:
    import celery_app
    import redis
    from rq import Queue

    client = redis.Redis.from_url(url)
    client.set("bench:peers:get-target", "x")
    job = Queue("bench-peers-idle", connection=client).enqueue("jobs.rq_job", url, "-", "idle", 1)
    task_id = uuid.uuid4().hex  # never sent: PENDING, so every read goes to Redis
    app = celery_app.app
    calls = {
        "redis_get": lambda: client.get("bench:peers:get-target"),
        "rq_job_get_status": job.get_status,
        "celery_asyncresult_state": lambda: app.AsyncResult(task_id).state,
    }
    return calls, client.close


def measure(url: str, quick: bool) -> dict[str, dict[str, float]]:
    """ns per call of each way to check for a request, measured in this process."""
    local_n, remote_n, repeat = (200_000, 200, 3) if quick else (1_000_000, 1_000, 5)
    out: dict[str, dict[str, float]] = {}
    for factory, number in ((_local_calls, local_n), (_remote_calls, remote_n)):
        calls, close = factory(url)
        try:
            for name, fn in calls.items():
                out[name] = per_call_ns(fn, number, repeat)
        finally:
            close()
    return out
