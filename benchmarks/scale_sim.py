"""One process of simulated workers for bench_scale_workers.py (run by it, not by hand).

Each simulated worker does on the wire what a worker process of the library does
(tablevault_redis/run.py, link.py): it registers through the ``register`` script (and
lists itself in the processes index, opens its code item), subscribes to its control
channel, heartbeats every interval through the ``heartbeat`` script (sending the
request state it holds, as the library does), and now and then appends a record. A
notification is taken as the library's listener takes it: the worker re-reads its
request state (``request_state``) and applies it with the library's own
``ControlState``, and the request the notification announces is a hint that its
checkpoint verifies at once with ``ack stopping`` (sent right after the read, on the
same connection). When the read says stop, or the verification answers ``stopping``
(whichever comes first), it prints ``seen <name> <monotonic> <notify|verified|heartbeat>
<first notification>``; once acknowledged (``ack`` stopping, once per run) it writes
its final status (``finish``) and either registers a new run (a restarted worker, so N
stays constant) or closes its connections (after ``exit_on_stop``, as a stopped process
exits; ``restart`` starts those again, for the next round).

Connections (``--conns``): ``link`` (the default), one RESP3 connection per worker
carrying its subscription and every command, as the library's worker holds it
(scale_link.py: the handshake, the reads as ``EVAL``, the lean heartbeat, no PING);
``2``, a pub/sub and a command connection per worker, as a worker holds them where one
cannot be used (a Redis Cluster, TLS), with the two-connection listener's reads (at
most one per 20 ms) and a health-check PING on the pub/sub connection every heartbeat
(scale_worker.py); ``1``, the same but the commands on ``--pool`` connections shared by
this process's workers.

Protocol with the benchmark: lines on stdout (``ready N``, ``seen NAME T SOURCE T0``,
``rearmed NAME T``, ``exited NAME T`` with T when its final status was written,
``restarted NAME``, ``stats JSON``, ``ok WHAT``); commands on stdin (``exit_on_stop``,
``rearm_on_stop``, ``restart``, ``stats``, ``quit``; end of input also quits).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # this checkout's package

from scale_link import LinkWorker  # noqa: E402
from scale_wire import Wire, connect, sha  # noqa: E402
from scale_worker import NAMESPACE, Worker  # noqa: E402

from tablevault_redis import identity  # noqa: E402
from tablevault_redis.lua_source import source  # noqa: E402

__all__ = ["NAMESPACE", "Sim"]
USED_SCRIPTS: tuple[str, ...] = (
    "register",
    "open_code",
    "heartbeat",
    "request_state",
    "ack",
    "finish",
)
USED_SCRIPTS += ("record_append",)
CONNECT_AT_ONCE = 200  # connections being opened at a time (the server's accept backlog)


class Sim:
    """This process's settings, counters and shared command connections."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.host, self.port = args.host, args.port
        self.interval, self.ttl = args.interval, args.ttl
        self.append_chance = 1.0 / args.append_every if args.append_every > 0 else 0.0
        self.conns: str = args.conns  # "link", "1" or "2" (see the module docstring)
        self.first = args.first  # names this process in its stats
        self.pool: list[Wire] = []  # shared command connections (--conns 1)
        self.on_stop = "rearm"  # or "exit": close the connections, until ``restart``
        self.exited: list[Worker] = []
        self.gate = asyncio.Semaphore(CONNECT_AT_ONCE)
        self.identity = identity.describe()
        self.counts = {"beats": 0, "pings": 0, "reads": 0, "appends": 0, "registers": 0}
        self.counts["beating"] = 0  # workers whose heartbeat was answered at least once
        self.lags: list[float] = []
        self.tasks: set[asyncio.Task[None]] = set()  # held, so they are not collected early
        self.out: list[str] = []

    def emit(self, *words: Any) -> None:
        """Queue a line for the benchmark; the lines of one event-loop pass go out in
        one write (a flush per line cost 10,000 system calls when all N stop at once;
        the times in them are taken when they happen, not when they are sent)."""
        self.out.append(" ".join(str(w) for w in words))
        if len(self.out) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        lines, self.out = self.out, []
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()

    def stats(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        lags = sorted(self.lags) or [0.0]
        self.lags = []
        return {
            "first": self.first,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "max_rss_kb": usage.ru_maxrss,
            "loop_lag_ms_p50": 1000 * lags[len(lags) // 2],
            "loop_lag_ms_max": 1000 * lags[-1],
            **self.counts,
        }


async def _load_scripts(sim: Sim) -> None:
    """SCRIPT LOAD what the workers run, so EVALSHA never misses."""
    wire = await connect(sim.host, sim.port)
    for name in USED_SCRIPTS:
        if await wire.call("SCRIPT", "LOAD", source(name)) != sha(name):
            raise RuntimeError(f"script {name}: the server computed another SHA1")
    wire.close()


async def _start_all(sim: Sim, workers: list[Worker], pool_size: int) -> None:
    if sim.conns == "1":
        sim.pool = [await connect(sim.host, sim.port) for _ in range(pool_size)]
    await asyncio.gather(*(_start(sim, w) for w in workers))


async def _start(sim: Sim, worker: Worker, say: str = "") -> None:
    async with sim.gate:
        await worker.start()
    if say:
        sim.emit(say, worker.name)


async def _restart(sim: Sim) -> None:
    """The workers that exited start again (new connections, a new run each)."""
    workers, sim.exited = sim.exited, []
    await asyncio.gather(*(_start(sim, w, "restarted") for w in workers))


async def _watch_loop_lag(sim: Sim, every: float = 0.05) -> None:
    """How late this process's event loop runs a timer: the simulator's own delay."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(every)
        sim.lags.append(max(0.0, time.monotonic() - before - every))


async def _commands(sim: Sim) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    restarts: set[asyncio.Task[None]] = set()  # held, so they are not collected early
    while line := (await reader.readline()).decode().strip():
        if line == "quit":
            return
        if line in ("exit_on_stop", "rearm_on_stop"):
            sim.on_stop = line.split("_")[0]
            sim.emit("ok", line)
        elif line == "restart":
            restarts.add(asyncio.get_running_loop().create_task(_restart(sim)))
        elif line == "stats":
            sim.emit("stats", json.dumps(sim.stats()))


async def main_async(args: argparse.Namespace) -> None:
    sim = Sim(args)
    names = [f"{args.prefix}{i}" for i in range(args.first, args.first + args.count)]
    kind = LinkWorker if sim.conns == "link" else Worker
    workers = [kind(sim, name, i) for i, name in enumerate(names)]
    await _load_scripts(sim)
    await _start_all(sim, workers, args.pool)
    # Thousands of workers in one heap make the cyclic GC pause this process for
    # hundreds of ms (a simulator artifact: each real worker has its own small heap).
    gc.collect()
    gc.freeze()
    lag = asyncio.get_running_loop().create_task(_watch_loop_lag(sim))
    sim.emit("ready", len(workers))
    try:
        await _commands(sim)
    finally:
        lag.cancel()
        for worker in workers:
            worker.close()
        for wire in sim.pool:
            wire.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", default="w")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--ttl", type=float, default=10.0)
    parser.add_argument("--append-every", type=float, default=10.0, help="beats per append")
    parser.add_argument("--conns", choices=("link", "1", "2"), default="link")
    parser.add_argument("--pool", type=int, default=8, help="shared command connections")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
