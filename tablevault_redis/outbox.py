"""The writer thread: ordered, retried writes and the heartbeat.

Code items and status reports are queued here rather than written by the caller's
thread, so neither a checkpoint nor a notebook cell ever waits on Redis, and a
Redis outage loses nothing: each job is an idempotent Lua script that stays at the
head of the queue, retried with backoff, until the server is back.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.exceptions

from .connection import Connection, is_readonly
from .retry import Backoff, is_transient

logger = logging.getLogger(__name__)


@dataclass
class Job:
    """One idempotent write: ``call()`` runs it (a script function with its arguments
    bound); ``what`` names it in messages."""

    what: str
    call: Callable[[], object]

    def __str__(self) -> str:
        return self.what


class Outbox(threading.Thread):
    """Runs queued jobs in order and beats every ``interval`` seconds."""

    def __init__(
        self,
        conn: Connection,
        beat: Callable[[], None],
        interval: float,
        name: str = "tablevault-outbox",
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._conn = conn
        self._beat = beat
        self._interval = interval
        self._queue: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self.connected = True
        self.last_error: str = ""

    def submit(self, what: str, call: Callable[[], object]) -> None:
        """Queue a write; never blocks on the network."""
        with self._cond:
            self._queue.append(Job(what, call))
            self._cond.notify_all()

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def flush(self, timeout: float) -> bool:
        """Wait until every queued job is written; False if ``timeout`` s passed first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue:
                left = deadline - time.monotonic()
                if left <= 0 or not self.is_alive():
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    def stop(self, timeout: float) -> bool:
        """Flush for up to ``timeout`` seconds, then end the thread. True if all written."""
        done = self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=max(1.0, timeout))
        if not done and self._queue:
            logger.warning(
                "tablevault-redis: %d record write(s) could not reach Redis before exit (%s)",
                len(self._queue),
                self.last_error,
            )
        return done

    def run(self) -> None:
        next_beat = time.monotonic() + self._interval
        backoff = Backoff()
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    left = next_beat - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if self._stopping:
                    return
                job = self._queue[0] if self._queue else None
            stage = "write"
            try:
                if job is not None:
                    job.call()
                    with self._cond:
                        self._queue.popleft()
                        self._cond.notify_all()
                if time.monotonic() >= next_beat:
                    # Scheduled from a success: after an outage the beat (which puts a
                    # lost record back) is retried with the backoff, not an interval later.
                    stage = "heartbeat"
                    self._beat()
                    next_beat = time.monotonic() + self._interval
                self.connected = True
                backoff.reset()
            except (redis.exceptions.RedisError, OSError) as e:
                self.last_error = str(e)
                if is_transient(e):
                    # Down, failing over or loading: keep the job and try again.
                    self.connected = False
                    if is_readonly(e):
                        self._conn.rediscover()  # a demoted primary: find the new one
                    with self._cond:
                        if not self._stopping:
                            self._cond.wait(backoff.next())
                elif stage == "heartbeat":
                    next_beat = time.monotonic() + self._interval
                    logger.warning("tablevault-redis: heartbeat failed: %s", e)
                else:
                    # A script error is a bug or a write the server refuses for good:
                    # retrying would block every later write behind it.
                    logger.warning("tablevault-redis: dropped write %s: %s", job, e)
                    with self._cond:
                        if job is not None and self._queue and self._queue[0] is job:
                            self._queue.popleft()
                            self._cond.notify_all()
