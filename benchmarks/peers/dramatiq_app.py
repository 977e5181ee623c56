"""The dramatiq broker with dramatiq-abort's ``Abortable`` middleware (Redis backend).

The actor aborts cooperatively: the request is sent with a long ``abort_timeout``,
so no exception is injected; the actor checks ``abort_requested()`` once per
iteration (an in-process dict read, kept current by the middleware's watcher thread)
and returns when it is set.
"""

from __future__ import annotations

import os
import time

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq_abort import Abortable, abort_requested
from dramatiq_abort.backends import RedisBackend
from loops import job_loop

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:1/0")

broker = RedisBroker(url=URL)
broker.add_middleware(Abortable(backend=RedisBackend(client=redis.Redis.from_url(URL))))
dramatiq.set_broker(broker)


def _aborted() -> float | None:
    return time.monotonic() if abort_requested() is not None else None


@dramatiq.actor(actor_name="bench_dramatiq_job", max_retries=0, time_limit=600_000)
def dramatiq_job(tag: str, mode: str, iters: int) -> None:
    job_loop(URL, tag, mode, iters, _aborted)
