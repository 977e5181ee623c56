"""Code capture: a script's whole ``__main__`` source, or each notebook cell.

Recorders only observe, and tell the run through :class:`Hooks` (which hands the
writes to the outbox); they never talk to Redis themselves, so a slow or absent
server never delays a cell. When the Vault ends it asks its recorder for the outcome.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, Protocol

from . import notices
from .errors import ExecutionStopped, StatementStopped


class Hooks(Protocol):
    """What a recorder needs from the run it records (:class:`run.ProcessRun`)."""

    @property
    def stopped_by(self) -> str: ...  # who asked for a stop that was acted on, or ""

    def mark_stopped(self, by: str) -> None: ...
    def open_item(self, text: str) -> int: ...
    def close_item(self, index: int, status: str, error: str) -> None: ...
    def cell_ended(self) -> None: ...


def main_source() -> str:
    """The source of ``__main__``: its file, or the code of ``python -c``."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            pass
    argv = getattr(sys, "orig_argv", [])
    if "-c" in argv and argv.index("-c") + 1 < len(argv):
        return argv[argv.index("-c") + 1]
    return ""


def format_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def outcome_of(exc: BaseException | None, stopped_by: str) -> tuple[str, str, str]:
    """(status, error text, stopped_by) for a run that ended with ``exc`` (or None)."""
    if isinstance(exc, ExecutionStopped | StatementStopped):
        return "stopped", "", exc.requested_by or stopped_by
    if isinstance(exc, KeyboardInterrupt):
        return "stopped", format_error(exc), "KeyboardInterrupt"
    if exc is not None and not isinstance(exc, SystemExit):
        return "failed", format_error(exc), ""
    if stopped_by:
        return "stopped", "", stopped_by
    return "completed", "", ""


class ThreadStops:
    """A stop raised at a checkpoint in another thread than the main one ends that
    thread only (the main thread stops at its own next checkpoint). Python would
    print "Exception in thread" with a traceback for it; the checkpoint's one-line
    notice says it instead. Other exceptions go to the previous hook."""

    def __init__(self) -> None:
        self._prev: Callable[[Any], Any] | None = None

    def install(self) -> None:
        self._prev = threading.excepthook
        threading.excepthook = self._hook

    def _hook(self, args: Any) -> None:
        if isinstance(args.exc_value, ExecutionStopped | StatementStopped):
            return
        if self._prev is not None:
            self._prev(args)

    def uninstall(self) -> None:
        if threading.excepthook == self._hook and self._prev is not None:
            threading.excepthook = self._prev


class _Recorder:
    """Watches the program for its code and its outcome."""

    def __init__(self, hooks: Hooks) -> None:
        self._hooks = hooks

    def outcome(self, exc: BaseException | None) -> tuple[str, str, str]:
        """(status, error text, stopped_by) of the run, ending with ``exc`` or None."""
        raise NotImplementedError


# Handled as a stop: ``docker stop`` and Kubernetes send SIGTERM, a closed terminal
# (or an ended ssh session) SIGHUP. Not every platform has SIGHUP.
_STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


def _unclaimed(handler: Any) -> bool:
    """The default action, or the handler of a Vault of the process this one was
    forked from (there it gives the default action)."""
    owner = getattr(handler, "__self__", None)
    inherited = isinstance(owner, ScriptRecorder) and owner._pid != os.getpid()
    return handler == signal.SIG_DFL or inherited


class ScriptRecorder(_Recorder):
    """One code item for the whole script, closed at exit with its outcome.

    SIGTERM and SIGHUP become :class:`ExecutionStopped` so that ``finally`` blocks
    and ``atexit`` handlers run and the record says ``stopped`` (by ``SIGTERM`` or
    ``SIGHUP``), unless the program installed its own handler for that signal,
    which is then left alone. Only the first one raises: another one arriving while
    the program ends is ignored (SIGKILL still ends it at once). A forked child
    (``multiprocessing``'s workers) inherits the handler but not the Vault: there the
    signal gets its default action, and a Vault the child makes takes it over.
    """

    def __init__(self, hooks: Hooks) -> None:
        super().__init__(hooks)
        self._error: BaseException | None = None
        self._prev_hook: Callable[..., Any] | None = None
        self._prev_signals: dict[int, Any] = {}
        self._signalled = ""  # the stop signal being handled, once one arrived
        self._pid = os.getpid()  # a forked child inherits the handler, not the Vault

    def start(self) -> None:
        self._hooks.open_item(main_source())
        _fork_hooks_once()
        self._prev_hook = sys.excepthook
        sys.excepthook = self._excepthook
        for signum in _STOP_SIGNALS:
            try:
                if _unclaimed(signal.getsignal(signum)):
                    self._prev_signals[signum] = signal.signal(signum, self._on_signal)
            except ValueError:  # not the main thread: signals cannot be handled here
                break

    def _excepthook(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        self._error = exc
        if self._prev_hook is not None:
            self._prev_hook(kind, exc, tb)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:  # inherited by a forked child: the default action
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        name = signal.Signals(signum).name
        if self._signalled:  # a closing terminal may hang up twice: the stop runs
            notices.signalled_again(name, self._signalled)  # already, and raising
            return  # again would break off its finally blocks
        self._signalled = name
        self._hooks.mark_stopped(name)
        notices.signalled(name)
        raise ExecutionStopped(name, code=128 + signum)

    def outcome(self, exc: BaseException | None) -> tuple[str, str, str]:
        # sys.last_value: CPython sets it for an uncaught exception before calling any
        # excepthook, so a program that replaced ours (rich, loguru) is still seen.
        error = exc or self._error or getattr(sys, "last_value", None)
        return outcome_of(error, self._hooks.stopped_by)

    def uninstall(self) -> None:
        if sys.excepthook == self._excepthook and self._prev_hook is not None:
            sys.excepthook = self._prev_hook
        for signum, prev in self._prev_signals.items():
            try:
                if signal.getsignal(signum) == self._on_signal:
                    signal.signal(signum, prev)
            except ValueError:
                pass


# --------------------------------------------------------------------------- fork

_fork_masks = threading.local()  # the forking thread's signal mask before fork()


def _ours(signum: int) -> bool:
    """``signum`` is handled by a :class:`ScriptRecorder` (this process's or inherited)."""
    return isinstance(getattr(signal.getsignal(signum), "__self__", None), ScriptRecorder)


def _before_fork() -> None:
    """Block the stop signals across fork(). One sent to the child before CPython has
    reset its signal state there trips the inherited handler's flag, which that reset
    clears: the child never sees it (``multiprocessing``'s ``terminate()`` right after
    ``start()`` left the child running). Blocked, it waits for the default action."""
    sigs = [s for s in _STOP_SIGNALS if _ours(s)]
    _fork_masks.previous = signal.pthread_sigmask(signal.SIG_BLOCK, sigs) if sigs else None


def _after_fork_in_parent() -> None:
    previous, _fork_masks.previous = getattr(_fork_masks, "previous", None), None
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _after_fork_in_child() -> None:
    """The inherited handlers give way to the default action (the child has no
    Vault), then whatever arrived meanwhile is delivered."""
    previous, _fork_masks.previous = getattr(_fork_masks, "previous", None), None
    if previous is None:
        return
    for signum in _STOP_SIGNALS:
        with contextlib.suppress(ValueError):  # not the main thread: left as inherited
            if _ours(signum):
                signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@functools.cache
def _fork_hooks_once() -> None:
    if hasattr(os, "register_at_fork") and hasattr(signal, "pthread_sigmask"):
        os.register_at_fork(
            before=_before_fork,
            after_in_parent=_after_fork_in_parent,
            after_in_child=_after_fork_in_child,
        )


class NotebookRecorder(_Recorder):
    """One code item per cell run after the Vault was created.

    IPython catches every exception in a cell (``SystemExit`` included) and does not
    call ``sys.excepthook``, so outcomes are read from ``post_run_cell``'s result.
    The callbacks accept extra arguments: IPython changed their signature in 8.16.
    """

    def __init__(self, hooks: Hooks, shell: Any) -> None:
        super().__init__(hooks)
        self._shell = shell
        self._open: int | None = None

    def start(self) -> None:
        self._shell.events.register("pre_run_cell", self._pre_run_cell)
        self._shell.events.register("post_run_cell", self._post_run_cell)

    def _pre_run_cell(self, info: Any = None, *args: Any, **kwargs: Any) -> None:
        text = getattr(info, "raw_cell", None) or ""
        self._open = self._hooks.open_item(text)

    def _post_run_cell(self, result: Any = None, *args: Any, **kwargs: Any) -> None:
        if self._open is not None:  # None: the cell that created the Vault
            exc = getattr(result, "error_before_exec", None) or getattr(
                result, "error_in_exec", None
            )
            status, error, _by = outcome_of(exc, "")
            self._hooks.close_item(self._open, status, error)
            self._open = None
        self._hooks.cell_ended()

    def outcome(self, exc: BaseException | None) -> tuple[str, str, str]:
        # A stop ends a cell, not the kernel: the process itself ran to completion.
        return outcome_of(exc, "")

    def uninstall(self) -> None:
        for event, cb in (
            ("pre_run_cell", self._pre_run_cell),
            ("post_run_cell", self._post_run_cell),
        ):
            with contextlib.suppress(ValueError):
                self._shell.events.unregister(event, cb)
