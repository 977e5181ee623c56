"""The process-wide half of the signal fast path: which signals, their handler,
and the hooks that keep ``O_ASYNC`` safe (see :mod:`wakeup` for the rules).

One instance is served at a time (one Vault per process): :class:`wakeup.Wakeup` on a
cluster, :class:`link_wakeup.LinkWakeup` on the one connection. It offers
``on_signal(signum)``, ``close()`` and ``forget_in_child()``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import signal
import socket
import struct
import sys
import threading
from typing import Any

logger = logging.getLogger(__name__)

_RT_OFFSET = 5  # the real-time signals used on Linux: SIGRTMIN + this, and the next
_F_SETOWN_EX, _F_OWNER_TID = 15, 0  # Linux's <fcntl.h>; the fcntl module lacks them

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

_active: Any = None  # the armed instance the handler serves (one Vault per process)


def _signals() -> tuple[int, ...]:
    """The signals to handle: (notification, reply, SIGIO) on Linux (two real-time
    signals), (SIGIO,) on other Unixes, () where the kernel cannot signal on I/O."""
    sigio = getattr(signal, "SIGIO", None)
    if fcntl is None or sigio is None or not hasattr(os, "O_ASYNC"):
        return ()
    if not hasattr(fcntl, "F_SETOWN") or not hasattr(socket, "MSG_DONTWAIT"):
        return ()
    if hasattr(fcntl, "F_SETSIG") and hasattr(signal, "SIGRTMIN"):
        return (signal.SIGRTMIN + _RT_OFFSET, signal.SIGRTMIN + _RT_OFFSET + 1, sigio)
    return (sigio,)


def set_async(fd: int, sig: int, main_tid: int) -> None:
    """Signal the main thread (``sig``, Linux) or the process (SIGIO) when ``fd`` is
    readable."""
    if sig and main_tid:
        fcntl.fcntl(fd, fcntl.F_SETSIG, sig)
        fcntl.fcntl(fd, _F_SETOWN_EX, struct.pack("ii", _F_OWNER_TID, main_tid))
    else:
        fcntl.fcntl(fd, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC)


def clear_async(sock: socket.socket | None) -> None:
    with contextlib.suppress(OSError, ValueError):  # closed already: nothing to clear
        fd = sock.fileno() if sock is not None else -1
        if fd >= 0:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_ASYNC)


def serve(instance: Any) -> None:
    """Make ``instance`` (its ``on_signal``, ``close`` and ``forget_in_child``) the one
    the handler, the exit hook and the fork hook serve."""
    global _active
    _active = instance
    _hooks_once()


def unserve(instance: Any) -> None:
    global _active
    if _active is instance:
        _active = None


def _handler(signum: int, frame: Any) -> None:
    wakeup = _active
    if wakeup is not None:
        wakeup.on_signal(signum)


def install() -> tuple[int, ...]:
    """Install the handler for every fast-path signal; the signals, or () when the fast
    path cannot be used here (not the main thread, unsupported, a signal taken)."""
    sigs = _signals()
    if not sigs or threading.current_thread() is not threading.main_thread():
        return ()
    current = [signal.getsignal(s) for s in sigs]
    if any(h is not _handler and h != signal.SIG_DFL for h in current):
        logger.debug("tablevault-redis: a signal handler is set already; no fast path")
        return ()
    for sig in sigs:
        signal.signal(sig, _handler)
        signal.siginterrupt(sig, False)
    return sigs


def _at_exit() -> None:
    """Clear ``O_ASYNC`` before the interpreter resets the handlers (see above)."""
    wakeup = _active
    if wakeup is not None:
        wakeup.close()


def _after_fork_in_child() -> None:
    """Forget the parent's sockets (see the instance's ``forget_in_child``)."""
    global _active
    wakeup, _active = _active, None
    if wakeup is not None:
        wakeup.forget_in_child()


@functools.cache
def _hooks_once() -> None:
    atexit.register(_at_exit)
    if sys.platform != "win32":
        os.register_at_fork(after_in_child=_after_fork_in_child)
