"""The signal fast path over the one connection (:mod:`link`).

Why: see :mod:`wakeup`. With one socket there is nothing to read on a connection
of the fast path's own: the link's reader thread parses the notification and hands
its request to the :class:`ControlState` (a hint the checkpoint verifies, see
:mod:`link_listener`). It only has to get the GIL now rather than after the main
thread's switch interval.

How: the link's socket gets ``O_ASYNC`` (Linux: a real-time signal aimed at the main
thread alone), so the kernel signals the main thread whenever bytes arrive. The
handler, in the main thread at its next bytecode, parses what arrived itself when no
other thread is reading or sending (:meth:`link.Link.pump_now`); otherwise it waits
at most ``_WAIT`` seconds for the reader to parse it, which releases the GIL, so
the reader runs at once. It does nothing when the socket holds no bytes (peeked at,
never consumed): the reader took them already, or the signal came late. It does
not parse while the main thread was interrupted inside the control state's locked
code (``ControlState.acting``): a push updates that state.

Every safety rule of :mod:`wakeup` holds: its handler is installed only in the main
thread over ``SIG_DFL`` (:func:`wakeup.install`), ``O_ASYNC`` is cleared before the
socket closes (the link calls :meth:`LinkWakeup.disarm` first), at exit, and a forked
child only closes its own descriptor. The handler never raises and never takes a
lock another thread may hold for long. ``Vault(fast_signals=False)`` or
``TABLEVAULT_FAST_SIGNALS=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import ssl
import threading
from typing import Any

from . import wakeup

try:
    import fcntl
except ImportError:  # Windows: no fast path, never armed
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

_WAIT = 0.002  # seconds the handler waits for the reader to parse what arrived
_PEEK = getattr(socket, "MSG_PEEK", 0) | getattr(socket, "MSG_DONTWAIT", 0)


class LinkWakeup:
    """Arms the link's socket (from the reader thread) and serves the signal (in the
    main thread). ``parsed()`` is the link's ``on_parsed``."""

    def __init__(self, sigs: tuple[int, ...], link: Any, control: Any) -> None:
        self._link = link  # a link.Link
        self._control = control  # the ControlState pushes update
        self._sig = sigs[0] if len(sigs) > 1 else 0  # F_SETSIG's signal (0: SIGIO)
        self._main_tid = threading.main_thread().native_id or 0
        self._main_ident = threading.main_thread().ident or 0
        self._lock = threading.Lock()  # arming and closing; the handler never takes it
        self._peek: socket.socket | None = None  # our dup of the link's socket
        self._flags = 0  # its file status flags once armed (O_ASYNC among them)
        self._closed = False
        self._count = 0  # messages the reader parsed
        self._tick: threading.Event | None = None
        self._busy = False
        self.signals = 0  # handler calls (tests and benchmarks look)
        self.served = 0  # ... that let the reader parse what arrived

    # -- the reader thread ------------------------------------------------------------

    def arm(self, sock: socket.socket) -> None:
        """Signal the main thread when ``sock`` (the link's, just connected) is readable."""
        with self._lock:
            self._disarm()
            if self._closed or isinstance(sock, ssl.SSLSocket):
                return  # TLS: a signal may mean a partial record; the plain path serves
            try:
                peek = sock.dup()
                peek.settimeout(0.0)  # a peek never waits (the link's is non-blocking too)
                wakeup.set_async(peek.fileno(), self._sig, self._main_tid)
                # Armed: what quiet() sets, with and without O_ASYNC (the flags stay
                # as they are: the link's socket keeps its timeout, so non-blocking).
                self._flags = fcntl.fcntl(peek.fileno(), fcntl.F_GETFL)
                self._peek = peek
            except OSError as e:
                logger.debug("tablevault-redis: fast path not armed: %r", e)

    @property
    def armed(self) -> bool:
        return self._peek is not None

    def disarm(self) -> None:
        with self._lock:
            self._disarm()

    def _disarm(self) -> None:
        peek, self._peek = self._peek, None
        if peek is not None:
            wakeup.clear_async(peek)
            peek.close()

    def quiet(self, on: bool) -> None:
        """While the lean heartbeat's reply is awaited (``on``), the socket does not
        signal: that reply is the reader's business, not the main thread's. Back on
        after, then one peek: bytes that came meanwhile (a notification) signal the
        main thread now. Takes no lock (the reply's callback may run in the handler)."""
        peek, flags = self._peek, self._flags
        if peek is None or self._closed:
            return
        try:
            fcntl.fcntl(peek.fileno(), fcntl.F_SETFL, flags & ~os.O_ASYNC if on else flags)
            if not on and self._peek is peek and self._unparsed():
                signal.pthread_kill(self._main_ident, self._sig or signal.SIGIO)
        except (OSError, ValueError) as e:  # closed meanwhile: disarmed, nothing to do
            logger.debug("tablevault-redis: fast path: %r", e)

    def parsed(self) -> None:
        self._count += 1
        tick = self._tick
        if tick is not None:
            tick.set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._disarm()
        wakeup.unserve(self)

    def forget_in_child(self) -> None:
        """After a fork: close our descriptor only (the parent's socket is the same)."""
        self._closed = True
        self._lock = threading.Lock()
        peek, self._peek = self._peek, None
        if peek is not None:
            with contextlib.suppress(OSError):
                peek.close()

    # -- the main thread ----------------------------------------------------------------

    def on_signal(self, signum: int) -> None:
        """The handler's work: never raises, waits at most _WAIT seconds."""
        self.signals += 1
        if self._busy or self._closed:
            return
        self._busy = True
        try:
            count = self._count  # before the peek: a parse after it ends the wait
            if not self._unparsed() or self._link.pumper == threading.get_ident():
                return  # nothing there, or this thread was reading when interrupted
            self.served += 1
            # Parse it here unless this thread was interrupted inside the control
            # state (a push updates it) or another thread reads or sends.
            if not self._control.acting and self._link.pump_now(_WAIT):
                return
            tick = self._tick = threading.Event()
            if self._count == count:
                tick.wait(_WAIT)
        except Exception as e:
            logger.debug("tablevault-redis: fast path: %r", e)
        finally:
            self._tick = None
            self._busy = False

    def _unparsed(self) -> bool:
        """Bytes wait in the socket: the reader has yet to take them. (After poll()
        says they are there, the reader needs the GIL before its recv(), so a busy
        main thread finds them still there.)"""
        peek = self._peek
        if peek is None:
            return False
        try:
            return bool(peek.recv(1, _PEEK))
        except OSError:  # BlockingIOError: nothing there (taken, or a late signal)
            return False


def start(link: Any, control: Any) -> LinkWakeup | None:
    """The fast path for ``link``, where it can be used (see :func:`wakeup.install`)."""
    sigs = wakeup.install()
    if not sigs:
        return None
    fast = LinkWakeup(sigs, link, control)
    wakeup.serve(fast)
    return fast
