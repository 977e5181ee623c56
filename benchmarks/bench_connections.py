"""Connections and Redis memory per live worker: one connection (link.py) beside the
separate connections (``TABLEVAULT_ONE_CONNECTION=0``), real worker processes, same run.

Each mode starts one worker (tests/scripts/worker.py: a Vault, a checkpoint every
5 ms), whose start pays what a server pays once (the Lua scripts loaded and compiled,
the word index's keys for the script's words), then N more; once each has run and
heartbeat it reads ``CLIENT LIST`` (the workers' connections: all but this
benchmark's own) and ``INFO memory`` against the figure with the first worker alone
(each averaged over 6 s, see ``_mean_memory``), and stops them all with
``request_many``. The figure from the empty server, the one-time costs spread over
the workers, is in the diagnostics. The server is the newest ``redis-server`` found
on PATH (as for the tests; ``machine.redis_server`` names it): put another one first
on PATH to measure it. Rows:
``connections_per_live_worker``, ``redis_memory_per_live_worker`` (``used_memory``
growth / N: the worker's keys and its connections' buffers) and
``redis_client_memory_per_live_worker`` (``mem_clients_normal`` growth / N), each
with the separate connections' figure as its baseline.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

from tablevault_redis import VaultClient  # noqa: E402

WORKER = _common.ROOT / "tests" / "scripts" / "worker.py"
NAMESPACE = "conns"
_SAMPLES, _SAMPLE_GAP = 24, 0.25  # memory samples over 6 s


def _env(url: str, one: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABLEVAULT_")}
    env.update(
        TABLEVAULT_REDIS_URL=url,
        TEST_NAMESPACE=NAMESPACE,
        PYTHONPATH=str(_common.ROOT),
        TABLEVAULT_ONE_CONNECTION="1" if one else "0",
    )
    return env


def _mean_memory(admin: Any, samples: int) -> dict[str, float]:
    """``INFO memory``'s figures averaged over two heartbeat intervals: a connection's
    buffers grow with each command and are freed once it has been idle 2 s."""
    keys = ("used_memory", "mem_clients_normal")
    total = dict.fromkeys(keys, 0.0)
    for _ in range(samples):
        info = admin.info("memory")
        for k in keys:
            total[k] += info[k] / samples
        time.sleep(_SAMPLE_GAP)
    return total


def _start(url: str, name: str, one: bool) -> Any:
    workdir = Path(tempfile.mkdtemp(prefix="tvr-conn-"))
    argv = [sys.executable, str(WORKER), name, str(workdir)]
    return _common.start_worker(argv, _env(url, one), workdir, 60)


def measure(n: int, one: bool, settle: float) -> dict[str, Any]:
    """N workers in one mode on a fresh server, after a first worker that pays what a
    server pays once (the scripts loaded and compiled, the shared word index's keys):
    the memory per worker is the growth from N more, divided by N."""
    with _common.private_redis() as server:
        version = _common.redis_version(server)
        admin = server.client()
        mine = admin.client_id()
        empty = admin.info("memory")
        procs = [_start(server.url, "first", one)]
        try:
            time.sleep(settle)
            mem0 = _mean_memory(admin, _SAMPLES)
            procs += [_start(server.url, f"w{i}", one) for i in range(n)]
            time.sleep(settle)  # a few heartbeats each
            clients = [c for c in admin.client_list() if int(c["id"]) != mine]
            mem = _mean_memory(admin, _SAMPLES)
            with VaultClient(server.url, NAMESPACE) as client:
                client.request_many("stop", ["first", *(f"w{i}" for i in range(n))])
            for p in procs:
                p.wait(30)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            admin.close()
    return {
        "redis_server": version,
        "workers": n,
        "connections": len(clients),
        "connections_per_worker": len(clients) / (n + 1),
        "used_memory_per_worker_b": (mem["used_memory"] - mem0["used_memory"]) / n,
        "client_memory_per_worker_b": (mem["mem_clients_normal"] - mem0["mem_clients_normal"]) / n,
        # The same from the empty server, the one-time costs spread over the N + 1.
        "used_memory_per_worker_from_empty_b": (mem["used_memory"] - empty["used_memory"])
        / (n + 1),
        "first_worker_b": mem0["used_memory"] - empty["used_memory"],
        # CLIENT LIST at one moment: a connection's query buffer (qbuf-free) is freed
        # only after 2 s without a command (Redis 7.0), longer than a heartbeat gap.
        "client_list_tot_mem_mean_b": sum(int(c["tot-mem"]) for c in clients) / len(clients),
        "client_list_qbuf_free_mean_b": sum(int(c["qbuf-free"]) for c in clients) / len(clients),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--settle", type=float, default=7.0, help="seconds after start")
    args = parser.parse_args(argv)
    separate = measure(args.workers, False, args.settle)
    one = measure(args.workers, True, args.settle)
    e = _common.entry
    base = "separate connections (TABLEVAULT_ONE_CONNECTION=0), same run"
    rows = [
        e("connections_per_live_worker", one["connections_per_worker"], "connections",
          baseline=separate["connections_per_worker"], target="1",
          met=one["connections_per_worker"] == 1, baseline_is=base),
        e("redis_memory_per_live_worker", one["used_memory_per_worker_b"], "bytes",
          baseline=separate["used_memory_per_worker_b"],
          ratio=one["used_memory_per_worker_b"] / separate["used_memory_per_worker_b"],
          target="< 25,000", met=one["used_memory_per_worker_b"] < 25_000, baseline_is=base),
        e("redis_client_memory_per_live_worker", one["client_memory_per_worker_b"], "bytes",
          baseline=separate["client_memory_per_worker_b"], baseline_is=base),
    ]  # fmt: skip
    doc = {
        "benchmarks": rows,
        "machine": _common.machine_info(workers=args.workers, redis_server=one["redis_server"]),
        "diagnostics": {"one_connection": one, "separate_connections": separate},
    }
    _common.emit("connections", doc)


if __name__ == "__main__":
    main()
