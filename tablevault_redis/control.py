"""The cached interrupt request, and what a checkpoint does with it.

``checkpoint_execution()`` reads one attribute, :attr:`ControlState.pending`; only
when a request is pending does it take the slow path in :meth:`ControlState.act`.
The listener and the heartbeat write the state; a request only applies when its
sequence number is newer than the one already applied, so a late or repeated
notification can never undo a newer request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from .errors import ExecutionStopped

# (kind: "paused" | "running" | "stopping", seq, who asked) -> None; must not block:
# it hands a write to the outbox (and says it in one log line).
Reporter = Callable[[str, int, str], None]


class ControlState:
    """What the listener has learned about this process's pending request."""

    def __init__(self, seq: int, report: Reporter) -> None:
        self.pending: str | None = None  # "stop", "pause" or None: read by checkpoints
        self.seq = seq
        self.by = ""
        # Who asked for the stop a checkpoint raised for (or "SIGTERM"): the outcome
        # written when the process ends. Cleared when a notebook cell consumes it.
        self.stopped_by = ""
        self._report = report
        self._raised_seq = 0  # the stop request a checkpoint last raised for
        # What a checkpoint raises for a stop (the interactive prompt needs its own).
        self.stop_error: Callable[[str], BaseException] = ExecutionStopped
        self._cond = threading.Condition()

    def apply(self, seq: int, action: str | None, by: str = "") -> bool:
        """Apply request ``seq`` (``resume`` or None clears); ignore older ones."""
        with self._cond:
            if seq <= self.seq:
                return False
            self.seq = seq
            self.pending = action if action in ("stop", "pause") else None
            self.by = by
            self._cond.notify_all()
            return True

    def apply_stored(self, seq: int, raw_request: str | None) -> bool:
        """Apply the state read from Redis: ``request_seq`` and the request key."""
        if not raw_request:
            return self.apply(seq, None)
        try:
            req = json.loads(raw_request)
            return self.apply(max(seq, int(req["seq"])), req["action"], str(req.get("by", "")))
        except (ValueError, KeyError, TypeError):
            return False

    def apply_message(self, data: str) -> bool:
        """Apply a pub/sub notification ``{"seq", "action", "by"}``."""
        try:
            msg = json.loads(data)
            return self.apply(int(msg["seq"]), msg["action"], str(msg.get("by", "")))
        except (ValueError, KeyError, TypeError):
            return False

    def act(self) -> None:
        """The slow path of a checkpoint: wait while paused, raise on stop.

        A stop keeps raising at every later checkpoint until it is consumed (see
        :meth:`consume_stop`), so code that catches it once cannot run on past it.
        """
        with self._cond:
            if self.pending == "pause":
                self._report("paused", self.seq, self.by)
                try:
                    while self.pending == "pause":
                        self._cond.wait(1.0)
                except BaseException:
                    # Interrupted while paused (Ctrl-C, a notebook's stop button): the
                    # process runs on, so its record must not stay "paused".
                    self._report("running", self.seq, self.by)
                    raise
                if self.pending is None:
                    self._report("running", self.seq, self.by)
            if self.pending == "stop":
                if self._raised_seq != self.seq:
                    self._raised_seq = self.seq
                    self.stopped_by = self.by
                    self._report("stopping", self.seq, self.by)
                raise self.stop_error(self.by)

    def consume_stop(self) -> tuple[int, str] | None:
        """End a stop that a checkpoint raised for: a notebook cell it aborted is over,
        and the kernel's next cell runs. Returns ``(seq, who asked)``, or None when no
        raised stop is pending (a stop that no checkpoint reached yet stays)."""
        with self._cond:
            if self.pending == "stop" and self._raised_seq == self.seq:
                self.pending = None
                self.stopped_by = ""  # the kernel lives on: the process itself goes on
                return self.seq, self.by
            return None

    def mark_stopped(self, by: str) -> None:
        """A stop acted on outside a checkpoint (SIGTERM: called from a signal handler,
        so it takes no lock)."""
        self.stopped_by = by
