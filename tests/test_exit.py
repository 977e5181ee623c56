"""A stopped or finished worker's exit (exiting.py) in real processes: nothing printed
but the stop notice, every queued record written, and what the program left open
flushed and finalized, with the quick exit (the default) and without it."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import child_env

pytestmark = pytest.mark.slow  # every test here starts worker processes

# Quick exit by default ("") and the interpreter's own teardown ("0").
FAST_EXIT = pytest.mark.parametrize("fast_exit", ["", "0"])

STOPPED = """
import json, os, sys
from tablevault_redis import ExecutionStopped, Vault

vault = Vault("u", sys.argv[1], namespace=os.environ["TEST_NAMESPACE"])
print(json.dumps({"ev": "ready"}), flush=True)
n = 0
try:
    while True:
        for _ in range(200):  # queued in the writer thread, then the checkpoint
            vault.append_record("burst", {"n": n})
            n += 1
        vault.checkpoint_execution()
except ExecutionStopped:
    print(json.dumps({"ev": "stopped", "queued": n}), flush=True)
    raise
"""

# Files left open at module level, behind a csv writer and in a reference cycle
# whose __del__ writes once more: all of it must reach the disk at exit. ``wave``,
# a standard library module only sys.modules references: the quick exit keeps it
# while it collects the program's objects; the interpreter's own teardown has
# dropped it by then.
LEFT_OPEN = """
import csv, gc, importlib, os, signal, sys, weakref
from tablevault_redis import Vault

out = sys.argv[2]
log = open(os.path.join(out, "module.txt"), "w")
log.write("module")
rows = csv.writer(open(os.path.join(out, "rows.csv"), "w", newline=""))
rows.writerow(["a", "b"])

class Node:
    def __init__(self, path):
        self.me = self
        self.f = open(path, "w")
        self.f.write("cycle")
        self.wave = weakref.ref(importlib.import_module("wave"))

    def __del__(self):
        self.f.write(f" finalized, modules in place: {self.wave() is not None}")
        self.f.close()

node = Node(os.path.join(out, "cycle.txt"))
vault = Vault("u", sys.argv[1], namespace=os.environ["TEST_NAMESPACE"])
if sys.argv[3] == "signal":  # the signal module keeps this namespace referenced
    signal.signal(signal.SIGUSR2, lambda *args: None)
if sys.argv[3] == "gc":  # so does gc, and the callback reads a global
    gc.callbacks.append(lambda phase, info: os.getpid())
last = open(os.path.join(out, "last.txt"), "w")  # no collection has seen it yet
last.write("last")
"""


def _start(code: str, url: str, namespace: str, *args: str, fast_exit: str) -> Any:
    extra = {"TABLEVAULT_FAST_EXIT": fast_exit} if fast_exit else {}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=child_env(url, namespace, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _run_clean(code: str, url: str, namespace: str, *args: str, fast_exit: str = "") -> Any:
    """Run ``code`` to its end: it exits 0 and writes nothing on stderr; the process
    and its stdout."""
    proc = _start(code, url, namespace, *args, fast_exit=fast_exit)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and not err, err.decode()
    return proc, out.decode()


def _event(proc: Any, timeout: float = 20.0) -> dict[str, Any]:
    """The child's next stdout line, waited for with a deadline."""
    fd = proc.stdout.fileno()
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            proc.kill()
            raise AssertionError(f"no event; stderr:\n{proc.communicate()[1].decode()}")
        chunk = os.read(fd, 1)
        if not chunk:
            raise AssertionError(f"child ended; stderr:\n{proc.communicate()[1].decode()}")
        line += chunk
    return json.loads(line)


@FAST_EXIT
def test_a_stopped_worker_exits_with_every_queued_record_and_no_warning(
    redis_url, namespace, client, fast_exit
):
    name = f"stopped{fast_exit or 'quick'}"
    proc = _start(STOPPED, redis_url, namespace, name, fast_exit=fast_exit)
    try:
        assert _event(proc) == {"ev": "ready"}
        client.stop_execution(name)
        queued = _event(proc)["queued"]
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines = err.decode().splitlines()
    assert proc.returncode == 0, err.decode()
    assert len(lines) == 1 and "stopped by" in lines[0], err.decode()  # the notice only
    assert client.get_process(name).status == "stopped"
    assert [r["n"] for r in client.get_records("burst", name)] == list(range(queued))


# (TABLEVAULT_FAST_EXIT, what keeps __main__'s namespace referenced at the end). The
# interpreter's own teardown never finalizes a namespace a gc callback holds: its
# module-level file stays unflushed there, so that case is the quick exit's only.
@pytest.mark.parametrize(
    ("fast_exit", "held"),
    [("", "free"), ("0", "free"), ("", "signal"), ("0", "signal"), ("", "gc")],
)
def test_what_the_program_left_open_is_flushed_and_finalized_at_exit(
    redis_url, namespace, client, fast_exit, held, tmp_path: Path
):
    name = f"leftopen{fast_exit or 'quick'}{held}"
    _run_clean(LEFT_OPEN, redis_url, namespace, name, str(tmp_path), held, fast_exit=fast_exit)
    assert client.get_process(name).status == "completed"
    assert (tmp_path / "module.txt").read_text() == "module"
    assert (tmp_path / "last.txt").read_text() == "last"
    assert (tmp_path / "rows.csv").read_bytes() == b"a,b\r\n"
    quick = fast_exit == ""
    assert (tmp_path / "cycle.txt").read_text() == f"cycle finalized, modules in place: {quick}"


# Finalizers that use the module's globals (a module, a function, a constant), on an
# object only the namespace references and on one in a reference cycle; beside them
# a proxy whose __class__ raises. The quick
# exit's only: the interpreter's own teardown runs them with the builtins gone
# ("NameError: name 'open' is not defined").
GLOBALS = """
import os, sys
from tablevault_redis import Vault

out = sys.argv[2]
PREFIX = "pid"

def note(name):
    with open(os.path.join(out, name), "w") as f:
        f.write(f"{PREFIX} {os.getpid()}")

class Plain:
    def __del__(self):
        note("plain.txt")

class Cycle:
    def __init__(self):
        self.me = self

    def __del__(self):
        note("cycle.txt")

class Proxy:  # as celery's app proxy: asking its __class__ imports, which fails at exit
    @property
    def __class__(self):
        raise ImportError("sys.meta_path is None, Python is likely shutting down")

plain = Plain()
cycle = Cycle()
proxy = Proxy()
vault = Vault("u", sys.argv[1], namespace=os.environ["TEST_NAMESPACE"])
"""


def test_finalizers_at_exit_find_the_module_globals_they_use(
    redis_url, namespace, client, tmp_path: Path
):
    proc, _ = _run_clean(GLOBALS, redis_url, namespace, "globals", str(tmp_path))
    assert (tmp_path / "plain.txt").read_text() == f"pid {proc.pid}"
    assert (tmp_path / "cycle.txt").read_text() == f"pid {proc.pid}"


# A finalizer reading a global dict bound after the global it is held by (a
# placeholder set later in main()), and one that removes another global as it goes.
ORDER = """
import os, sys
from tablevault_redis import Vault

out = sys.argv[2]
conn = None  # set in main(): its place in the namespace comes before `settings`
settings = {"who": ["w"]}
cache = [1, 2, 3]

class Conn:
    def __del__(self):
        with open(os.path.join(out, "closed.txt"), "w") as f:
            f.write("closed for " + settings["who"][0])

class Holder:
    def __del__(self):
        globals().pop("cache", None)

class Node:
    def __init__(self):
        self.me = self
        self.f = open(os.path.join(out, "node.txt"), "w")
        self.f.write("node")

def main():
    global conn
    conn = Conn()

main()
node = Node()
holder = Holder()
vault = Vault("u", sys.argv[1], namespace=os.environ["TEST_NAMESPACE"])
"""


def test_finalizers_run_before_the_data_they_read_goes_and_may_remove_globals(
    redis_url, namespace, client, tmp_path: Path
):
    _run_clean(ORDER, redis_url, namespace, "order", str(tmp_path))
    assert (tmp_path / "closed.txt").read_text() == "closed for w"
    assert (tmp_path / "node.txt").read_text() == "node"


# A program module of the worker's, imported before tablevault_redis (its namespace
# is among what the import froze) or after it; each leaves a file open.
PROGRAM_MODULE = """
import os, sys

log = open(os.path.join(sys.argv[2], __name__ + ".txt"), "w")
log.write(__name__)
"""
IMPORTS = """
import os, sys
sys.path.insert(0, sys.argv[2])
import before
from tablevault_redis import Vault
import after

vault = Vault("u", sys.argv[1], namespace=os.environ["TEST_NAMESPACE"])
"""


@FAST_EXIT
def test_the_files_program_modules_left_open_are_flushed_at_exit(
    redis_url, namespace, client, fast_exit, tmp_path: Path
):
    for module in ("before", "after"):
        (tmp_path / f"{module}.py").write_text(PROGRAM_MODULE)
    name = f"imports{fast_exit or 'quick'}"
    _run_clean(IMPORTS, redis_url, namespace, name, str(tmp_path), fast_exit=fast_exit)
    assert (tmp_path / "before.txt").read_text() == "before"
    assert (tmp_path / "after.txt").read_text() == "after"


# How many objects gc.freeze() set aside, once Vault is imported and once one is made.
FREEZES = """
import gc, json, os, sys
from tablevault_redis import Vault
imported = gc.get_freeze_count()
vault = Vault("u", os.environ["TEST_NAME"], namespace=os.environ["TEST_NAMESPACE"], {kw})
print(json.dumps([imported, gc.get_freeze_count()]), flush=True)
vault.close()
"""


@pytest.mark.parametrize(
    ("how", "kw", "fast_exit", "frozen"),
    [
        ("script", "", "", (True, True)),
        ("script", "fast_exit=False", "", (True, False)),  # undone
        ("script", "", "0", (False, False)),
        ("interactive", "", "", (False, False)),  # python -i
        ("inspect", "", "", (False, False)),  # PYTHONINSPECT=1
        ("ipython", "", "", (False, False)),
    ],
)
def test_the_library_is_frozen_at_its_import_in_scripts_with_the_quick_exit_only(
    redis_url, namespace, client, how, kw, fast_exit, frozen
):
    code = FREEZES.replace("{kw}", kw)
    argv = {
        "script": [sys.executable, "-c", code],
        "interactive": [sys.executable, "-i", "-c", code],
        "inspect": [sys.executable, "-c", code],
        "ipython": [sys.executable, "-m", "IPython", "--quick", "--no-banner", "-c", code],
    }[how]
    extra = {"TABLEVAULT_FAST_EXIT": fast_exit} if fast_exit else {}
    if how == "inspect":
        extra["PYTHONINSPECT"] = "1"
    env = child_env(redis_url, namespace, TEST_NAME=f"freeze{how}{len(kw)}{fast_exit}", **extra)
    proc = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr.decode()
    counts = json.loads(proc.stdout.decode().splitlines()[-1])
    assert (counts[0] > 0, counts[1] > 0) == frozen, counts


# A multiprocessing worker forked from a Vault process inherits its SIGTERM handler;
# terminate() must end it as it ends any child, silently, and leave the Vault alone.
FORKED = """
import multiprocessing, os, sys, time
from tablevault_redis import Vault

def sleeper():
    time.sleep(60)

vault = Vault("u", sys.argv[1], namespace=os.environ["TEST_NAMESPACE"])
child = multiprocessing.get_context("fork").Process(target=sleeper)
child.start()
child.terminate()
child.join(20)
print(child.exitcode, flush=True)
"""


def test_a_forked_child_terminated_ends_as_by_default_and_says_nothing(
    redis_url, namespace, client
):
    _, out = _run_clean(FORKED, redis_url, namespace, "forker")
    assert out.split() == [str(-signal.SIGTERM)]
    assert client.get_process("forker").status == "completed"


# What a forked child starts with, and its parent goes on with: SIGTERM and SIGHUP
# are blocked across fork() (one arriving before CPython resets the child's signal
# state would otherwise be lost with the flag that reset clears), then the child has
# their default action and both have them unblocked.
FORK_STATE = """
import json, os, signal, sys
from tablevault_redis import Vault

def state():
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    return [[signal.getsignal(s) == signal.SIG_DFL, s in blocked]
            for s in (signal.SIGTERM, signal.SIGHUP)]

vault = Vault("u", sys.argv[1], namespace=os.environ["TEST_NAMESPACE"])
pid = os.fork()
if pid == 0:
    print("child", json.dumps(state()), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print("parent", json.dumps(state()), flush=True)
"""


def test_a_forked_child_has_the_default_stop_signals_unblocked(redis_url, namespace):
    _, out = _run_clean(FORK_STATE, redis_url, namespace, "forkstate")
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert json.loads(lines["child"]) == [[True, False], [True, False]]
    assert json.loads(lines["parent"]) == [[False, False], [False, False]]
