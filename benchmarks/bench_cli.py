"""Command-line benchmarks: start-up cost of ``ps --json`` and stopping 300 workers.

Run from the repository root (starts its own redis-server on a free port)::

    .venv/bin/python benchmarks/bench_cli.py

It prints one JSON document and writes it to ``benchmarks/results/cli.json``.

1. ``ps --json`` wall time (``python -m tablevault_redis ps --json``, a namespace of
   20 live processes) against the floor any Python client pays: ``python -c "import
   redis; redis.Redis.from_url(URL).ping()"``. The two run alternately, the same
   number of times, in the same run; the row's value is the ratio of the medians.
   Both run from bytecode, as installed code does (pip compiles the package when it
   installs it, and redis-py's is compiled): the package is compiled first and
   ``PYTHONDONTWRITEBYTECODE`` is dropped from the children's environment, since
   compiling every module from source on each run would be measured otherwise.
   Target: at most 1.5x.
2. Stopping 300 workers from the CLI: 300 real worker processes, each with its own
   ``Vault`` (its connection, listener and heartbeat threads) calling
   ``checkpoint_execution()`` every ``--tick`` seconds. They are forked from this
   process after it imported the library and before it opened any connection or
   thread, so 300 start in seconds on two cores and share the interpreter's
   memory; each registers and runs like any worker. Timed: ``tablevault-redis stop
   --all --yes --wait`` as a subprocess, and until the last worker has exited with
   its record saying ``stopped``. Target: under 10 s. Beside it, one single-name
   ``stop`` call, the cost of the one-name-per-call way (times 300).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _common  # noqa: E402

import tablevault_redis  # noqa: E402
from tablevault_redis.errors import ExecutionStopped  # noqa: E402
from tablevault_redis.vault import Vault  # noqa: E402

ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "PYTHONPATH": str(_common.ROOT),
}


def _run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, env=ENV, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _worker(url: str, namespace: str, name: str, tick: float) -> None:
    """A forked child: one Vault, checkpoints until stopped; never returns."""
    code = 1
    try:
        with Vault("bench", name, redis_url=url, namespace=namespace) as vault:
            while True:
                time.sleep(tick)
                vault.checkpoint_execution()
    except ExecutionStopped:
        code = 0
    finally:
        os._exit(code)


def start_workers(url: str, namespace: str, count: int, tick: float) -> list[int]:
    """Fork ``count`` workers (this process has no connection or thread yet)."""
    pids = []
    for i in range(count):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            _worker(url, namespace, f"w{i:03d}", tick)
        pids.append(pid)
    return pids


def wait_live(url: str, namespace: str, count: int, timeout: float) -> None:
    """Poll (in a child process, so this one stays free of connections and threads
    for the next fork) until ``count`` processes are live."""
    check = (
        "import sys, time; from tablevault_redis import VaultClient\n"
        f"c = VaultClient({url!r}, {namespace!r}); deadline = time.monotonic() + {timeout}\n"
        f"while len(c.list_processes(include_ended=False)) < {count}:\n"
        "    if time.monotonic() > deadline: sys.exit(1)\n"
        "    time.sleep(0.2)\n"
    )
    if subprocess.run([sys.executable, "-c", check], env=ENV, check=False).returncode:
        raise SystemExit(f"not all of {count} workers registered within {timeout} s")


def _stop_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _cli(url: str, namespace: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "tablevault_redis", *args, "--url", url, "--namespace", namespace]


def bench_startup(url: str, rounds: int) -> dict[str, Any]:
    namespace = "bstart"
    pids = start_workers(url, namespace, 20, 0.2)
    try:
        wait_live(url, namespace, 20, 60)
        compileall.compile_dir(_common.ROOT / "tablevault_redis", quiet=1)  # as pip does
        ps = _cli(url, namespace, "ps", "--json")
        floor = [sys.executable, "-c", f"import redis; redis.Redis.from_url({url!r}).ping()"]
        _run(ps), _run(floor)  # warm the file cache
        cli, base = [], []
        for _ in range(rounds):
            cli.append(_run(ps))
            base.append(_run(floor))
    finally:
        _stop_all(pids)
    ratio = statistics.median(cli) / statistics.median(base)
    return _common.entry(
        "ps_json_vs_redis_import_and_ping",
        ratio,
        "x",
        baseline=statistics.median(base),
        ratio=ratio,
        target="<= 1.5",
        met=ratio <= 1.5,
        ps_json_s=_common.summary(cli),
        floor_s=_common.summary(base),
    )


def _exited(pids: list[int], timeout: float) -> tuple[float, int]:
    """Seconds until every worker exited, and how many exited with status 0."""
    start, clean, left = time.perf_counter(), 0, set(pids)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(0.01)
            continue
        left.discard(pid)
        clean += os.waitstatus_to_exitcode(status) == 0
    return time.perf_counter() - start, clean


def bench_stop(url: str, count: int, tick: float) -> list[dict[str, Any]]:
    namespace = "bstop"
    pids = start_workers(url, namespace, count, tick)
    try:
        wait_live(url, namespace, count, 600)
        one = _run(_cli(url, namespace, "stop", "w000", "--wait"))
        start = time.perf_counter()
        cli = _run(_cli(url, namespace, "stop", "--all", "--yes", "--wait", "--timeout", "60"))
        after, clean = _exited(pids, 120)
        total = time.perf_counter() - start
    finally:
        _stop_all(pids)
    with tablevault_redis.VaultClient(url, namespace) as client:
        stopped = sum(p.status == "stopped" for p in client.list_processes())
    return [
        _common.entry(
            f"stop_{count}_workers_from_the_cli",
            total,
            "s",
            target="< 10",
            met=total < 10 and stopped == count,
            cli_call_s=cli,
            until_all_exited_s=total,
            exited_after_cli_s=after,
            exited_cleanly=clean,
            records_stopped=stopped,
            checkpoint_tick_s=tick,
        ),
        _common.entry(
            "stop_one_worker_per_cli_call",
            one,
            "s",
            one_call_per_worker_s=one * count,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="ps --json runs (default 15)")
    parser.add_argument("--workers", type=int, default=300, help="workers to stop (300)")
    parser.add_argument("--tick", type=float, default=0.2, help="worker checkpoint period (s)")
    opts = parser.parse_args()
    with _common.private_redis(maxclients="4000") as server:
        rows = [bench_startup(server.url, opts.rounds)]
        rows += bench_stop(server.url, opts.workers, opts.tick)
        machine = _common.machine_info(redis=_common.redis_version(server))
    _common.emit("cli", {"benchmarks": rows, "machine": machine})


if __name__ == "__main__":
    main()
