"""The signal fast path: a request reaches a busy main thread within a bytecode.

Why: the listener thread needs the GIL to read a notification, and a main thread
busy in pure Python hands the GIL over only after the switch interval (5 ms), often
twice per notification. A signal needs no GIL hand-over: CPython runs a Python signal
handler in the main thread at its next bytecode.

How: on a cluster (a worker keeps a pub/sub connection there; elsewhere
:mod:`link_wakeup` serves the one connection) the pub/sub socket gets ``O_ASYNC``,
so the kernel signals when a notification arrives (on Linux a real-time signal aimed
at the main thread alone, ``F_SETSIG`` and ``F_SETOWN_EX``; ``SIGIO`` elsewhere, and
as Linux's fallback when the real-time queue overflows). The handler peeks at the
socket without consuming anything and, when a notification for this process is there
(or the listener took the bytes but has not parsed them yet), sends one
``request_state`` read on a connection of its own, whose reply raises a second
real-time signal; that handler applies the reply to the :class:`ControlState`. The
notification's payload is never trusted; only the read decides. A checkpoint still
reads one attribute and does no I/O.

Safety rules, each one load-bearing:

- Handlers are installed only in the main thread, and only over ``SIG_DFL``: a
  program's own handler for either signal (or one set from C) wins, and the fast path
  stays off. The handler stays installed afterwards, so a signal already on its way
  can never hit the default action (which ends the process).
- ``SA_RESTART`` (``signal.siginterrupt(sig, False)``): restartable system calls in
  the main thread restart; the others return ``EINTR``, which Python retries.
- ``O_ASYNC`` is cleared before its socket is closed, in :meth:`Wakeup.close` and in
  an ``atexit`` hook: at exit CPython resets the handlers to ``SIG_DFL`` before it
  closes leftover sockets, and a signal then would end the process ("I/O possible").
- A forked child drops its copies of the sockets without touching the flags, which
  belong to the parent's sockets too.
- The handler never raises and never blocks on an outage: any failure drops the
  fast path's connection (retried at most once a second) and the listener, which
  always reads the request too, is the fallback.

``Vault(fast_signals=False)`` or ``TABLEVAULT_FAST_SIGNALS=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from . import _redis_compat, checks, exiting, keys, scripts, signal_hooks

logger = logging.getLogger(__name__)

ENV_FAST_SIGNALS = "TABLEVAULT_FAST_SIGNALS"
READ_TIMEOUT = 0.1  # seconds: the reply is read only once the kernel says it is there
# Reads are spent from a bucket of _BURST refilled at _READS_PER_S: a few requests in a
# row are each read at once, a flood of messages costs the server little.
_BURST, _READS_PER_S = 16.0, 200.0
_REOPEN_GAP = 1.0  # seconds between attempts to reopen a broken connection
_PUSH, _REPLY, _UNSURE = 1, 2, 4  # what a signal may mean
_PEEK = getattr(socket, "MSG_PEEK", 0) | getattr(socket, "MSG_DONTWAIT", 0)

# The process-wide parts live in signal_hooks; these names stay importable from here.
_signals, install = signal_hooks._signals, signal_hooks.install
set_async, clear_async = signal_hooks.set_async, signal_hooks.clear_async
serve, unserve = signal_hooks.serve, signal_hooks.unserve


def enabled(argument: Any) -> bool:
    """Whether to use the fast path: ``argument``, else the environment, else on."""
    return checks.switch(argument, "fast_signals", ENV_FAST_SIGNALS, default=True)


def settings(fast_signals: Any, fast_exit: Any) -> bool:
    """A Vault's two speed settings, checked before anything connects: installs the
    quicker exit when asked (see :mod:`exiting`); whether to use the fast path."""
    if exiting.enabled(fast_exit):
        exiting.install()
    return enabled(fast_signals)


def start(process: Any, conn: Any) -> Wakeup | None:
    """The fast path of ``process`` (a :class:`run.ProcessRun`) on ``conn``, where it
    can be used (see :func:`install`); its stop confirmation's connection opens now."""
    sigs = install()
    if not sigs:
        return None
    ns, name = process.namespace, process.name
    fast = Wakeup(
        sigs,
        process.channel,
        lambda: conn.quick(keys.proc(ns, name), READ_TIMEOUT).client,
        lambda batch: scripts.request_state(conn, ns, name, client=batch),
        process.apply_state,
    )
    fast.start()
    with contextlib.suppress(Exception):  # opened again at the first stop otherwise
        process.quick().client.ping()
    return fast


class Wakeup:
    """Arms the pub/sub socket (from the listener thread) and serves the signals (in
    the main thread). ``read`` queues this process's ``request_state`` call on a
    batch; ``apply`` applies its typed reply."""

    def __init__(
        self,
        sigs: tuple[int, ...],
        channel: str,
        open_client: Callable[[], Any],
        read: Callable[[scripts.Batch], object],
        apply: Callable[[Any], None],
    ) -> None:
        # F_SETSIG's signal for the pub/sub socket and for the reply (0: plain SIGIO).
        self._sig_push, self._sig_reply = sigs[:2] if len(sigs) > 2 else (0, 0)
        # On Linux the signal goes to the main thread alone (F_SETOWN_EX with a thread
        # id): sent to the process, it may land in another thread, interrupting its
        # system call and reaching the main thread's handler only after a GIL switch.
        self._main_tid = threading.main_thread().native_id or 0
        self._marker = b"message\r\n$%d\r\n%s\r\n" % (len(channel.encode()), channel.encode())
        self._open_client, self._read, self._apply = open_client, read, apply
        self._lock = threading.Lock()  # the handler only tries it: never a deadlock
        self._closed = False
        self._peek: socket.socket | None = None  # our dup of the pub/sub socket
        self._pubsub: Any = None
        self._read_due: Callable[[], bool] = lambda: False
        self._client: Any = None
        self._conn: Any = None  # the fast path's own connection, main thread only
        self._parse: Callable[[Any], Any] = lambda reply: reply
        self._in_flight = False
        self._more = False  # a notification came while a read was in flight
        self._budget, self._budget_at = _BURST, 0.0
        self._opened_at = 0.0
        self._todo = 0  # _PUSH | _REPLY | _UNSURE: what the signals so far may mean
        self._busy = False
        self.signals = 0  # handler calls and reads sent (tests and benchmarks look)
        self.reads = 0

    def start(self) -> None:
        """Open the connection (main thread, at start) and serve the signals."""
        with self._lock:
            self._open()
        serve(self)

    # -- arming: the listener thread ----------------------------------------------

    def arm(self, pubsub: Any, read_due: Callable[[], bool] = lambda: False) -> None:
        """Watch ``pubsub``'s socket (just subscribed); replaces a previous one.
        ``read_due``: the listener parsed a notification and has not read yet."""
        sock = _redis_compat.pubsub_socket(pubsub)
        with self._lock:
            self._disarm()
            if self._closed or sock is None or isinstance(sock, ssl.SSLSocket):
                return  # TLS: the bytes cannot be peeked at; the listener does it all
            try:
                self._pubsub, self._read_due = pubsub, read_due
                self._peek = socket.socket(fileno=os.dup(sock.fileno()))
                set_async(self._peek.fileno(), self._sig_push, self._main_tid)
            except OSError as e:
                logger.debug("tablevault-redis: no fast path on this connection: %r", e)
                self._disarm()

    def disarm(self) -> None:
        """The listener's connection is about to close: stop watching it first."""
        with self._lock:
            self._disarm()

    def close(self) -> None:
        """Stop for good (the Vault ends, or the interpreter exits)."""
        with self._lock:
            self._closed = True
            self._disarm()
            self._drop()
        unserve(self)

    def _disarm(self) -> None:
        peek, self._peek, self._pubsub = self._peek, None, None
        if peek is not None:
            clear_async(peek)
            peek.close()

    # -- the fast path's connection: the main thread --------------------------------

    def _open(self) -> None:
        self._opened_at = time.monotonic()
        try:
            self._client = self._open_client()
            conn = _redis_compat.take_connection(self._client.connection_pool)
            conn.connect()
            sock = _redis_compat.connection_socket(conn)
            if sock is None or isinstance(sock, ssl.SSLSocket):
                raise OSError("no plain socket")
            set_async(sock.fileno(), self._sig_reply, self._main_tid)
            self._conn = conn
        except Exception as e:  # the listener path does everything without it
            logger.debug("tablevault-redis: fast path connection failed: %r", e)
            self._drop()

    def _drop(self) -> None:
        conn, client, self._conn, self._client = self._conn, self._client, None, None
        self._in_flight = False
        if conn is not None:
            clear_async(_redis_compat.connection_socket(conn))
            with contextlib.suppress(Exception):
                conn.disconnect()
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def on_signal(self, signum: int) -> None:
        """The handler's work: never raises, never waits for a lock."""
        self.signals += 1
        if signum == self._sig_push:
            self._todo |= _PUSH
        elif signum == self._sig_reply:
            self._todo |= _REPLY
        else:  # SIGIO: either socket, or the real-time queue overflowed
            self._todo |= _PUSH | _REPLY | _UNSURE
        if self._busy:  # a signal inside the handler: the loop below sees it
            return
        if not self._lock.acquire(blocking=False):
            return  # being armed or closed right now: the listener path covers it
        self._busy = True
        try:
            for _round in range(3):
                todo, self._todo = self._todo, 0
                if not todo or self._closed:
                    break
                self._step(todo)
        except Exception as e:
            logger.debug("tablevault-redis: fast path failed, falling back: %r", e)
            self._drop()
        finally:
            self._busy = False
            self._lock.release()

    def _step(self, todo: int) -> None:
        want = False
        if todo & _REPLY and self._in_flight and self._conn.can_read(timeout=0):
            reply = self._conn.read_response()
            self._in_flight = False
            self._apply(self._parse(reply))
            want, self._more = self._more, False
        if todo & _PUSH and self._notified(eager=not todo & _UNSURE):
            want = True
        if not want:
            return
        if self._in_flight:
            self._more = True  # read again once this reply is in: it may predate it
        elif self._spend() and self._ready():
            self._send()

    def _spend(self) -> bool:
        """Take one read from the bucket; False when it is empty (the listener reads)."""
        now = time.monotonic()
        self._budget = min(_BURST, self._budget + (now - self._budget_at) * _READS_PER_S)
        self._budget_at = now
        if self._budget < 1.0:
            return False
        self._budget -= 1.0
        return True

    def _ready(self) -> bool:
        """The connection is there, or reopened (at most once per _REOPEN_GAP)."""
        if self._conn is None and time.monotonic() - self._opened_at >= _REOPEN_GAP:
            self._open()
        return self._conn is not None

    def _notified(self, eager: bool) -> bool:
        """A notification for this process waits on the pub/sub socket (peeked at,
        never consumed). ``eager``: the signal was the pub/sub socket's own, so bytes
        already gone were taken by the listener, which may wait for the GIL before it
        parses them (see _redis_compat.reading)."""
        if self._peek is None:
            return False
        try:
            data = self._peek.recv(65536, _PEEK)
        except BlockingIOError:  # the listener took them: read unless it was a PING reply
            return eager and (self._read_due() or _redis_compat.reading(self._pubsub, 0.05))
        except OSError:
            return False
        return self._marker in data

    def _send(self) -> None:
        batch = _Captured(None)  # type: ignore[arg-type]
        self._read(batch)
        name, k, args, self._parse = batch.take()
        self._conn.send_command("EVAL", scripts.source(name), len(k), *k, *args)
        self._in_flight = True
        self.reads += 1

    @property
    def served(self) -> int:
        """Reads sent for notifications (tests and benchmarks look)."""
        return self.reads

    @property
    def armed(self) -> bool:
        return self._peek is not None and self._conn is not None

    def forget_in_child(self) -> None:
        """Close our descriptors only (no ``fcntl``, no shutdown: the parent's
        sockets are the same ones)."""
        self._closed = True
        if self._lock.locked():
            self._lock = threading.Lock()
        for sock in (self._peek, _redis_compat.connection_socket(self._conn)):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self._peek = self._conn = self._client = None


class _Captured(scripts.Batch):
    """A batch that only records the one script call queued on it."""

    def take(self) -> tuple[str, list[str], list[Any], Callable[[Any], Any]]:
        ((name, k, args, parse),) = self._calls
        return name, k, args, parse
