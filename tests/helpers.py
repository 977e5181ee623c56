"""Helpers for tests that run real worker processes: spawn, poll, read progress."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent / "scripts"
ROOT = Path(__file__).resolve().parents[1]


def wait_until(
    predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def child_env(url: str, namespace: str | None = None, **extra: str) -> dict[str, str]:
    """The environment for a child process: this interpreter's, pointed at ``url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABLEVAULT_")}
    env["TABLEVAULT_REDIS_URL"] = url
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    if namespace:
        env["TEST_NAMESPACE"] = namespace
    env.update(extra)
    return env


class Worker:
    """A ``tests/scripts/worker.py`` subprocess; its progress and markers are files."""

    def __init__(self, proc: subprocess.Popen[str], workdir: Path, name: str) -> None:
        self.proc = proc
        self.workdir = workdir
        self.name = name

    @property
    def pid(self) -> int:
        return self.proc.pid

    def progress(self) -> int:
        try:
            return int((self.workdir / "progress").read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def markers(self) -> list[str]:
        try:
            return (self.workdir / "markers").read_text().split()
        except FileNotFoundError:
            return []

    def ready(self) -> bool:
        return "ready" in self.markers()

    def wait_ready(self, timeout: float = 15.0) -> Worker:
        def check() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker {self.name} exited early:\n{self.output()}")
            return self.ready()

        wait_until(check, timeout, what=f"worker {self.name} to start")
        return self

    def advancing(self, timeout: float = 10.0) -> None:
        """Wait until the progress counter moves."""
        start = self.progress()
        wait_until(lambda: self.progress() > start, timeout, what=f"{self.name} to advance")

    def run_cell(self, n: int, text: str) -> None:
        """Hand ``cell_runner.py`` its cell ``n``, atomically: the runner must never
        read a half-written file."""
        tmp = self.workdir / f"cell-{n}.tmp"
        tmp.write_text(text)
        tmp.replace(self.workdir / f"cell-{n}.py")

    def release(self) -> None:
        """Create the ``go`` file a worker started with ``--hold`` waits for."""
        (self.workdir / "go").write_text("go")

    def wait_exit(self, timeout: float = 15.0) -> int:
        return self.proc.wait(timeout)

    def output(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        out = self.proc.stdout.read() if self.proc.stdout else ""
        return out or ""

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Spawner:
    """Starts workers and kills whatever is left at the end of a test."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[str]] = []

    def worker(
        self,
        url: str,
        namespace: str,
        name: str,
        *args: str,
        env: dict[str, str] | None = None,
        prefix: list[str] | None = None,
        script: str = "worker.py",
    ) -> Worker:
        """Run ``tests/scripts/<script> NAME WORKDIR *args`` (``worker.py`` by default)."""
        workdir = self.tmp_path / f"w-{name}-{len(self.procs)}"
        workdir.mkdir()
        cmd = [
            *(prefix or []),
            sys.executable,
            str(SCRIPTS / script),
            name,
            str(workdir),
            *args,
        ]
        proc = subprocess.Popen(
            cmd,
            # Workers get the Ctrl-C a terminal gives, even under a shell that started
            # this test run in the background with SIGINT ignored.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            env={**child_env(url, namespace), **(env or {})},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return Worker(proc, workdir, name)

    def run(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs
        )
        self.procs.append(proc)
        return proc

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            if proc.stdout:
                proc.stdout.close()


def iter_json_lines(text: str) -> Iterator[dict[str, Any]]:
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            yield json.loads(line)


def run_python(
    code: str, url: str, namespace: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` in a child pointed at ``url``, output captured."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env=child_env(url, namespace, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def pause_resume_stop(client: Any, worker: Worker) -> None:
    """The whole control cycle on a looping worker: a pause freezes its progress, a
    resume lets it go on, a stop ends it with exit status 0 and a ``stopped`` record."""
    name = worker.name
    worker.advancing()
    client.pause_execution(name, wait=True, timeout=5)
    frozen = worker.progress()
    assert client.get_process(name).status == "paused"
    client.resume_execution(name, wait=True, timeout=5)
    wait_until(lambda: worker.progress() > frozen, what=f"{name} to go on after resume")
    client.stop_execution(name, wait=True, timeout=5)
    assert worker.wait_exit() == 0
    assert client.get_process(name).status == "stopped"


def wait_judgeable(client: Any, ttl: float, interval: float) -> None:
    """Wait until the server has been up long enough for vault_cleanup to judge a
    process with these heartbeat settings (cleanup leaves a lapsed heartbeat alone
    while the server may just have restarted: see tablevault_redis.liveness)."""
    from tablevault_redis.liveness import RESTART_MARGIN

    needed = ttl + interval + RESTART_MARGIN
    wait_until(
        lambda: float(client.redis.info("server")["uptime_in_seconds"]) >= needed,
        needed + 5,
        interval=0.1,
        what=f"the server to be up for {needed} s",
    )


def run_notebook_in_thread(nb: Any) -> tuple[threading.Thread, list[BaseException]]:
    """Execute notebook ``nb`` in a real kernel on a thread (cells may block until
    the test stops them); the errors it raised are put in the returned list."""
    from nbclient import NotebookClient  # only the notebook tests need it

    errors: list[BaseException] = []

    def run() -> None:
        try:
            NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
        except BaseException as e:  # reported to the test thread
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors
