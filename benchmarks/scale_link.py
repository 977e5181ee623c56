"""One simulated worker over one connection, as the library's worker holds it today
(``--conns link`` of bench_scale_workers.py, its default; run inside scale_sim.py).

A real worker (tablevault_redis/link.py, link_listener.py, beat.py) sends everything
on one RESP3 socket: its subscription, the request state reads, its heartbeats, its
acknowledgements and writes, its final status; the server's pushes are told apart
from the replies by their type. On that socket this worker sends what the library
sends:

- on connecting, redis-py's handshake (``HELLO 3`` and the commands after it,
  scale_wire.py ``connect_link``); after registering, ``SCRIPT LOAD`` of ``ack`` (the
  checkpoint's quick call is ready from the first stop on), then ``SUBSCRIBE`` with a
  ``PING`` (a refusal is an error reply, told apart by the PING's);
- on the subscription's confirmation and after each notification, the request state
  read as ``EVALSHA`` (``EVAL`` with the source after a NOSCRIPT), at most
  one in flight, and one more after it when notifications came meanwhile (no 20 ms
  gap: that is the two-connection listener's); a notification's hint is applied
  before the read is sent, and a stop's ``ack stopping`` follows the read, as the
  checkpoint's quick call;
- every interval, the lean heartbeat: its first beat of a run as ``EVAL`` with the
  source, then ``EVALSHA``; no second beat while one is in flight; the fresh epoch
  it offers kept until a beat starts the state over in it; no health-check PING (the
  link sends none);
- at a stop, ``finish`` (``EVALSHA``, the outbox's), then the socket closes (no
  ``QUIT``, as redis-py disconnects).

The registration, the records and the final status are those of scale_worker.py, whose
lean style (callbacks on replies, no task per message) this worker keeps. Like it, it
leaves out what a worker also writes that no figure waits on: the record-list check
before registering, and the operation entries around the registration and the code
item (``op_begin``, ``op_end``; the code item's ``op_end`` follows ``finish``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import TYPE_CHECKING, Any

import hiredis
from scale_wire import LinkWire, capture, connect_link, eval_parts, pack
from scale_worker import NAMESPACE, Worker, logger

from tablevault_redis import keys, scripts
from tablevault_redis.run import new_epoch

if TYPE_CHECKING:
    from scale_sim import Sim


class LinkWorker(Worker):
    """One simulated worker process whose only connection is a :class:`LinkWire`."""

    def __init__(self, sim: Sim, name: str, index: int) -> None:
        super().__init__(sim, name, index)
        self.channel = keys.channel(NAMESPACE, name)
        read = capture(scripts.request_state, NAMESPACE, name)
        self.link_read, self.link_load = pack(read), b"".join(eval_parts(read))
        self.reading = self.more = self.beating = False
        self.fresh = ""  # the epoch the lean beats offer
        self.lean_beats = 0  # beats of this run (its first is an EVAL)

    async def start(self) -> None:
        sim = self.sim
        self.reading = self.more = self.beating = False
        link: LinkWire = await connect_link(sim.host, sim.port, self._on_push)
        self.sub = self.cmd = link
        await self.register()
        await link.call("SCRIPT", "LOAD", scripts.source("ack"))
        await link.subscribe("SUBSCRIBE", self.channel, self._refused)
        first = random.uniform(0, sim.interval)  # workers start at any time
        self.beats = asyncio.get_running_loop().call_later(first, self._beat)

    async def register(self) -> None:
        await super().register()
        self.fresh, self.lean_beats = "", 0  # a new run: a new lean beat

    def _refused(self, error: Any) -> None:
        logger.error("%s: cannot subscribe: %s", self.name, error)

    def _on_push(self, push: list[Any]) -> None:
        """A push, as the link listener takes it (``_on_push``)."""
        if len(push) < 3 or push[1] != self.channel:
            return
        if push[0] == "subscribe":
            self._read()
        elif push[0] == "message":
            if not self.notified:
                self.notified = time.monotonic()
            stop = self._hint(push[2])
            self._read()
            if stop is not None:
                self._ack(*stop)

    def _hint(self, payload: Any) -> tuple[int, str] | None:
        """The notification's request handed to the control state as a hint; the
        (seq, by) its checkpoint verifies at once when it is a stop."""
        try:
            data = json.loads(payload)
            seq, action = data["seq"], data["action"]
            epoch, by = str(data.get("epoch", "")), str(data.get("by", ""))
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(action, str):
            return None
        if self.control.hint(epoch, seq, action, by) and action == "stop":
            return seq, by
        return None

    def _read(self) -> None:
        """One request state read unless one is in flight (then one more after it)."""
        if self.reading:
            self.more = True
            return
        assert self.cmd is not None
        self.reading = True
        self.cmd.send_packed(self.link_read, self._on_link_state)

    def _on_link_state(self, reply: Any) -> None:
        if isinstance(reply, hiredis.ReplyError) and str(reply).startswith("NOSCRIPT"):
            assert self.cmd is not None
            self.cmd.send_packed(self.link_load, self._on_link_state)  # loads it
            return
        self.reading = False
        again, self.more = self.more, False
        self._on_state(reply)
        if again and not isinstance(reply, ConnectionError):
            self._read()

    def _beat(self) -> None:
        """The lean heartbeat (beat.py ``tick``); the next one an interval later."""
        assert self.cmd is not None
        self.beats = asyncio.get_running_loop().call_later(self.sim.interval, self._beat)
        if self.beating:
            return  # the last beat's reply has not come yet
        fresh = "" if self.fresh == self.control.epoch else self.fresh
        self.fresh = fresh = fresh or new_epoch()
        call = self._beat_call(fresh)
        packed = pack(call) if self.lean_beats else b"".join(eval_parts(call))
        self.lean_beats += 1
        self.beating = True
        self.cmd.send_packed(packed, self._on_lean_beat)
        if random.random() < self.sim.append_chance:
            self._append()

    def _on_lean_beat(self, reply: Any) -> None:
        self.beating = False
        self._on_beat(reply)
