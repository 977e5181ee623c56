"""The signal fast path (link_wakeup.py; wakeup.py on a cluster) in real worker
processes: a busy main thread sees a request at once, and the signals never hurt the
program: its own handlers, its system calls, its exit, its forked children and its
notebook kernel."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import nbformat
import pytest
import redis
from helpers import ROOT, child_env, run_notebook_in_thread, wait_until

from tablevault_redis import keys, wakeup

pytestmark = [
    pytest.mark.slow,  # every test here starts worker processes
    pytest.mark.skipif(not wakeup._signals(), reason="no I/O signals on this platform"),
]

# The worker: a Vault, then a pure-Python loop with a checkpoint about every 1 ms.
PRELUDE = """
import json, os, sys, time
from tablevault_redis import ExecutionStopped, Vault

def say(**kw):
    print(json.dumps(kw), flush=True)

def work(n=20000):
    s = 0
    for i in range(n):
        s += i * i
    return s
"""
BUSY = """
vault = Vault("u", sys.argv[1], namespace=os.environ["TEST_NAMESPACE"])
fast = vault._wakeup
say(ev="ready", fast=fast is not None)
try:
    while True:
        work()
        vault.checkpoint_execution()
except ExecutionStopped:
    say(ev="stopped", t=time.monotonic(), served=fast.served if fast else 0,
        signals=fast.signals if fast else 0)
    raise
"""


class Child:
    """A ``python -c`` worker whose stdout carries one JSON event per line."""

    def __init__(self, code: str, url: str, namespace: str, name: str, **env: str) -> None:
        self.name = name
        self._pending = b""  # bytes read from stdout, not yet returned as events
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PRELUDE + code, name],
            env=child_env(url, namespace, **env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def event(self, timeout: float = 20.0) -> dict[str, Any]:
        """The next line, read from the pipe's descriptor into our own buffer: a
        buffered file object could hold a second line that select() no longer sees
        (two processes writing at once, as after a fork)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(0.0, left))[0] if left > 0 else []
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                self.proc.kill()
                assert self.proc.stderr is not None
                raise AssertionError(f"{self.name}: no event; stderr:\n{self.proc.stderr.read()}")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return json.loads(line)

    def finish(self, timeout: float = 20.0) -> tuple[int, str]:
        rc = self.proc.wait(timeout)
        assert self.proc.stderr is not None
        return rc, self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()


def flood(url: str, channels: list[str], stop: threading.Event) -> threading.Thread:
    """Forged notifications on ``channels`` as fast as one connection sends them."""

    def run() -> None:
        r = redis.Redis.from_url(url)
        while not stop.is_set():
            for channel in channels:
                r.publish(channel, '{"seq": 999999, "action": "stop", "by": "forger"}')
        r.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def assert_clean_stop(rc: int, err: str) -> None:
    """Exit status 0 and nothing on stderr but the checkpoints' one-line notices (no
    warning, such as a heartbeat sent after the final status)."""
    assert rc == 0, f"exit status {rc}:\n{err}"
    notices = ("tablevault-redis: paused by ", "tablevault-redis: resumed;")
    lines = [ln for ln in err.splitlines() if not ln.startswith(notices) and "stopped by" not in ln]
    assert not lines, err


@pytest.mark.parametrize("fast", ["1", "0"])
def test_a_busy_worker_pauses_and_stops_with_the_fast_path_and_without(
    redis_url, namespace, client, children, fast
):
    child = Child(BUSY, redis_url, namespace, f"busy{fast}", TABLEVAULT_FAST_SIGNALS=fast)
    children.append(child)
    assert child.event() == {"ev": "ready", "fast": fast == "1"}
    client.pause_execution(child.name, wait=True, timeout=10)
    assert client.get_process(child.name).status == "paused"
    client.resume_execution(child.name, wait=True, timeout=10)
    wait_until(lambda: client.get_process(child.name).status == "running", 10)
    t0 = time.monotonic()
    client.stop_execution(child.name)
    stopped = child.event()
    assert stopped["t"] - t0 < 2.0
    # The pause and the stop reached a busy main thread: the kernel signalled it and
    # the handler ran (it lets the reader parse at once unless the reader, given the
    # GIL by the switch interval on a loaded machine, was quicker: "served").
    assert (stopped["signals"] >= 1) if fast == "1" else stopped["signals"] == 0, stopped
    assert_clean_stop(*child.finish())
    assert client.get_process(child.name).status == "stopped"


def test_a_program_with_its_own_sigio_handler_keeps_it(redis_url, namespace, client, children):
    code = """
import signal
mine = lambda signum, frame: None
signal.signal(signal.SIGIO, mine)
vault = Vault("u", sys.argv[1], namespace=os.environ["TEST_NAMESPACE"])
say(ev="ready", fast=vault._wakeup is not None, kept=signal.getsignal(signal.SIGIO) is mine)
while True:
    time.sleep(0.001)
    vault.checkpoint_execution()
"""
    child = Child(code, redis_url, namespace, "own-handler")
    children.append(child)
    assert child.event() == {"ev": "ready", "fast": False, "kept": True}
    client.stop_execution(child.name, wait=True, timeout=10)
    assert_clean_stop(*child.finish())


def test_twenty_stops_under_a_flood_exit_cleanly_without_warnings(
    redis_url, namespace, client, children
):
    """O_ASYNC is cleared before the interpreter resets the handlers: a notification
    during exit never ends the process with SIGIO's default action (status 157)."""
    stop_flood = threading.Event()
    names = [f"exit{i}" for i in range(20)]
    flood(redis_url, [keys.channel(namespace, n) for n in names], stop_flood)
    try:
        for batch in (names[:10], names[10:]):
            started = [Child(BUSY, redis_url, namespace, n) for n in batch]
            children.extend(started)
            for child in started:
                assert child.event()["fast"] is True
            for child in started:
                client.stop_execution(child.name)
            for child in started:
                assert child.event()["ev"] == "stopped"
                assert_clean_stop(*child.finish())
    finally:
        stop_flood.set()


def test_system_calls_in_the_main_thread_work_under_a_flood(redis_url, namespace, client, children):
    code = """
import selectors, socket, subprocess, threading
vault = Vault("u", sys.argv[1], namespace=os.environ["TEST_NAMESPACE"])
fast = vault._wakeup
say(ev="ready", fast=fast is not None)
sys.stdin.readline()  # the flood is on
before = fast.signals
results = {}
t = time.monotonic(); time.sleep(0.3); results["sleep"] = time.monotonic() - t
results["subprocess"] = subprocess.run(["sleep", "0.2"]).returncode
a, b = socket.socketpair()
threading.Timer(0.2, b.send, (b"hi",)).start()
results["recv"] = a.recv(10).decode()
r, w = os.pipe()
threading.Timer(0.2, os.write, (w, b"line")).start()
results["read"] = os.read(r, 10).decode()
sel = selectors.DefaultSelector()
r2, w2 = os.pipe()
sel.register(r2, selectors.EVENT_READ)
threading.Timer(0.2, os.write, (w2, b"x")).start()
results["select"] = len(sel.select(5))
results["signals"] = fast.signals - before
say(ev="done", **results)
while True:
    work()
    vault.checkpoint_execution()
"""
    child = Child(code, redis_url, namespace, "syscalls")
    children.append(child)
    assert child.event()["fast"] is True
    stop_flood = threading.Event()
    flood(redis_url, [keys.channel(namespace, child.name)], stop_flood)
    try:
        assert child.proc.stdin is not None
        child.proc.stdin.write("go\n")
        child.proc.stdin.flush()
        done = child.event()
    finally:
        stop_flood.set()
    assert done["sleep"] >= 0.3 and done["subprocess"] == 0 and done["select"] == 1
    assert done["recv"] == "hi" and done["read"] == "line"
    assert done["signals"] > 10, done  # the flood did reach the handler
    client.stop_execution(child.name)
    assert_clean_stop(*child.finish())


def test_a_forked_child_is_unaffected_and_the_parent_keeps_its_fast_path(
    redis_url, namespace, client, children
):
    code = """
from tablevault_redis import signal_hooks
vault = Vault("u", sys.argv[1], namespace=os.environ["TEST_NAMESPACE"])
fast = vault._wakeup
say(ev="ready", fast=fast is not None)
pid = os.fork()
if pid == 0:
    time.sleep(0.3)
    ok = signal_hooks._active is None and not fast.armed
    os.write(1, (json.dumps({"ev": "child", "ok": ok}) + "\\n").encode())
    os._exit(0)
say(ev="forked")
os.waitpid(pid, 0)
say(ev="busy", armed=fast.armed)
try:
    while True:
        work()
        vault.checkpoint_execution()
except ExecutionStopped:
    say(ev="stopped", t=time.monotonic(), served=fast.served, signals=fast.signals)
    raise
"""
    child = Child(code, redis_url, namespace, "forker")
    children.append(child)
    assert child.event()["fast"] is True
    events = [child.event(), child.event()]
    assert {"ev": "child", "ok": True} in events and {"ev": "forked"} in events
    assert child.event() == {"ev": "busy", "armed": True}
    time.sleep(0.05)  # well inside the busy loop
    client.stop_execution(child.name)
    stopped = child.event()
    assert stopped["ev"] == "stopped" and stopped["signals"] >= 1
    assert_clean_stop(*child.finish())


def test_a_busy_notebook_cell_is_stopped_by_the_fast_path(
    monkeypatch, redis_url, namespace, client
):
    for name in list(os.environ):
        if name.startswith("TABLEVAULT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TABLEVAULT_REDIS_URL", redis_url)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(c)
        for c in (
            "from tablevault_redis import Vault\n"
            f"vault = Vault('u', 'nb', namespace={namespace!r})",
            "fast = vault._wakeup\nassert fast is not None\nstarted = fast.signals",
            "while True:\n    sum(i * i for i in range(20000))\n    vault.checkpoint_execution()",
            "print(fast.signals - started)",
        )
    ]
    thread, errors = run_notebook_in_thread(nb)

    def busy_cell_open() -> bool:
        try:
            items = client.get_code_items("nb")
            return any("while True" in i.text and i.status == "open" for i in items)
        except Exception:
            return False

    wait_until(busy_cell_open, timeout=60, what="the busy cell to start")
    client.stop_execution("nb", wait=True, timeout=10)
    thread.join(60)
    assert not errors and not thread.is_alive()
    errors_shown = [o for o in nb.cells[2].outputs if o.get("output_type") == "error"]
    assert [o["ename"] for o in errors_shown] == ["ExecutionStopped"]
    assert int(nb.cells[3].outputs[0]["text"]) >= 1  # the kernel signalled the stop
    assert not any(o.get("output_type") == "error" for o in nb.cells[1].outputs)


def test_fast_exit_keeps_the_final_status_and_what_the_program_closed(
    redis_url, namespace, client, children, tmp_path
):
    out = tmp_path / "out.txt"
    code = f"""
vault = Vault("u", sys.argv[1], namespace=os.environ["TEST_NAMESPACE"], fast_exit=True)
say(ev="ready", fast=vault._wakeup is not None)
try:
    while True:
        work()
        vault.checkpoint_execution()
except ExecutionStopped:
    with open({str(out)!r}, "w") as f:  # closed: written whatever the exit
        f.write("end")
    raise
"""
    child = Child(code, redis_url, namespace, "fast-exit")
    children.append(child)
    assert child.event()["fast"] is True
    client.stop_execution(child.name)
    assert_clean_stop(*child.finish())
    assert client.get_process(child.name).status == "stopped"
    assert out.read_text() == "end"
