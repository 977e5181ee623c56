"""The writer thread: ordered, retried writes and the heartbeat.

Records, descriptions, code items and status reports are queued here rather than
written by the caller's thread, so neither a loop nor a notebook cell ever waits on
Redis, and a Redis outage loses nothing: each job is an idempotent Lua script that
stays at the head of the queue, retried with backoff, until the server is back.

Consecutive jobs that can be batched (record appends) are sent together, up to
:data:`MAX_BATCH` per round trip; a run of them with the same ``group`` key (appends
to one list) goes as one script call, made by the first one's ``joiner``. Updates
where only the latest matters (a run's progress fields) are not queued:
:meth:`Outbox.set_latest` keeps the latest one per key, sent after the queued
writes of the next round trip.

The queue is bounded (``max_pending`` jobs, default :data:`DEFAULT_MAX_PENDING`, or
``TABLEVAULT_MAX_BUFFERED_WRITES``): when it is full, :meth:`Outbox.submit` waits
until the writer has made room, with a warning naming the bound, rather than drop
anything. Only a long outage of heavy writing reaches it.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import redis.exceptions

from .connection import Connection, is_readonly
from .errors import ValidationError
from .retry import Backoff, is_transient
from .scripts import Batch

logger = logging.getLogger(__name__)

ENV_MAX_PENDING = "TABLEVAULT_MAX_BUFFERED_WRITES"
DEFAULT_MAX_PENDING = 100_000  # queued writes before submit() waits for room
MAX_BATCH = 200  # jobs sent in one round trip
_FULL_WARN_EVERY = 30.0  # seconds between warnings while submit() waits for room
_JOIN_GRACE = 0.5  # seconds stop() waits for the thread after its flush timed out

# Adds a job's script call(s) to a batch; returns what to do with their replies.
Batcher = Callable[[Batch], Callable[[list[Any]], None]]
# Adds a run of jobs of one group to a batch as one call; what to do with its replies.
Joiner = Callable[[Batch, list["Job"]], Callable[[list[Any]], None]]


@dataclass
class Job:
    """One idempotent write: ``call()`` runs it (a script function with its arguments
    bound); ``what`` names it in messages. A job with ``batch`` can be sent with
    others instead; consecutive queued ones of the same ``group`` are sent as one
    call by the first one's ``joiner``, which reads each job's ``data``."""

    what: str
    call: Callable[[], object]
    batch: Batcher | None = None
    group: Hashable = None
    joiner: Joiner | None = None
    data: Any = None

    def __str__(self) -> str:
        return self.what


def max_pending_setting(value: object) -> int:
    """The buffer bound: ``value``, else ``TABLEVAULT_MAX_BUFFERED_WRITES``, else the
    default; ValidationError when it is not a positive integer."""
    what = "max_buffered_writes"
    if value is None:
        raw = os.environ.get(ENV_MAX_PENDING, "").strip()
        if not raw:
            return DEFAULT_MAX_PENDING
        value, what = raw, f"{ENV_MAX_PENDING}={raw!r}"
        try:
            value = int(raw)
        except ValueError:
            value = raw
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValidationError(f"{what} must be a positive integer, got {value!r}")
    return value


class Outbox(threading.Thread):
    """Runs queued jobs in order and beats every ``interval`` seconds."""

    def __init__(
        self,
        conn: Connection,
        beat: Callable[[], None],
        interval: float,
        name: str = "tablevault-outbox",
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._conn = conn
        self._beat = beat
        self._interval = interval
        self._queue: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self.connected = True  # False while writes wait for Redis to answer again
        self.last_error: str = ""
        self.max_pending = max_pending
        self._latest: dict[str, Job] = {}  # set_latest(): what -> the update to send
        self._submitted = 0  # jobs ever queued
        self._finished = 0  # jobs ever written or dropped
        self.lean: Any = None  # the reader thread's beat (beat.LeanBeat), if any
        self._leaned = False  # the lean beat has the heartbeat (take_back() ends it)
        self._next_beat = 0.0  # monotonic time of the outbox's next beat

    def submit(self, what: str, call: Callable[[], object], wait_for_room: bool = True) -> None:
        """Queue a write; never blocks on the network (see :meth:`submit_job`)."""
        self.submit_job(Job(what, call), wait_for_room)

    def submit_job(self, job: Job, wait_for_room: bool = True) -> None:
        """Queue ``job``. Waits only while the queue holds ``max_pending`` jobs (a long
        outage), warning every 30 s; nothing is ever dropped. Without
        ``wait_for_room`` (a checkpoint's report, made holding the control state's
        lock, which the heartbeat needs too) it is queued past the bound."""
        with self._cond:
            if wait_for_room and len(self._queue) >= self.max_pending:
                self._wait_for_room()
            self._queue.append(job)
            self._submitted += 1
            self._cond.notify_all()

    def set_latest(self, job: Job) -> None:
        """Send batchable ``job`` with the next round trip, replacing an unsent one of
        the same ``what``; not counted against the bound."""
        with self._cond:
            self._latest[job.what] = job
            self._cond.notify_all()

    def barrier(self, timeout: float) -> None:
        """Wait until the jobs queued so far are written, while Redis answers (a read
        then sees this process's own writes); at once during an outage."""
        if threading.current_thread() is self:
            return
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._submitted
            while self._finished < target and self.connected and self.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(min(left, 0.1))

    def _wait_for_room(self) -> None:
        """Called holding the lock: block the caller until the writer made room."""
        if threading.current_thread() is self or not self.is_alive():
            return  # the writer itself, or no writer to wait for: queue past the bound
        warned = 0.0
        while len(self._queue) >= self.max_pending and self.is_alive() and not self._stopping:
            if time.monotonic() - warned >= _FULL_WARN_EVERY:
                warned = time.monotonic()
                logger.warning(
                    "tablevault-redis: %d writes are waiting for Redis (%s), the bound set "
                    "by max_buffered_writes / %s: this process waits until they are "
                    "written",
                    len(self._queue),
                    self.last_error or "not answering",
                    ENV_MAX_PENDING,
                )
            self._cond.wait(1.0)

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued job is written; False if ``timeout`` s passed first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._latest:
                left = deadline - time.monotonic()
                if left <= 0 or not self.is_alive():
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def stop(self, timeout: float) -> bool:
        """Flush for up to ``timeout`` seconds, then end the thread. True if all written.
        Returns within ``timeout`` plus a short grace, even when a write in flight
        waits on a server that stopped answering (the thread is a daemon)."""
        deadline = time.monotonic() + timeout
        done = self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=max(_JOIN_GRACE, deadline - time.monotonic()))
        if self.lean is not None:
            self.lean.stop()
        if not done and (self._queue or self._latest):
            logger.warning(
                "tablevault-redis: %d record write(s) could not reach Redis before exit (%s)",
                len(self._queue),
                self.last_error,
            )
        return done

    def take_back(self) -> None:
        """The lean beat failed or found something unusual: beat here, at once."""
        with self._cond:
            self._leaned = False
            self._next_beat = 0.0
            self._cond.notify_all()

    def run(self) -> None:
        self._next_beat = time.monotonic() + self._interval
        with self._cond:  # the reader thread beats (see beat.py) until it hands back
            self._leaned = self.lean is not None and self.lean.resume()
        backoff = Backoff()
        while True:
            with self._cond:
                while not self._queue and not self._latest and not self._stopping:
                    left = None if self._leaned else self._next_beat - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    self._cond.wait(left)
                if self._stopping:
                    return
                jobs, queued = self._head()
            job = jobs[0] if jobs else None
            stage = "write"
            try:
                if job is not None and job.batch is None:
                    job.call()
                    self._done(1)
                elif jobs:
                    self._send_batch(jobs, queued)
                if not self._leaned and time.monotonic() >= self._next_beat:
                    # Scheduled from a success: after an outage the beat (which puts a
                    # lost record back) is retried with the backoff, not an interval later.
                    stage = "heartbeat"
                    self._beat()
                    self._next_beat = time.monotonic() + self._interval
                    with self._cond:  # the reader thread beats again
                        self._leaned = self.lean is not None and self.lean.resume()
                if not self.connected:
                    logger.info("tablevault-redis: Redis answers again; writing the queue")
                self.connected = True
                backoff.reset()
            except (redis.exceptions.RedisError, OSError) as e:
                if stage == "heartbeat" and not is_transient(e):
                    self._next_beat = time.monotonic() + self._interval  # a beat later
                self._failed(e, stage, job, backoff)
            except Exception:  # a bug in a job must not end the writer and every later write
                logger.exception("tablevault-redis: dropped write %s", job)
                self._drop(job)

    def _failed(self, e: BaseException, stage: str, job: Job | None, backoff: Backoff) -> None:
        self.last_error = str(e)
        if is_transient(e):
            if self.connected:
                logger.info("tablevault-redis: Redis unreachable (%s); writes are queued", e)
            # Down, failing over or loading: keep the job and try again.
            self.connected = False
            if is_readonly(e):
                self._conn.rediscover()  # a demoted primary: find the new one
            with self._cond:
                if not self._stopping:
                    self._cond.wait(backoff.next())
        elif stage == "heartbeat":
            logger.warning("tablevault-redis: heartbeat failed: %s", e)
        else:
            # A script error is a bug or a write the server refuses for good:
            # retrying would block every later write behind it.
            logger.warning("tablevault-redis: dropped write %s: %s", job, e)
            self._drop(job)

    def _drop(self, job: Job | None) -> None:
        with self._cond:
            if job is not None and self._queue and self._queue[0] is job:
                self._queue.popleft()
                self._finished += 1
                self._cond.notify_all()

    def _head(self) -> tuple[list[Job], int]:
        """Called holding the lock: the head job alone, or the run of batchable jobs
        at the head (at most MAX_BATCH) followed by the latest updates; and how many
        of those are queued jobs."""
        if self._queue and self._queue[0].batch is None:
            return [self._queue[0]], 1
        jobs: list[Job] = []
        for job in self._queue:
            if job.batch is None or len(jobs) >= MAX_BATCH:
                break
            jobs.append(job)
        queued = len(jobs)
        jobs += self._latest.values()
        self._latest = {}
        return jobs, queued

    def _done(self, n: int) -> None:
        """The first ``n`` queued jobs are written: drop them, wake flush() and submit()."""
        with self._cond:
            for _ in range(n):
                self._queue.popleft()
            self._finished += n
            self._cond.notify_all()

    def _send_batch(self, jobs: list[Job], queued: int) -> None:
        """Send ``jobs`` (the first ``queued`` of them from the queue) in one round
        trip; a transient failure leaves the unwritten ones to send again (their
        scripts skip what was applied before) and raises."""
        batch = Batch(self._conn)
        plan = []
        for i, j in _runs(jobs, queued):
            start, job = len(batch), jobs[i]
            if j - i > 1 and job.joiner is not None:
                handle = job.joiner(batch, jobs[i:j])
            else:
                assert job.batch is not None
                handle = job.batch(batch)
            plan.append((i, j, start, len(batch), handle))
        try:
            replies = batch.execute_each()
        except BaseException:
            self._keep_latest(jobs[queued:])
            raise
        for i, j, start, end, handle in plan:
            mine = replies[start:end]
            failed = next((r for r in mine if isinstance(r, Exception)), None)
            if failed is not None and is_transient(failed):
                self._done(min(i, queued))
                self._keep_latest(jobs[max(i, queued) :])
                raise failed
            if failed is not None:
                what = jobs[i] if j - i == 1 else f"{jobs[i]} to {jobs[j - 1]}"
                logger.warning("tablevault-redis: dropped write %s: %s", what, failed)
                continue
            handle(mine)
        self._done(queued)

    def _keep_latest(self, jobs: list[Job]) -> None:
        """Latest updates not sent: send them later, unless a newer one was set."""
        with self._cond:
            for job in jobs:
                self._latest.setdefault(job.what, job)


def _runs(jobs: list[Job], queued: int) -> list[tuple[int, int]]:
    """(start, end) of each call to make: a run of consecutive queued jobs of one
    group, or a single job (the latest updates after the queued ones are never
    joined)."""
    runs, i = [], 0
    while i < len(jobs):
        j, group = i + 1, jobs[i].group
        if group is not None and i < queued:
            while j < queued and jobs[j].group == group:
                j += 1
        runs.append((i, j))
        i = j
    return runs
