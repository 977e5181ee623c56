"""Controller-side process plumbing: child environments, line-protocol workers,
long-running peer services, and exact exit times through pidfds."""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

PEERS = Path(__file__).resolve().parent
ROOT = PEERS.parent.parent
EVENT_TIMEOUT_S = 30.0


def child_env(url: str) -> dict[str, str]:
    """The repository's own package and the job modules come first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PEERS), str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["BENCH_REDIS_URL"] = url
    env["PYTHONUNBUFFERED"] = "1"
    return env


def jitter() -> None:
    """A random 4-12 ms wait so that requests land anywhere in the worker's loop."""
    time.sleep(random.uniform(0.004, 0.012))


def log_tail(log: IO[bytes], limit: int = 2000) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-limit:]


class Service:
    """A peer's worker process (rq, celery, dramatiq), its output kept in a temp file."""

    def __init__(self, argv: list[str], url: str) -> None:
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            argv, cwd=PEERS, env=child_env(url), stdout=self.log, stderr=subprocess.STDOUT
        )

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.proc.args!r} exited:\n{log_tail(self.log)}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class LineWorker:
    """``workers.py`` in a subprocess: commands on stdin, JSON events on stdout."""

    def __init__(self, args: list[str], url: str) -> None:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, str(PEERS / "workers.py"), *args],
            env=child_env(url),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            bufsize=0,
        )
        self._buf = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")

    def expect(self, ev: str, timeout: float = EVENT_TIMEOUT_S) -> dict[str, Any]:
        while True:
            msg = self._read(timeout)
            if msg.get("ev") == ev:
                return msg

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError(f"worker {self.proc.args[2:]} sent nothing for {timeout} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"worker exited ({self.proc.wait()}):\n{self.errors()}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return dict(json.loads(line))

    def errors(self) -> str:
        return log_tail(self.stderr)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self.stderr.close()
