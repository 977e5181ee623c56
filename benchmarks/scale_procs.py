"""The simulator processes of bench_scale_workers.py, seen from the benchmark: how
they connect (and the fd limit that needs), start them, follow what they print
(scale_sim.py's protocol), wait with deadlines, stop them.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

SIM = Path(__file__).resolve().parent / "scale_sim.py"
SPARE_FDS = 1_000  # the controller, the admin client, the server's own files


def fd_limit(needed: int) -> tuple[int, int]:
    """Raise RLIMIT_NOFILE (inherited by the server and the simulators) to ``needed``
    if allowed (the hard limit, or above it when privileged); the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max(needed, soft)  # never lower it
    for limit in ((needed, max(needed, hard)), (min(needed, hard), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limit)
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def choose_connections(wanted: str, largest: int) -> tuple[str, int, str]:
    """How the simulated workers connect (scale_sim.py ``--conns``), the connections
    per worker, and why: ``auto`` is ``link``, the one connection a worker holds today;
    ``2`` (pub/sub and commands, as a worker holds them on a Redis Cluster or over TLS)
    and ``1`` (pub/sub, the commands on a shared pool) on request. The fd limit is
    raised for them as far as allowed."""
    mode = "link" if wanted == "auto" else wanted
    per_worker = 2 if mode == "2" else 1
    need = per_worker * largest + SPARE_FDS
    soft, _hard = fd_limit(need)
    why = {
        "link": "1 per worker (RESP3) carrying its subscription and every command, as a"
        " worker holds today",
        "2": "2 per worker (pub/sub + commands), as a worker holds them on a Redis Cluster"
        " or over TLS",
        "1": "1 per worker (pub/sub) + a shared command pool per simulator process",
    }[mode]
    short = f"; {need} needed" if soft < need else ""
    return mode, per_worker, f"{why} (--conns {wanted}); fd limit {soft}{short}"


class Sims:
    """``procs`` processes holding ``names`` between them (the same share each)."""

    def __init__(self, port: int, names: list[str], procs: int, options: list[str]) -> None:
        self.cond = threading.Condition()
        self.ready = 0
        self.seen: dict[str, tuple[float, str]] = {}
        self.notified: dict[str, float] = {}  # name -> its first notification (0: none)
        self.rearmed: set[str] = set()
        self.exited: set[str] = set()
        self.restarted: set[str] = set()
        self.finished: dict[str, float] = {}  # name -> when its final status was written
        self.stats: list[dict[str, Any]] = []
        self.oks = 0
        self.dead = 0
        self.procs: list[subprocess.Popen[str]] = []
        self.errors: list[IO[str]] = []
        share = -(-len(names) // procs)
        for first in range(0, len(names), share):
            count = min(share, len(names) - first)
            self._start(port, first, count, options)

    def _start(self, port: int, first: int, count: int, options: list[str]) -> None:
        errors = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by close())
        command = [sys.executable, str(SIM), "--port", str(port), "--first", str(first)]
        proc = subprocess.Popen(
            command + ["--count", str(count), *options],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            bufsize=1,
        )
        self.procs.append(proc)
        self.errors.append(errors)
        threading.Thread(target=self._follow, args=(proc,), daemon=True).start()

    def _follow(self, proc: subprocess.Popen[str]) -> None:
        """Read the lines from the pipe's descriptor, a chunk at a time, and wake the
        waiters once per chunk (not per line: 10,000 workers stop at once)."""
        assert proc.stdout is not None
        fd, rest = proc.stdout.fileno(), b""
        while chunk := os.read(fd, 1 << 16):
            *lines, rest = (rest + chunk).split(b"\n")
            with self.cond:
                for line in lines:
                    kind, _, words = line.decode().strip().partition(" ")
                    self._record(kind, words)
                self.cond.notify_all()
        with self.cond:
            self.dead += 1
            self.cond.notify_all()

    def _record(self, kind: str, rest: str) -> None:
        if kind == "seen":
            name, at, source, notified = rest.split()
            self.seen.setdefault(name, (float(at), source))
            self.notified.setdefault(name, float(notified))
        elif kind == "rearmed":
            name, at = rest.split()
            self.rearmed.add(name)
            self.finished.setdefault(name, float(at))
        elif kind == "exited":
            name, at = rest.split()
            self.exited.add(name)
            self.finished.setdefault(name, float(at))
        elif kind == "restarted":
            self.restarted.add(rest)
        elif kind == "ready":
            self.ready += int(rest)
        elif kind == "stats":
            self.stats.append(json.loads(rest))
        elif kind == "ok":
            self.oks += 1

    def wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``done()`` (checked under the lock); fail on timeout or a dead sim."""
        with self.cond:
            if self.cond.wait_for(lambda: done() or self.dead > 0, timeout) and done():
                return
        raise RuntimeError(f"simulated workers: {what} did not happen in {timeout} s\n{self.log()}")

    def send(self, line: str) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(line + "\n")
            proc.stdin.flush()

    def collect_stats(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Each process's CPU time, loop lag and counters (lag since the last call)."""
        with self.cond:
            self.stats = []
        self.send("stats")
        self.wait(lambda: len(self.stats) == len(self.procs), timeout, "stats")
        return sorted(self.stats, key=lambda s: int(s["first"]))

    def wait_beating(self, count: int, timeout: float, every: float = 0.2) -> None:
        """Poll until ``count`` workers each had a heartbeat answered: a worker's first
        beat is not a steady one (over one connection it is an ``EVAL``, as the
        library's first lean beat)."""
        deadline = time.monotonic() + timeout
        while sum(s["beating"] for s in self.collect_stats()) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"simulated workers: not all {count} beat in {timeout} s")
            time.sleep(every)

    def on_stop(self, then: str, timeout: float = 30.0) -> None:
        """What a stopped worker does next: ``exit`` or ``rearm`` (a new run)."""
        with self.cond:
            self.oks = 0
        self.send(f"{then}_on_stop")
        self.wait(lambda: self.oks == len(self.procs), timeout, f"{then}_on_stop")

    def restart(self, count: int, timeout: float = 180.0) -> None:
        """Start the ``count`` workers that exited again; wait until they run."""
        with self.cond:
            self.restarted.clear()
            self.exited.clear()
        self.send("restart")
        self.wait(lambda: len(self.restarted) >= count, timeout, "exited workers restarting")

    def log(self) -> str:
        text = []
        for errors in self.errors:
            errors.seek(0)
            text.append(errors.read()[-2000:])
        return "\n".join(text)

    def close(self) -> None:
        """Quit each process (end of input); kill what is still there after 30 s."""
        for proc in self.procs:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for errors in self.errors:
            errors.close()
