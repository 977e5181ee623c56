"""One simulated worker of bench_scale_workers.py (run inside scale_sim.py) over two
connections (``--conns 2``: pub/sub and commands, as the library's worker holds them
where it cannot use one: a Redis Cluster, TLS, ``TABLEVAULT_ONE_CONNECTION=0``), or over
a pub/sub connection and a command connection shared with other simulated workers
(``--conns 1``). The default, the one connection a worker holds elsewhere, is
scale_link.py's subclass of this class.

What it does on the wire is what a worker process of the library does (see
scale_sim.py's module docstring); how it does it is lean, since one Python process
holds thousands of them: every hot path (a notification, the request state read, the
acknowledgement, the final status, a heartbeat) is a callback on a reply, each
command is packed once by hiredis, and no task or future is made per message. The
library's own functions still build every KEYS and ARGV, and its reply types and
``ControlState`` take every reply.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from typing import TYPE_CHECKING, Any

import hiredis
from scale_wire import Wire, capture, connect, pack

from tablevault_redis import keys, scripts
from tablevault_redis.control import ControlState
from tablevault_redis.listener import _MIN_READ_GAP
from tablevault_redis.replies import Heartbeat, Registered, RequestState
from tablevault_redis.run import new_epoch

if TYPE_CHECKING:
    from scale_sim import Sim

NAMESPACE = "scale"
RECORD_LIST = "scale-records"
SCRIPT_TEXT = "for step in range(steps):\n    vault.checkpoint_execution()\n    work(step)\n"
logger = logging.getLogger("scale_sim")


class Worker:
    """One simulated worker process: its connections and request state. Its hot paths
    (notification, read, acknowledgement, heartbeat) are callbacks on the replies."""

    def __init__(self, sim: Sim, name: str, index: int) -> None:
        self.sim, self.name, self.index = sim, name, index
        self.sub: Wire | None = None
        self.cmd: Wire | None = None
        self.token = ""
        self.run = self.code_index = self.appends = 0
        self.started = 0.0  # the run's started_at
        self.control = ControlState(0, _no_report)
        self.saw = self.acking = self.read_pending = False
        self.beaten = False  # a heartbeat of this worker was answered (since it was made)
        self.last_read = self.notified = 0.0
        self.beats: asyncio.TimerHandle | None = None
        self.read_cmd = pack(capture(scripts.request_state, NAMESPACE, name))

    async def start(self) -> None:
        sim = self.sim
        self.sub = await connect(sim.host, sim.port, self._on_message)
        if sim.conns == "2":
            self.cmd = await connect(sim.host, sim.port)
        else:
            self.cmd = sim.pool[self.index % len(sim.pool)]
        await self.register()
        await self.sub.call("SUBSCRIBE", keys.channel(NAMESPACE, self.name))
        self._read()  # as the listener does after each (re)subscribe
        first = random.uniform(0, sim.interval)  # workers start at any time
        self.beats = asyncio.get_running_loop().call_later(first, self._beat)

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
        self.run, self.code_index, self.started = reply.run, reply.code_count, started
        self.control = ControlState(reply.request_seq, _no_report, epoch=fields["epoch"])
        self.saw = self.acking = False
        self.notified = 0.0
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

    def _on_message(self, message: list[Any]) -> None:
        """A notification, as the two-connection listener takes it (listener.py): the
        request state is read again (at most once per ``_MIN_READ_GAP``), and the request it
        announces is a hint that the next checkpoint verifies at once with ``ack
        stopping`` (sent after the read, as from the worker's main thread)."""
        if not self.notified:
            self.notified = time.monotonic()
        if not self.read_pending:
            self.read_pending = True
            wait = self.last_read + _MIN_READ_GAP - time.monotonic()
            if wait > 0:
                asyncio.get_running_loop().call_later(wait, self._read)
            else:
                self._read()
        try:
            data = json.loads(message[2])
            seq, action, epoch, by = data["seq"], data["action"], str(data["epoch"]), data["by"]
        except (ValueError, KeyError, TypeError):
            return
        if self.control.hint(epoch, seq, action, str(by)) and action == "stop":
            self._ack(seq, str(by))

    def _read(self) -> None:
        assert self.cmd is not None
        self.read_pending = False
        self.last_read = time.monotonic()
        self.cmd.send_packed(self.read_cmd, self._on_state)

    def _on_state(self, reply: Any) -> None:
        if _failed(reply, self.name, "request_state"):
            return
        state = RequestState.parse(reply)
        self.sim.counts["reads"] += 1
        self.control.apply_stored(state.request_seq, state.request, state.epoch)
        self.control.settle_hint()  # the read after a notification decides its hint
        self._check_stop("notify")

    def _check_stop(self, source: str) -> None:
        """The request state just read says stop: seen (unless the verification of the
        notification's hint saw it first); acknowledged unless that is on its way."""
        if self.control.pending == "stop":
            self._saw(source)
            self._ack(self.control.seq, self.control.by)

    def _saw(self, source: str) -> None:
        if not self.saw:
            self.saw = True
            self.sim.emit("seen", self.name, repr(time.monotonic()), source, repr(self.notified))

    def _ack(self, seq: int, by: str) -> None:
        """The checkpoint's ``ack stopping`` (run.py ``verify``), once per run."""
        if self.acking or self.cmd is None:
            return
        self.acking = True
        ack = capture(scripts.ack, NAMESPACE, self.name, kind="stopping", seq=seq, by=by)
        self.cmd.send_packed(pack(ack), lambda reply: self._on_ack(reply, by))

    def _on_ack(self, reply: Any, by: str) -> None:
        if _failed(reply, self.name, "ack") or reply != "stopping":
            self.acking = False  # not this stop (withdrawn, forged): the read decides
            return
        self._saw("verified")
        assert self.cmd is not None
        done = capture(
            scripts.finish, NAMESPACE, self.name, status="stopped", stopped_by=by, token=self.token
        )
        self.cmd.send_packed(pack(done), self._on_finish)

    def _on_finish(self, reply: Any) -> None:
        """The final status is written: the worker stopped; it exits or runs again."""
        finished = time.monotonic()
        if _failed(reply, self.name, "finish"):
            return
        if self.sim.on_stop == "exit":
            self.close()
            self.sim.exited.append(self)
            self.sim.emit("exited", self.name, repr(finished))
        else:
            task = asyncio.get_running_loop().create_task(self._rearm(finished))
            self.sim.tasks.add(task)
            task.add_done_callback(self.sim.tasks.discard)

    async def _rearm(self, finished: float) -> None:
        await self.register()
        self.sim.emit("rearmed", self.name, repr(finished))

    def _beat(self) -> None:
        """The outbox thread's heartbeat, and the listener's health-check PING; the
        next one an interval later."""
        assert self.cmd is not None and self.sub is not None
        loop = asyncio.get_running_loop()
        self.beats = loop.call_later(self.sim.interval, self._beat)
        self.cmd.send_packed(pack(self._beat_call(new_epoch())), self._on_beat)
        self.sub.send_packed(_PING, _ignore)
        self.sim.counts["pings"] += 1
        if random.random() < self.sim.append_chance:
            self._append()

    def _beat_call(self, fresh: str) -> Any:
        """The heartbeat script call offering epoch ``fresh``, as the library builds it."""
        self.control.offer_epoch(fresh)
        return capture(
            scripts.heartbeat,
            NAMESPACE,
            self.name,
            token=self.token,
            ttl=self.sim.ttl,
            listener_at=time.time(),
            held=self.control.held(),
            fresh_epoch=fresh,
            run=self.run,
            started=self.started,
        )

    def _on_beat(self, reply: Any) -> None:
        if _failed(reply, self.name, "heartbeat"):
            return
        beat = Heartbeat.parse(reply)
        self.sim.counts["beats"] += 1
        if not self.beaten:
            self.beaten = True
            self.sim.counts["beating"] += 1
        if beat.beat:
            self.control.apply_stored(beat.request_seq, beat.request, beat.epoch)
            self._check_stop("heartbeat")

    def _append(self) -> None:
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
        self.cmd.send_packed(pack(call), self._on_append)

    def _on_append(self, reply: Any) -> None:
        if not _failed(reply, self.name, "record_append"):
            self.sim.counts["appends"] += 1

    def close(self) -> None:
        if self.beats is not None:
            self.beats.cancel()
        for wire in (self.sub, self.cmd if self.sim.conns == "2" else None):
            if wire is not None:
                wire.close()


_PING = hiredis.pack_command(("PING", "redis-py-health-check"))  # type: ignore[arg-type]


def _ignore(reply: Any) -> None:
    """The PING's reply: nothing to do."""


def _failed(reply: Any, name: str, what: str) -> bool:
    """An error reply or a lost connection (a closed worker's last replies): logged
    unless the connection was closed on purpose."""
    if isinstance(reply, hiredis.ReplyError):
        logger.error("%s: %s failed: %s", name, what, reply)
        return True
    return isinstance(reply, ConnectionError)


def _no_report(kind: str, seq: int, by: str) -> None:
    """The simulated worker writes its acknowledgements itself (``_stop``)."""
