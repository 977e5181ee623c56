"""The listener thread: the one owner of this process's pub/sub connection, on a Redis
Cluster (or where one connection cannot be used: see :func:`listener_for`; elsewhere
:mod:`link_listener` reads the notifications on the worker's one connection).

It subscribes to the process's control channel. A notification is only a hint that
the request state changed: whatever it says, the listener reads the request key and
the record's counter (``request_state``) and applies only that, so a forged or
malformed message can neither stop, pause nor resume anything, nor make a later
request look old. Reads triggered by messages are at most one per ``_MIN_READ_GAP``
seconds (a flood costs the server little; the last message is always followed by a
read). The request key is also read after every (re)subscribe, so a notification
missed while disconnected is never lost. The pub/sub connection has no socket
timeout; a ``get_message`` poll of a few seconds lets health-check PINGs find dead
connections (the heartbeat reads the request state too, so a dead one delays a request
by at most a heartbeat interval), and shutting the socket down keeps close() prompt.
Any failure closes the connection and retries with backoff. With the signal fast path
(:mod:`wakeup`) the socket is armed after each subscribe and disarmed before it closes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from . import link_wakeup, scripts, wakeup
from ._redis_compat import shutdown_pubsub_socket
from .connection import Connection
from .control import ControlState
from .link_listener import LinkListener
from .link_wakeup import LinkWakeup
from .retry import Backoff, is_transient
from .wakeup import Wakeup

logger = logging.getLogger(__name__)

# Seconds per get_message wait: how often an idle listener wakes (and sends its health
# check PING, when due). close() does not wait for it: it shuts the socket down.
_POLL = 5.0
_MIN_READ_GAP = 0.02  # seconds between two reads triggered by notifications


class Listener(threading.Thread):
    """Subscribes to ``channel`` and keeps ``state`` current."""

    def __init__(
        self,
        conn: Connection,
        channel: str,
        state: ControlState,
        resync: Callable[[], None],
        health_check_interval: float,
    ) -> None:
        super().__init__(name="tablevault-listener", daemon=True)
        self._conn = conn
        self._channel = channel
        self._state = state
        self._resync = resync
        self._health = health_check_interval
        self._halt = threading.Event()
        self.subscribed = threading.Event()
        self.last_seen = 0.0  # time.time() of the loop's last sign of life
        self.last_error = ""
        self._client: Any = None
        self._pubsub: Any = None
        self._dirty = False  # a notification came since the last read
        self._last_read = 0.0  # time.monotonic() of the last read it triggered
        self.wakeup: Wakeup | None = None  # the signal fast path, armed per connection

    def _open(self) -> None:
        self._client = self._conn.pubsub_client(self._channel, self._health)
        self._pubsub = self._client.pubsub()
        if self._conn.sharded_pubsub:
            self._pubsub.ssubscribe(self._channel)
        else:
            self._pubsub.subscribe(self._channel)

    def _close_connection(self) -> None:
        if self.wakeup is not None:
            self.wakeup.disarm()  # before the socket closes (see wakeup.py)
        for thing in (self._pubsub, self._client):
            if thing is not None:
                with contextlib.suppress(Exception):  # already broken: nothing to release
                    thing.close()
        self._pubsub = self._client = None

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind in ("subscribe", "ssubscribe"):
            # (Re)subscribed: notifications from before this moment may be lost, so
            # the request key, not the channel, says what is pending.
            self._resync()
            if self.wakeup is not None:
                self.wakeup.arm(self._pubsub, lambda: self._dirty)
            self.subscribed.set()
        elif kind in ("message", "smessage"):
            self._dirty = True  # its payload is never trusted: the read says what to do

    def _wait(self) -> float:
        """How long get_message may wait: not past the moment a pending read is due."""
        if not self._dirty:
            return _POLL
        return max(0.0, self._last_read + _MIN_READ_GAP - time.monotonic())

    def _read_if_due(self) -> None:
        if self._dirty and time.monotonic() - self._last_read >= _MIN_READ_GAP:
            self._dirty = False
            self._last_read = time.monotonic()
            self._resync()

    def run(self) -> None:
        backoff = Backoff()
        while not self._halt.is_set():
            try:
                if self._pubsub is None:
                    self._open()
                message = self._pubsub.get_message(timeout=self._wait())
                self.last_seen = time.time()
                if message is not None:
                    self._handle(message)
                self._read_if_due()
                backoff.reset()
            except Exception as e:  # never let the thread die: reconnect instead
                # A transient failure (server down, restarting) is expected and quiet;
                # anything else is reported once per distinct error.
                if not is_transient(e) and repr(e) != self.last_error:
                    self.last_error = repr(e)
                    logger.warning("tablevault-redis: listener error, reconnecting: %r", e)
                self._close_connection()
                self.subscribed.clear()
                if is_transient(e):
                    self._conn.rediscover()  # after a failover: find the new primary
                self._halt.wait(backoff.next())
        self._close_connection()

    def close(self, timeout: float = 2.0) -> None:
        """Ordered shutdown: stop the loop, wake its read, then join.

        Shutting the socket down ends a ``get_message`` wait at once, so a process
        that was stopped exits without waiting out the poll interval.
        """
        self._halt.set()
        shutdown_pubsub_socket(self._pubsub)  # None (between connections): nothing to wake
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)


def listener_for(
    conn: Connection, process: Any, fast_signals: bool, health_check_interval: float
) -> tuple[Listener | LinkListener, Wakeup | LinkWakeup | None]:
    """The listener of ``process`` (a :class:`run.ProcessRun`) and its signal fast
    path (None when off or unusable): over the link when ``conn`` has one."""
    listener: Listener | LinkListener
    fast: Wakeup | LinkWakeup | None = None
    if conn.link is not None:  # one connection: see link.py
        listener = LinkListener(conn, process)
        # A checkpoint's stop confirmation is one round trip from the first stop on:
        # its client made and its script loaded now.
        with contextlib.suppress(Exception):
            process.quick().client.script_load(scripts.source("ack"))
        fast = link_wakeup.start(conn.link, process.control) if fast_signals else None
        if fast is not None:
            conn.link.on_parsed = fast.parsed
    else:
        listener = Listener(
            conn, process.channel, process.control, process.resync, health_check_interval
        )
        fast = wakeup.start(process, conn) if fast_signals else None
    listener.wakeup = fast
    return listener, fast
