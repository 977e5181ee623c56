"""The Celery app: Redis broker and result backend at ``BENCH_REDIS_URL``.

After a terminated task, this Celery (5.7, prefork, concurrency 1) often starts the
next task only at its pool's next periodic maintenance, up to 5 s later (measured
here). That is task start-up, not the revoke being measured, so the worker runs
that maintenance every 0.2 s to keep the benchmark short.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.concurrency import asynpool
from loops import job_loop

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:1/0")

POOL_MAINTENANCE_S = 0.2
asynpool.AsynPool.timers = property(lambda self: {self.maintain_pool: POOL_MAINTENANCE_S})

app = Celery("bench_peers", broker=URL, backend=URL)
app.conf.update(
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_track_started=False,
)


@app.task(name="bench.celery_job")
def celery_job(tag: str, mode: str, iters: int) -> None:
    """Loops until ``revoke(terminate=True)`` kills this prefork child."""
    job_loop(URL, tag, mode, iters)
