"""The reply slots of :mod:`link`: where a command's reply lands, whichever thread
parses it, and the latch that says it has landed."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

# (reply or the exception it failed with) -> None, run in the thread that parsed it.
Callback = Callable[[Any], None]


class Push(list):  # type: ignore[type-arg,unused-ignore]
    """A push message (``message``, ``subscribe``...), told apart from a reply."""


class Latch:
    """A one-way ``threading.Event`` whose ``set`` never blocks: a signal handler may
    set it while the thread it interrupted is inside ``wait`` (an Event's lock is
    then held, and its ``set`` would deadlock). ``clear`` only from one thread."""

    def __init__(self) -> None:
        self._flag = False
        self._gate = threading.Lock()  # held while not set; released (never waited) by set
        self._gate.acquire()

    def set(self) -> None:
        if not self._flag:
            self._flag = True
            with contextlib.suppress(RuntimeError):  # released already
                self._gate.release()

    def is_set(self) -> bool:
        return self._flag

    def clear(self) -> None:
        if self._flag:
            self._flag = False
            self._gate.acquire(blocking=False)

    def wait(self, timeout: float | None = None) -> bool:
        if self._flag:
            return True
        if self._gate.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            self._gate.release()
        return self._flag


class Slot:
    """The reply to one command, filled by whichever thread parses it."""

    __slots__ = ("callback", "done", "error", "errors_only", "sent_at", "value")

    def __init__(self, callback: Callback | None = None, errors_only: bool = False) -> None:
        # errors_only: a command answered by pushes when it succeeds (SUBSCRIBE), so
        # only its error takes this slot (see Link.subscribe).
        self.errors_only = errors_only
        self.done = Latch()
        self.value: Any = None
        self.error: BaseException | None = None
        self.sent_at = time.monotonic()
        self.callback = callback

    def fill(self, value: Any, error: BaseException | None = None) -> None:
        self.value, self.error = value, error
        self.done.set()
        if self.callback is not None:
            with contextlib.suppress(Exception):  # a callback's failure is its own
                self.callback(error if error is not None else value)
