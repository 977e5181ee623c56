"""One class per system measured. Each round: ``prepare`` every system (start a
job or a process, up to the point where it waits for "go"), ``wait_ready``, then
``trial`` each in turn: start its loop, wait 4-12 ms, ask it to stop, measure.

Times are in seconds here; the caller converts. Every trial is timed from the
request call's start (``t_call``) as well as its return (``t_ret``).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

import _common
import procs
from loops import go_key, report_key
from procs import EVENT_TIMEOUT_S, LineWorker, Service, jitter

DRAMATIQ_WATCHER_S = 1.2  # dramatiq-abort's watcher picks up a new message within ~1 s


def start_loop(worker: LineWorker, mode: str, iters: int) -> float:
    """Set ``worker`` looping, wait a random moment into the loop: the request's time."""
    worker.send(f"go {mode} {iters}")
    worker.expect("running")
    jitter()
    return time.monotonic()


class System:
    key = ""

    def start(self, url: str) -> None:
        self.url = url

    def prepare(self, mode: str, iters: int) -> None:
        """Get the next trial's worker ready to loop (not yet looping)."""

    def wait_ready(self) -> None:
        pass

    def trial(self, mode: str, iters: int) -> dict[str, float]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class LibStop(System):
    """A fresh registered process per stop: call -> raised, and return -> exited."""

    key = "lib_stop"

    def start(self, url: str) -> None:
        from tablevault_redis import VaultClient

        super().start(url)
        self.client = VaultClient(url, "benchpeers")
        self.worker: LineWorker | None = None
        self.heartbeat_warnings = 0

    def prepare(self, mode: str, iters: int) -> None:
        self.name = f"stop-{uuid.uuid4().hex[:10]}"
        self.worker = LineWorker(["stop", self.url, self.name], self.url)

    def wait_ready(self) -> None:
        assert self.worker is not None
        self.worker.expect("ready")

    def trial(self, mode: str, iters: int) -> dict[str, float]:
        worker = self.worker
        assert worker is not None
        pidfd = os.pidfd_open(worker.pid)
        try:
            worker.send(f"go {mode} {iters}")
            worker.expect("running")
            jitter()
            t_call = time.monotonic()
            self.client.stop_execution(self.name)
            t_ret = time.monotonic()
            raised = worker.expect("observed")["t"]
            t_exit = _common.wait_gone(pidfd, EVENT_TIMEOUT_S)
        finally:
            os.close(pidfd)
        if worker.proc.wait() != 0:
            raise RuntimeError(f"stopped worker exited {worker.proc.returncode}")
        self.heartbeat_warnings += "heartbeat" in worker.errors()
        self.close()
        return {
            "raised_from_call": raised - t_call,
            "call": t_ret - t_call,
            "exit_from_return": t_exit - t_ret,
            "exit_from_raised": t_exit - raised,
        }

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None


class LibPause(System):
    """One registered process, paused and resumed once per trial."""

    key = "lib_pause"

    def start(self, url: str) -> None:
        from tablevault_redis import VaultClient

        super().start(url)
        self.name = f"pause-{uuid.uuid4().hex[:10]}"
        self.client = VaultClient(url, "benchpeers")
        self.worker = LineWorker(["pause", url, self.name], url)
        self.worker.expect("ready")

    def trial(self, mode: str, iters: int) -> dict[str, float]:
        t_call = start_loop(self.worker, mode, iters)
        self.client.pause_execution(self.name)
        t_ret = time.monotonic()
        self._wait_paused()
        time.sleep(0.005)
        t_resume = time.monotonic()
        self.client.resume_execution(self.name)
        seen = self.worker.expect("observed")
        if seen["end"] < t_resume:
            raise RuntimeError("a checkpoint blocked, but not for the pause")
        return {
            "paused_from_call": seen["t"] - t_call,
            "paused_from_return": seen["t"] - t_ret,
            "call": t_ret - t_call,
        }

    def _wait_paused(self) -> None:
        deadline = time.monotonic() + procs.EVENT_TIMEOUT_S
        while self.client.get_process(self.name).status != "paused":
            if time.monotonic() > deadline:
                raise TimeoutError("the pause was not reached")
            time.sleep(0.002)

    def close(self) -> None:
        self.worker.close()


class Poll(System):
    """The floor of a polling design: one ``GET`` per iteration."""

    key = "poll"

    def start(self, url: str) -> None:
        import redis

        super().start(url)
        self.redis_key = f"bench:peers:poll:{uuid.uuid4().hex[:8]}"
        self.client = redis.Redis.from_url(url)
        self.worker = LineWorker(["poll", url, self.redis_key], url)
        self.worker.expect("ready")

    def trial(self, mode: str, iters: int) -> dict[str, float]:
        t_call = start_loop(self.worker, mode, iters)
        self.client.incr(self.redis_key)
        t_ret = time.monotonic()
        seen = self.worker.expect("observed")["t"]
        return {"observed_from_call": seen - t_call, "call": t_ret - t_call}

    def close(self) -> None:
        self.worker.close()
        self.client.close()


class JobSystem(System):
    """A peer whose jobs run inside its own worker service and report over Redis."""

    argv: list[str] = []

    def start(self, url: str) -> None:
        import redis

        super().start(url)
        self.redis = redis.Redis.from_url(url)
        self.service = Service([sys.executable, *self.argv], url)
        self.seq = 0

    def prepare(self, mode: str, iters: int) -> None:
        self.seq += 1
        self.tag = f"{self.key}-{os.getpid()}-{self.seq}"
        self.enqueue(mode, iters)

    def enqueue(self, mode: str, iters: int) -> None:
        raise NotImplementedError

    def wait_ready(self) -> None:
        self.ready = self.expect("ready", 60.0)

    def expect(self, ev: str, timeout: float = procs.EVENT_TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            self.service.check()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.key}: no {ev!r} report for {timeout} s")
            item = self.redis.blpop([report_key(self.tag)], timeout=min(left, 1.0))
            if item is not None and json.loads(item[1])["ev"] == ev:
                return dict(json.loads(item[1]))

    def go(self) -> None:
        self.redis.rpush(go_key(self.tag), "go")
        self.expect("running")
        jitter()

    def kill_trial(self) -> dict[str, float]:
        """Send the stop request; measure until the job's process is gone."""
        pidfd = os.pidfd_open(self.ready["pid"])
        try:
            self.go()
            t_call = time.monotonic()
            self.request()
            t_ret = time.monotonic()
            t_gone = _common.wait_gone(pidfd, EVENT_TIMEOUT_S)
        finally:
            os.close(pidfd)
        return {"gone_from_call": t_gone - t_call, "call": t_ret - t_call}

    def request(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.service.close()
        self.redis.close()
