"""The listener over the one connection (:mod:`link`): the control channel's pushes.

It subscribes on every (re)connect and reads the request key right after (so a
notification missed while disconnected is never lost), and reads it again after
every notification, at most one read in flight (a flood costs one read per round
trip). The read is an ``EVALSHA``; a server that lost the script answers NOSCRIPT
and the read is sent again with its body. All of it runs in the link's reader
thread, which never waits for a reply: the read is sent with a callback that
applies its reply.

A notification carries the request it announces (epoch, seq, action, by), written
by the same script that wrote the request key. The listener hands it to the
:class:`ControlState` as a *hint*: the next checkpoint acts at once, but only once
the server confirmed it: a stop by the ``ack stopping`` the checkpoint runs anyway,
a pause by this read (the checkpoint waits for it, see
:meth:`ControlState._await_read`); see :meth:`ControlState.hint`. The read
that follows each notification drops a hint it does not confirm, so a forged or
malformed notification can neither stop, pause nor resume anything, nor make a
later request look old, and costs at most one round trip.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from . import scripts
from .connection import Connection
from .control import ControlState
from .link import Latch
from .replies import RequestState
from .run import ProcessRun

logger = logging.getLogger(__name__)


class _Captured(scripts.Batch):
    """A batch that only records the one script call queued on it."""

    def take(self) -> tuple[str, list[str], list[Any], Callable[[Any], Any]]:
        ((name, k, args, parse),) = self._calls
        return name, k, args, parse


class LinkListener:
    """Subscribes to ``process``'s channel on ``conn``'s link and keeps its control
    state current."""

    def __init__(self, conn: Connection, process: ProcessRun) -> None:
        self._link = conn.link
        self._channel = process.channel
        self._state: ControlState = process.control
        self._apply: Callable[[RequestState], None] = process.apply_state
        self._subscribe_cmd = "SSUBSCRIBE" if conn.sharded_pubsub else "SUBSCRIBE"
        batch = _Captured(conn)
        scripts.request_state(conn, process.namespace, process.name, client=batch)
        script, k, args, self._parse = batch.take()
        # EVALSHA: the script's 7 kB body is sent only to a server that lost it.
        self._read_sha = ("EVALSHA", conn.scripts.sha(script), len(k), *k, *args)
        self._read_eval = ("EVAL", scripts.source(script), len(k), *k, *args)
        self._state.reading = self.reading
        self.subscribed = Latch()  # set by a callback, maybe in the signal handler
        self.wakeup: Any = None  # the signal fast path (link_wakeup), armed per connection
        self.last_error = ""
        self._lock = threading.Lock()
        self._reading = False  # a read is in flight
        self._more = False  # a notification came while it was: read again after it
        self._more_subscribed = False  # ... and that read follows a subscription

    @property
    def last_seen(self) -> float:
        """The reader's last sign of life (reported by the heartbeat)."""
        link = self._link
        return time.time() if link.connected else link.last_seen

    def start(self) -> None:
        link = self._link
        link.on_push = self._on_push
        link.on_connect = self._subscribe
        link.on_disconnect = self._disconnected
        if link.connected:
            self._subscribe()

    def _subscribe(self) -> None:
        """(Re)subscribe; the read follows the subscription's confirmation."""
        link = self._link
        if self.wakeup is not None and link.sock is not None:
            self.wakeup.arm(link.sock)
        link.subscribe(self._subscribe_cmd, self._channel, self._refused)

    def _refused(self, error: Any) -> None:
        """A refused subscription (an ACL without this channel): requests are then
        seen at the next heartbeat; the next reconnect tries again."""
        if isinstance(error, Exception) and repr(error) != self.last_error:
            self.last_error = repr(error)
            logger.warning("tablevault-redis: cannot subscribe to %s: %s", self._channel, error)

    def reading(self) -> bool:
        """A read is in flight: its reply settles any hint announced before it."""
        return self._reading

    def _disconnected(self) -> None:
        self.subscribed.clear()
        with self._lock:
            self._reading = self._more = self._more_subscribed = False
        self._state.wake()  # a checkpoint waiting for the read verifies by itself
        if self.wakeup is not None:
            self.wakeup.disarm()  # before the socket closes (see wakeup.py)

    def _on_push(self, message: list[Any]) -> Callable[[], None] | None:
        """Apply a notification's hint now; the read it calls for is sent next."""
        kind = message[0] if message else None
        if len(message) < 3 or message[1] != self._channel:
            return None
        if kind in ("subscribe", "ssubscribe"):
            return lambda: self._read(subscribed=True)
        if kind in ("message", "smessage"):
            self._hint(message[2])
            return self._read
        return None

    def _hint(self, payload: Any) -> None:
        try:
            data = json.loads(payload)
            seq, action = data["seq"], data["action"]
            epoch, by = str(data.get("epoch", "")), str(data.get("by", ""))
        except (ValueError, LookupError, TypeError, AttributeError, RecursionError):
            return  # malformed (nested past the parser's limit, too): ignored
        if isinstance(seq, int) and not isinstance(seq, bool) and isinstance(action, str):
            self._state.hint(epoch, seq, action, by)

    def _read(self, subscribed: bool = False) -> None:
        """Send one ``request_state`` read unless one is in flight."""
        with self._lock:
            if self._reading:
                self._more = True
                self._more_subscribed |= subscribed
                return
            self._reading = True
        self._send(self._read_sha, subscribed)

    def _send(self, command: tuple[Any, ...], subscribed: bool) -> None:
        link = self._link
        try:
            link.send(link.pack(*command), 1, lambda r: self._on_state(r, subscribed))
        except Exception:
            with self._lock:
                self._reading = False  # the reconnect reads again
            self._state.wake()

    def _on_state(self, reply: Any, subscribed: bool) -> None:
        """The reader thread: a read's reply (or the error it failed with)."""
        if isinstance(reply, redis.exceptions.NoScriptError):
            self._send(self._read_eval, subscribed)  # a restarted server: load it again
            return
        with self._lock:
            self._reading = False
            again, self._more = self._more, False
            again_subscribed, self._more_subscribed = self._more_subscribed, False
        try:
            if isinstance(reply, Exception):
                self.last_error = repr(reply)
            else:
                self._apply(self._parse(reply))
                self._state.settle_hint()  # read after the notification: decides its hint
                if subscribed:
                    self.subscribed.set()
        finally:
            self._state.wake()  # whatever came of it, a checkpoint waiting for it goes on
        if again:
            self._read(again_subscribed)

    def close(self, timeout: float = 2.0) -> None:
        """Stop handling pushes; the connection itself closes with the Vault's."""
        link = self._link
        link.on_push = lambda message: None
        link.on_connect = lambda: None
