"""One process of simulated workers for bench_scale_workers.py (run by it, not by hand).

Each simulated worker does on the wire what a worker process of the library does
(tablevault_redis/run.py, listener.py): it registers through the ``register`` script
(and lists itself in the processes index, opens its code item), holds a pub/sub
connection subscribed to its control channel, heartbeats every interval through the
``heartbeat`` script (sending the request state it holds, as the library does) with
a health-check PING on the pub/sub connection, and now and then appends a record. A
notification is a hint: like the listener, the worker re-reads its request state
(``request_state``, at most once per 20 ms) and applies it with the library's own
``ControlState``. When that read says stop, it prints ``seen <name> <monotonic>``,
acknowledges (``ack`` stopping), writes its final status (``finish``) and either
registers a new run (a restarted worker, so N stays constant) or closes its
connections (after ``exit_on_stop``, as a stopped process exits; ``restart`` starts
those again, for the next round).

Protocol with the benchmark: lines on stdout (``ready N``, ``seen NAME T SOURCE``,
``rearmed NAME T``, ``exited NAME T`` with T when its final status was written,
``restarted NAME``, ``stats JSON``, ``ok WHAT``); commands on stdin (``exit_on_stop``,
``rearm_on_stop``, ``restart``, ``stats``, ``quit``; end of input also quits).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import resource
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # this checkout's package

from scale_wire import Wire, capture, connect, sha  # noqa: E402

from tablevault_redis import identity, keys, scripts  # noqa: E402
from tablevault_redis.control import ControlState  # noqa: E402
from tablevault_redis.listener import _MIN_READ_GAP  # noqa: E402
from tablevault_redis.lua_source import source  # noqa: E402
from tablevault_redis.replies import Heartbeat, Registered, RequestState  # noqa: E402
from tablevault_redis.run import new_epoch  # noqa: E402

NAMESPACE = "scale"
RECORD_LIST = "scale-records"
SCRIPT_TEXT = "for step in range(steps):\n    vault.checkpoint_execution()\n    work(step)\n"
USED_SCRIPTS = ("register", "open_code", "heartbeat", "request_state", "ack", "finish")
USED_SCRIPTS += ("record_append",)
CONNECT_AT_ONCE = 200  # connections being opened at a time (the server's accept backlog)


class Sim:
    """This process's settings, counters and shared command connections."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.host, self.port = args.host, args.port
        self.interval, self.ttl = args.interval, args.ttl
        self.append_chance = 1.0 / args.append_every if args.append_every > 0 else 0.0
        self.conns = args.conns
        self.first = args.first  # names this process in its stats
        self.pool: list[Wire] = []  # shared command connections (one connection per worker)
        self.on_stop = "rearm"  # or "exit": close the connections, until ``restart``
        self.exited: list[Worker] = []
        self.gate = asyncio.Semaphore(CONNECT_AT_ONCE)
        self.identity = identity.describe()
        self.counts = {"beats": 0, "pings": 0, "reads": 0, "appends": 0, "registers": 0}
        self.lags: list[float] = []
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


class Worker:
    """One simulated worker process: its connections and request state."""

    def __init__(self, sim: Sim, name: str, index: int) -> None:
        self.sim, self.name, self.index = sim, name, index
        self.sub: Wire | None = None
        self.cmd: Wire | None = None
        self.token = ""
        self.run = self.code_index = self.appends = 0
        self.control = ControlState(0, _no_report)
        self.stopping = self.read_pending = False
        self.last_read = 0.0
        self.beats: asyncio.Task[None] | None = None
        self.read_call = capture(scripts.request_state, NAMESPACE, name)

    async def start(self) -> None:
        sim = self.sim
        self.sub = await connect(sim.host, sim.port, self._on_message)
        if sim.conns == 2:
            self.cmd = await connect(sim.host, sim.port)
        else:
            self.cmd = sim.pool[self.index % len(sim.pool)]
        await self.register()
        await self.sub.call("SUBSCRIBE", keys.channel(NAMESPACE, self.name))
        await self.resync("subscribe")  # as the listener does after each (re)subscribe
        self.beats = asyncio.get_running_loop().create_task(self._beat_loop())

    async def register(self) -> None:
        """A new run: index entry, ``register`` (claim and record), its code item."""
        sim, name = self.sim, self.name
        assert self.cmd is not None
        self.token = f"{sim.identity['host']}:{sim.identity['pid']}:{uuid.uuid4().hex[:12]}"
        started = time.time()
        fields = {"name": name, "user_id": "sim", "execution_type": "script", **sim.identity}
        fields.update(started_at=repr(started), parent_process_name="", parent_process_index="0")
        fields.update(heartbeat_token=self.token, heartbeat_interval=repr(sim.interval))
        fields.update(heartbeat_ttl=repr(sim.ttl), epoch=new_epoch())
        await self.cmd.call("ZADD", keys.processes(NAMESPACE), repr(started), name)
        call = capture(
            scripts.register,
            NAMESPACE,
            name,
            token=self.token,
            ttl=sim.ttl,
            dead_holder="",
            now=started,
            fields=fields,
        )
        reply = Registered.parse(await self.cmd.script(call))
        if reply.held_by:
            raise RuntimeError(f"{name} is held by {reply.held_by}")
        self.run, self.code_index = reply.run, reply.code_count
        self.control = ControlState(reply.request_seq, _no_report, epoch=fields["epoch"])
        self.stopping = False
        opened = capture(
            scripts.open_code,
            NAMESPACE,
            name,
            index=reply.code_count,
            run=reply.run,
            text=SCRIPT_TEXT,
            start_position=reply.code_length,
        )
        await self.cmd.script(opened)
        sim.counts["registers"] += 1

    def _on_message(self, _message: list[Any]) -> None:
        """A notification: only a hint to re-read, at most once per ``_MIN_READ_GAP``."""
        if self.read_pending:
            return
        self.read_pending = True
        loop = asyncio.get_running_loop()
        wait = self.last_read + _MIN_READ_GAP - time.monotonic()
        loop.call_later(max(0.0, wait), lambda: loop.create_task(self._read_due()))

    async def _read_due(self) -> None:
        self.read_pending = False
        self.last_read = time.monotonic()
        await self.resync("notify")

    async def resync(self, source: str) -> None:
        assert self.cmd is not None
        state = RequestState.parse(await self.cmd.script(self.read_call))
        seen = time.monotonic()
        self.sim.counts["reads"] += 1
        self.control.apply_stored(state.request_seq, state.request, state.epoch)
        self._check_stop(seen, source)

    def _check_stop(self, seen: float, source: str) -> None:
        if self.control.pending == "stop" and not self.stopping:
            self.stopping = True
            self.sim.emit("seen", self.name, repr(seen), source)
            asyncio.get_running_loop().create_task(self._stop())

    async def _stop(self) -> None:
        """What a stopped worker writes: ``stopping``, then its final status."""
        assert self.cmd is not None
        control, name = self.control, self.name
        ack = capture(scripts.ack, NAMESPACE, name, kind="stopping", seq=control.seq, by=control.by)
        await self.cmd.script(ack)
        done = capture(
            scripts.finish,
            NAMESPACE,
            name,
            status="stopped",
            stopped_by=control.by,
            token=self.token,
        )
        await self.cmd.script(done)
        finished = time.monotonic()  # the final status is written: the worker stopped
        if self.sim.on_stop == "exit":
            self.close()
            self.sim.exited.append(self)
            self.sim.emit("exited", self.name, repr(finished))
        else:
            await self.register()
            self.sim.emit("rearmed", self.name, repr(finished))

    async def _beat_loop(self) -> None:
        sim = self.sim
        await asyncio.sleep(random.uniform(0, sim.interval))  # workers start at any time
        while True:
            await self._beat()
            if random.random() < sim.append_chance:
                await self._append()
            await asyncio.sleep(sim.interval)

    async def _beat(self) -> None:
        """The outbox thread's heartbeat, and the listener's health-check PING."""
        assert self.cmd is not None and self.sub is not None
        fresh = new_epoch()
        self.control.offer_epoch(fresh)
        call = capture(
            scripts.heartbeat,
            NAMESPACE,
            self.name,
            token=self.token,
            ttl=self.sim.ttl,
            listener_at=time.time(),
            held=self.control.held(),
            fresh_epoch=fresh,
        )
        beat = Heartbeat.parse(await self.cmd.script(call))
        self.sim.counts["beats"] += 1
        if beat.beat:
            self.control.apply_stored(beat.request_seq, beat.request, beat.epoch)
            self._check_stop(time.monotonic(), "heartbeat")
        await self.sub.call("PING", "redis-py-health-check")
        self.sim.counts["pings"] += 1

    async def _append(self) -> None:
        assert self.cmd is not None
        self.appends += 1
        name, index = self.name, self.code_index
        lineage = json.dumps({"process": name, "index": index, "run": self.run, "at": time.time()})
        call = capture(
            scripts.record_append,
            NAMESPACE,
            RECORD_LIST,
            columns=["worker", "i"],
            record=json.dumps({"worker": name, "i": self.appends}),
            create=True,
            lineage=lineage,
            process=name,
            process_index=index,
            writer=self.token,
            seq=self.appends,
        )
        await self.cmd.script(call)
        self.sim.counts["appends"] += 1

    def close(self) -> None:
        if self.beats is not None:
            self.beats.cancel()
        for wire in (self.sub, self.cmd if self.sim.conns == 2 else None):
            if wire is not None:
                wire.close()


def _no_report(kind: str, seq: int, by: str) -> None:
    """The simulated worker writes its acknowledgements itself (``_stop``)."""


async def _load_scripts(sim: Sim) -> None:
    """SCRIPT LOAD what the workers run, so EVALSHA never misses."""
    wire = await connect(sim.host, sim.port)
    for name in USED_SCRIPTS:
        if await wire.call("SCRIPT", "LOAD", source(name)) != sha(name):
            raise RuntimeError(f"script {name}: the server computed another SHA1")
    wire.close()


async def _start_all(sim: Sim, workers: list[Worker], pool_size: int) -> None:
    if sim.conns == 1:
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
    workers = [Worker(sim, name, i) for i, name in enumerate(names)]
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
    parser.add_argument("--conns", type=int, choices=(1, 2), default=2)
    parser.add_argument("--pool", type=int, default=8, help="shared command connections")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
