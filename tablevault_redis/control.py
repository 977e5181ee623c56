"""The cached interrupt request, and what a checkpoint does with it.

``checkpoint_execution()`` reads one attribute, :attr:`ControlState.pending` (mirrored
as ``_pending`` on the object :meth:`ControlState.mirror_to` names, so a Vault's
checkpoint reads its own attribute); only when a request is pending does it take the
slow path in :meth:`ControlState.act`.
The listener and the heartbeat write the state, always from what they read on the
server (the request key and the record's counter), never from a notification's
payload. A request only applies when its sequence number is newer than the one
already applied, so a late read can never undo a newer request.

Sequence numbers count within an *epoch*, a random id in the process record. When the
server lost or reset the request state (a restart without persistence, a failover to
a replica that missed writes, a deleted key), the run's heartbeat starts a new epoch
from what the server holds (see ``heartbeat.lua`` and ``revive.lua``): the heartbeat
offers the new epoch first (:meth:`ControlState.offer_epoch`), and the first state
read in it becomes the new baseline (:meth:`ControlState.rebase`). States read in any
other epoch are stale and ignored.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from .connection import QUICK_TIMEOUT
from .errors import ExecutionStopped
from .replies import Held

# Seconds a checkpoint waits for the listener's read to verify an announced pause:
# as long as its own call would wait (its reply comes after the read's, on the same
# socket).
READ_WAIT = QUICK_TIMEOUT

# (kind: "paused" | "running" | "stopping", seq, who asked) -> None; must not block:
# it hands a write to the outbox (and says it in one log line).
Reporter = Callable[[str, int, str], None]
# (seq, who asked) -> False when stop ``seq`` was withdrawn before this checkpoint
# reached it, so it must not be acted on; True to act (also when it cannot be told).
Confirmer = Callable[[int, str], bool]
# (kind: "stopping" | "paused", seq, who asked) -> the ``ack`` script's reply, "" when
# Redis did not answer: ``kind`` itself only when the server holds that request and
# recorded the step.
Verifier = Callable[[str, int, str], str]


class ControlState:
    """What the listener has learned about this process's pending request."""

    def __init__(self, seq: int, report: Reporter, epoch: str = "") -> None:
        self.pending: str | None = None  # "stop", "pause" or None: read by checkpoints
        self.seq = seq
        self.epoch = epoch
        self._offered = ""  # a new epoch the heartbeat is proposing right now
        self.waiting = False  # a checkpoint is held in a pause
        self.by = ""
        # Who asked for the stop a checkpoint raised for (or "SIGTERM"): the outcome
        # written when the process ends. Cleared when a notebook cell consumes it.
        self.stopped_by = ""
        self._report = report
        self._raised_seq = 0  # the stop request a checkpoint last raised for
        self._dismissed_seq = 0  # a stop found withdrawn: not acted on again
        self.confirm: Confirmer = lambda _seq, _by: True
        self.verify: Verifier = lambda _kind, _seq, _by: ""
        # True while the listener's read of the request state is in flight (see
        # _await_read); the listener wakes the state whenever a read ends.
        self.reading: Callable[[], bool] = lambda: False
        self._verified: str | None = None  # the pending action as read from the server
        self._hint: tuple[int, str, str] | None = None  # (seq, action, by) announced
        self.acting = False  # in act() or consume_stop(): see link_wakeup
        # What a checkpoint raises for a stop (the interactive prompt needs its own).
        self.stop_error: Callable[[str], BaseException] = ExecutionStopped
        self._cond = threading.Condition()
        self._mirrors: list[Any] = []

    def mirror_to(self, owner: Any) -> None:
        """Keep ``owner._pending`` equal to :attr:`pending`: one attribute load fewer
        in a checkpoint than reaching through this object (benchmarks/bench_control.py,
        checkpoint vs ``Event.is_set``)."""
        owner._pending = self.pending
        self._mirrors.append(owner)

    def _set_pending(self, value: str | None) -> None:
        self.pending = value
        for owner in self._mirrors:
            owner._pending = value

    def apply(self, seq: int, action: str | None, by: str = "") -> bool:
        """Apply request ``seq`` (``resume`` or None clears); ignore older ones."""
        with self._cond:
            if seq <= self.seq:
                return False
            self.seq = seq
            self._verified = action if action in ("stop", "pause") else None
            self.by = by
            if self._hint is not None and self._hint[0] <= seq:
                self._hint = None
            self._show()
            return True

    def _show(self) -> None:
        """Called holding the lock: what checkpoints see, the verified state or a
        newer hint (a verified stop wins)."""
        hint = self._hint
        shown = self._verified
        if hint is not None and shown != "stop":
            shown = hint[1]
        self._set_pending(shown)
        self._cond.notify_all()

    def hint(self, epoch: str, seq: int, action: str, by: str) -> bool:
        """A notification announced request ``seq``: checkpoints act on it at once,
        each after verifying it on the server (:meth:`act`). Ignored unless newer
        than what is known, in this epoch, and a stop or a pause."""
        with self._cond:
            if epoch != self.epoch or seq <= self.seq or action not in ("stop", "pause"):
                return False
            if self._hint is not None and self._hint[0] >= seq:
                return False
            self._hint = (seq, action, by)
            self._show()
            return True

    def settle_hint(self) -> None:
        """A read made after the notification was applied: a hint newer than what
        it found was not a real request, and is dropped."""
        with self._cond:
            if self._hint is not None and self._hint[0] > self.seq:
                self._hint = None
                self._show()

    def apply_stored(self, seq: int, raw_request: str | None, epoch: str | None = None) -> bool:
        """Apply the state read from Redis: ``request_seq`` and the request key, read
        in ``epoch`` (None: the current one). A state of the epoch just offered is a
        new baseline; one of any other epoch is stale and ignored."""
        if epoch is not None and epoch != self.epoch:
            if epoch and epoch == self._offered:
                return self.rebase(epoch, seq, raw_request)
            return False
        if not raw_request:
            return self.apply(seq, None)
        parsed = _parse(raw_request)
        if parsed is None:
            return False
        return self.apply(max(seq, parsed[0]), parsed[1], parsed[2])

    def offer_epoch(self, epoch: str) -> None:
        """The heartbeat may start epoch ``epoch`` now: a state read in it applies."""
        with self._cond:
            self._offered = epoch

    def rebase(self, epoch: str, seq: int, raw_request: str | None) -> bool:
        """Start over in ``epoch`` from the state read there, whatever its sequence
        number. A stop already seen is kept: the run stops as it was asked to."""
        parsed = _parse(raw_request) if raw_request else None
        with self._cond:
            raised = self._verified == "stop" and self._raised_seq == self.seq
            if self._verified == "stop" and self._dismissed_seq == self.seq:
                self._verified = None  # withdrawn first: not a stop to keep
            self.epoch, self._offered = epoch, ""
            self.seq = max(seq, parsed[0]) if parsed else seq
            # Numbers of the old epoch mean nothing in this one (they start over).
            self._raised_seq, self._dismissed_seq = (self.seq if raised else 0), 0
            self._hint = None
            if self._verified != "stop":
                action = parsed[1] if parsed else None
                self._verified = action if action in ("stop", "pause") else None
                self.by = parsed[2] if parsed else ""
            self._show()
        return True

    def held(self) -> Held:
        """The state this run acts on, for the heartbeat to check against the server's."""
        with self._cond:
            dismissed = self._verified == "stop" and self._dismissed_seq == self.seq
            return Held(self.epoch, self.seq, "" if dismissed else self._verified or "", self.by)

    def act(self) -> None:
        """The slow path of a checkpoint: wait while paused, raise on stop.

        A stop keeps raising at every later checkpoint until it is consumed (see
        :meth:`consume_stop`), so code that catches it once cannot run on past it.
        """
        with self._acting():
            self._act()

    @contextlib.contextmanager
    def _acting(self) -> Iterator[None]:
        """Mark the main thread inside this state's slow path: the signal fast path
        (which interrupts only the main thread) leaves the state alone meanwhile.
        Another thread's checkpoint must not clear the mark under it."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self.acting = True
        try:
            yield
        finally:
            self.acting = False

    def _act(self) -> None:
        verified, paused = "", False
        while True:
            hint = self._hint
            if hint is not None:
                if hint[1] == "pause" and self._await_read(hint):
                    continue  # the listener's read settled it: act on what it read
                verified = self._check_hint(hint)
            with self._cond:
                if self._hint is not None:
                    continue  # announced meanwhile (or during the pause): verify it
                if self.pending == "pause":
                    if self._wait_paused(report=verified != "pause" and not paused):
                        verified, paused = "", False  # ended: a newer pause is reported anew
                        continue
                    paused = True
                    if self._hint is not None:
                        continue
                if self.pending != "stop" or self._dismissed_seq == self.seq:
                    return
                seq, by, first = self.seq, self.by, self._raised_seq != self.seq
            break
        if first and not self._confirm_stop(seq, by):
            return
        raise self.stop_error(by)

    def _await_read(self, hint: tuple[int, str, str]) -> bool:
        """Wait (at most ``READ_WAIT`` s) for the listener's read in flight to settle
        an announced pause: sent when the notification came, its reply verifies the
        pause before a call of the checkpoint's own could (on the same socket, that
        call's reply would come after it). A stop still needs its own (``ack
        stopping`` makes it final). False when no read is in flight or it did not
        come in time: the checkpoint then verifies it by itself."""
        deadline = time.monotonic() + READ_WAIT
        with self._cond:
            while self._hint is hint and self.reading():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return self._hint is not hint

    def wake(self) -> None:
        """A read ended (answered, failed, or its connection lost): a checkpoint
        waiting for it looks again."""
        with self._cond:
            self._cond.notify_all()

    def _check_hint(self, hint: tuple[int, str, str]) -> str:
        """Verify an announced request on the server (one round trip, outside the
        lock) before acting on it: the action when the server holds it and recorded
        the step (stopping, paused), else "" (forged, withdrawn, or no answer: the
        hint is dropped and the next read decides)."""
        seq, action, by = hint
        kind = "stopping" if action == "stop" else "paused"
        try:
            reply = self.verify(kind, seq, by)
        except BaseException:
            # Interrupted (Ctrl-C) after the server may have recorded the pause: the
            # process runs on, so its record must not stay "paused".
            if action == "pause":
                self._report("running", seq, by)
            raise
        with self._cond:
            if self._hint == hint:
                self._hint = None
            if reply != kind:
                self._show()
                return ""
            if seq < self.seq or (seq == self.seq and self._verified != action):
                # Recorded, but a newer request was read meanwhile (a resume): the
                # run goes on, so its record must say running again.
                if action == "pause":
                    self._report("running", self.seq, self.by)
                self._show()
                return ""
            self.seq, self._verified, self.by = seq, action, by
            if action == "stop":
                self._raised_seq, self.stopped_by = seq, by
            self._show()
            return action

    def _wait_paused(self, report: bool = True) -> bool:
        """Called holding the lock: report paused (unless the pause's verification
        recorded it), wait until this pause ends (a stop, or any newer request: a
        resume, even one a new pause followed at once), report running unless a stop
        ended it. True when running was reported."""
        if report:
            self._report("paused", self.seq, self.by)
        seq = self.seq
        self.waiting = True
        try:
            while self.pending == "pause" and self.seq == seq:
                self._cond.wait(1.0)
        except BaseException:
            self.waiting = False
            # Interrupted while paused (Ctrl-C, a notebook's stop button): the
            # process runs on, so its record must not stay "paused".
            self._report("running", self.seq, self.by)
            raise
        self.waiting = False
        if self.pending == "stop":
            return False  # the stop's own report follows
        self._report("running", self.seq, self.by)
        return True

    def _confirm_stop(self, seq: int, by: str) -> bool:
        """Make stop ``seq`` final before its first raise, outside the lock (one round
        trip): a withdrawal that got there first wins, and this checkpoint runs on."""
        if not self.confirm(seq, by):
            with self._cond:
                self._dismissed_seq = seq
            return False
        with self._cond:
            self._raised_seq = seq
            self.stopped_by = by
        return True

    def consume_stop(self) -> tuple[int, str] | None:
        """End a stop that a checkpoint raised for: a notebook cell it aborted is over,
        and the kernel's next cell runs. Returns ``(seq, who asked)``, or None when no
        raised stop is pending (a stop that no checkpoint reached yet stays)."""
        with self._acting():
            return self._consume_stop()

    def _consume_stop(self) -> tuple[int, str] | None:
        with self._cond:
            if self.pending == "stop" and self._raised_seq == self.seq:
                self._verified = None
                self._set_pending(None)
                self.stopped_by = ""  # the kernel lives on: the process itself goes on
                return self.seq, self.by
            return None

    def mark_stopped(self, by: str) -> None:
        """A stop acted on outside a checkpoint (SIGTERM: called from a signal handler,
        so it takes no lock)."""
        self.stopped_by = by


def new_epoch() -> str:
    """A fresh epoch: the generation of a record's request sequence numbers."""
    return uuid.uuid4().hex[:12]


def _parse(raw: str | None) -> tuple[int, str | None, str] | None:
    """(seq, action, by) of a request's JSON; None when it is not well formed."""
    try:
        req = json.loads(raw or "")
        seq = req["seq"]
        if isinstance(seq, bool) or not isinstance(seq, (int, float)) or seq != int(seq):
            return None
        return int(seq), req["action"], str(req.get("by", ""))
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        return None
