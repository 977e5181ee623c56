"""The lean heartbeat: the common beat, sent and applied by the link's reader thread.

Why: an idle worker's threads should cost next to nothing, and what a beat costs is
the Python it runs in cold caches. The outbox's beat woke the outbox thread, the
reader thread and (with the signal fast path) the main thread, and went through
redis-py's whole command path: about 1 ms of CPU per beat. Here the reader thread,
woken by the link's tick (:class:`link.Link`), packs the ``heartbeat`` script's
``EVALSHA`` itself, sends it with a callback, and applies the common reply (``beat``:
refreshed) the way the outbox does (:meth:`run.ProcessRun.beaten`). Only the reader
wakes; the signal fast path is kept quiet meanwhile (:meth:`link_wakeup.LinkWakeup.quiet`).

Anything else (another outcome, an error reply such as ``NOSCRIPT``, a lost
connection, a reply overdue past the socket timeout) hands the beat back to the
outbox (:meth:`outbox.Outbox.take_back`), which runs the full path at once (revival,
warnings, backoff through an outage); its next success hands the beat back here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from . import scripts
from .link import Link, Slot
from .replies import Heartbeat

logger = logging.getLogger(__name__)


class LeanBeat:
    """The reader thread's heartbeat for ``process`` (a :class:`run.ProcessRun`);
    ``last_seen`` gives the listener's last sign of life, ``take_back`` hands the
    beat to the outbox."""

    def __init__(
        self,
        link: Link,
        sha: str,
        process: Any,
        last_seen: Callable[[], float],
        take_back: Callable[[], None],
    ) -> None:
        self._link = link
        self._sha = sha
        self._process = process
        self._last_seen = last_seen
        self._take_back = take_back
        self.active = False  # the reader beats (else the outbox does)
        self._slot: Slot | None = None  # the beat in flight
        self._failed = False  # its reply calls for the full path
        self._fresh = ""  # the epoch its beats offer (see _send)
        self.quiet: Callable[[bool], None] = lambda on: None  # link_wakeup's, when armed
        self.sent = 0  # lean beats sent (tests look)

    def resume(self) -> bool:
        """The outbox's beat succeeded: the reader beats from one interval on."""
        self._failed = False
        self._link.defer_tick()
        self.active = True
        return True

    def stop(self) -> None:
        self.active = False

    def tick(self) -> None:
        """The reader thread, every interval: the next beat, or the hand-back."""
        if not self.active:
            return
        slot = self._slot
        if slot is not None and not slot.done.is_set():
            if time.monotonic() - slot.sent_at >= self._link.timeout:
                # A dead peer (the slot fails with the connection), or a reply whose
                # slot was lost (a parse interrupted by Ctrl-C): the outbox beats now.
                self._link.restart()
                self._slot = None
                self.quiet(False)
                self._hand_back()
            return
        if self._failed:
            self._hand_back()
            return
        try:
            self._send()
        except Exception as e:  # disconnected: the outbox retries with its backoff
            logger.debug("tablevault-redis: lean heartbeat not sent: %r", e)
            self.quiet(False)
            self._hand_back()

    def _hand_back(self) -> None:
        self.active = self._failed = False
        self._take_back()

    def _send(self) -> None:
        process = self._process
        # The fresh epoch is offered again until a beat starts the state over in it.
        fresh = "" if self._fresh == process.control.epoch else self._fresh
        self._fresh, kw = process.beat_args(self._last_seen(), fresh)
        k, args = scripts.heartbeat_args(process.namespace, process.name, **kw)
        # The first beat loads the script (EVAL); a server that lost it since
        # answers NOSCRIPT, and the outbox's full path loads it again.
        script = ["EVALSHA", self._sha] if self.sent else ["EVAL", scripts.source("heartbeat")]
        packed = pack([*script, str(len(k)), *k, *args])
        self.quiet(True)  # the reply need not interrupt the main thread
        (self._slot,) = self._link.send([packed], 1, self._on_reply)
        self.sent += 1

    def _on_reply(self, reply: Any) -> None:
        """Whichever thread parsed the reply (the reader, nearly always)."""
        self.quiet(False)
        if not isinstance(reply, Exception):
            try:
                beat = Heartbeat.parse(reply)
            except (TypeError, ValueError, IndexError):
                beat = None
            if beat is not None and beat.outcome == "beat" and self._process.beaten(beat):
                return
        self._failed = True
        self._link.defer_tick(0.0)  # handed back at the reader's next poll


def pack(args: list[str]) -> bytes:
    """One command in RESP, as redis-py packs it (strings sent as UTF-8)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def attach(conn: Any, process: Any, listener: Any, outbox: Any) -> None:
    """Give ``outbox`` the lean beat over ``conn``'s link, when it has a ticking one."""
    link = conn.link
    if link is None or not link.tick:
        return

    def last_seen() -> float:
        return float(listener.last_seen)

    lean = LeanBeat(link, conn.scripts.sha("heartbeat"), process, last_seen, outbox.take_back)
    if listener.wakeup is not None and hasattr(listener.wakeup, "quiet"):
        lean.quiet = listener.wakeup.quiet
    link.on_tick = lean.tick
    outbox.lean = lean
