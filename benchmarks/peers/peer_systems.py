"""RQ, Celery and dramatiq(-abort), each with a real worker service of its own."""

from __future__ import annotations

import time
import uuid

from systems import DRAMATIQ_WATCHER_S, JobSystem

QUEUE = "bench-peers"
SETTLE_S = 0.1


class Rq(JobSystem):
    """``send_stop_job_command``: the worker's pub/sub thread SIGKILLs the work horse."""

    key = "rq"

    def start(self, url: str) -> None:
        name = f"bench-{uuid.uuid4().hex[:8]}"
        self.argv = ["-c", "from rq.cli import main; main()", "worker", "--url", url]
        self.argv += ["--name", name, "--path", ".", "--quiet", QUEUE]
        super().start(url)
        from rq import Queue

        self.queue = Queue(QUEUE, connection=self.redis)

    def enqueue(self, mode: str, iters: int) -> None:
        self.job = self.queue.enqueue("jobs.rq_job", self.url, self.tag, mode, iters)

    def trial(self, mode: str, iters: int) -> dict[str, float]:
        return self.kill_trial()

    def request(self) -> None:
        from rq.command import send_stop_job_command

        send_stop_job_command(self.redis, self.job.id)


class Celery(JobSystem):
    """``revoke(terminate=True)``: the worker signals the prefork child running the task."""

    key = "celery"
    argv = ["-m", "celery", "-A", "celery_app", "worker", "--pool", "prefork"]
    argv += ["--concurrency", "1", "--without-heartbeat", "--without-gossip"]
    argv += ["--without-mingle", "--loglevel", "WARNING"]

    def start(self, url: str) -> None:
        self.argv = [*self.argv, "--hostname", f"bench-{uuid.uuid4().hex[:8]}@%h"]
        super().start(url)
        import celery_app

        self.app = celery_app.app
        self.task = celery_app.celery_job

    def enqueue(self, mode: str, iters: int) -> None:
        self._wait_new_child()
        self.result = self.task.delay(self.tag, mode, iters)

    def trial(self, mode: str, iters: int) -> dict[str, float]:
        result = self.kill_trial()
        self.killed_pid = self.ready["pid"]
        return result

    def _wait_new_child(self) -> None:
        """A task sent before the pool has replaced a killed child can wait seconds
        to start (measured: 5 s): wait for the replacement first."""
        import psutil

        killed = getattr(self, "killed_pid", None)
        if killed is None:
            return
        deadline = time.monotonic() + 30
        parent = psutil.Process(self.service.proc.pid)
        while not [c for c in parent.children() if c.pid != killed]:
            if time.monotonic() > deadline:
                raise TimeoutError("celery: the killed pool child was not replaced")
            time.sleep(0.005)
        time.sleep(SETTLE_S)

    def request(self) -> None:
        self.app.control.revoke(self.result.id, terminate=True)


class Dramatiq(JobSystem):
    """dramatiq-abort, cooperative: the actor checks ``abort_requested()`` per iteration."""

    key = "dramatiq"
    argv = ["-m", "dramatiq", "dramatiq_app", "--processes", "1", "--threads", "1"]

    def start(self, url: str) -> None:
        super().start(url)
        import dramatiq_app

        self.actor = dramatiq_app.dramatiq_job

    def enqueue(self, mode: str, iters: int) -> None:
        self.message = self.actor.send(self.tag, mode, iters)

    def trial(self, mode: str, iters: int) -> dict[str, float]:
        from dramatiq_abort import abort
        from dramatiq_abort.middleware import AbortMode

        # The abort watcher only waits on the keys of messages it knew when its last
        # one-second wait began: give it time to include this one.
        time.sleep(max(0.0, self.ready["t"] + DRAMATIQ_WATCHER_S - time.monotonic()))
        self.go()
        t_call = time.monotonic()
        abort(self.message.message_id, mode=AbortMode.ABORT, abort_timeout=600_000)
        t_ret = time.monotonic()
        seen = self.expect("observed")["t"]
        return {
            "observed_from_call": seen - t_call,
            "observed_from_return": seen - t_ret,
            "call": t_ret - t_call,
        }
