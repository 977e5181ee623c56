"""Recording the plain interactive interpreter (``python`` at its ``>>>`` prompt).

Each statement entered at the prompt is one code item, like a notebook cell: opened
when it starts to run, closed with its outcome when the prompt reads the next one.
The interpreter offers no hook around a statement, so the recorder watches the
audit events it raises anyway: ``exec`` of a code object compiled from the prompt
(``<stdin>`` on Python 3.11 and 3.12, ``<python-input-N>`` on the 3.13 prompt)
starts a statement, and the next ``compile`` for the prompt means it ended. The
statement's text is the source the 3.13 prompt passes to ``compile``, else the lines
readline added to its history since the last statement (no text when the prompt
does not use readline, e.g. when stdin is not a terminal).

A stop raises :class:`StatementStopped` (a ``KeyboardInterrupt``: any ``SystemExit``
would end the session), and the excepthook prints nothing more for it than the
one-line notice the checkpoint logged.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .errors import StatementStopped
from .recording import Hooks, _Recorder, outcome_of

logger = logging.getLogger(__name__)


def _from_prompt(filename: object) -> bool:
    name = str(filename)
    return name == "<stdin>" or name.startswith("<python-input-")


def _history_length() -> int:
    try:
        import readline
    except ImportError:  # not on every platform
        return 0
    return int(readline.get_current_history_length())


def _history_lines(after: int, upto: int) -> list[str]:
    import readline

    lines = (readline.get_history_item(i) for i in range(after + 1, upto + 1))
    return [line for line in lines if line is not None]


class PromptRecorder(_Recorder):
    """One code item per statement entered at the prompt (see the module's text)."""

    def __init__(self, hooks: Hooks) -> None:
        super().__init__(hooks)
        self._active = False
        self._open: int | None = None
        self._error: BaseException | None = None
        self._source: str | None = None  # the 3.13 prompt's last input
        self._exec_source: str | None = None  # the input the open item runs
        self._history = _history_length()
        self._prev_hook: Callable[..., Any] | None = None

    def start(self) -> None:
        self._active = True
        self._prev_hook = sys.excepthook
        sys.excepthook = self._excepthook
        sys.addaudithook(self._audit)  # cannot be removed: uninstall deactivates it

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        if not self._active or event not in ("compile", "exec"):
            return
        try:
            if event == "compile" and len(args) > 1 and _from_prompt(args[1]):
                if isinstance(args[0], str) or args[0] is None:  # not an AST (3.13)
                    self._ended()
                    self._source = args[0]
            elif event == "exec" and _from_prompt(getattr(args[0], "co_filename", "")):
                self._started()
        except Exception:  # an audit hook's error would break the user's statement
            logger.debug("tablevault-redis: recording a statement failed", exc_info=True)

    def _text(self) -> str:
        if self._source is not None:
            return self._source
        upto = _history_length()
        lines = _history_lines(self._history, upto) if upto > self._history else []
        self._history = upto
        return "\n".join(lines)

    def _started(self) -> None:
        if self._open is not None and self._exec_source is self._source:
            return  # the 3.13 prompt runs an input's statements one by one
        self._ended()
        self._error = None
        self._exec_source = self._source
        self._open = self._hooks.open_item(self._text())

    def _ended(self) -> None:
        if self._open is not None:
            status, error, _by = outcome_of(self._error, "")
            self._hooks.close_item(self._open, status, error)
            self._open = None
        self._hooks.cell_ended()

    def _excepthook(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if self._open is not None:
            self._error = exc
        elif isinstance(exc, SyntaxError):
            self._history = _history_length()  # the lines that did not parse
        if isinstance(exc, StatementStopped):
            return  # the checkpoint's notice said it in one line
        if self._prev_hook is not None:
            self._prev_hook(kind, exc, tb)

    def outcome(self, exc: BaseException | None) -> tuple[str, str, str]:
        # A stop ends a statement, not the session: the process ran to completion.
        return outcome_of(exc, "")

    def uninstall(self) -> None:
        # The statement running now (exit(), close()) is closed by the final status.
        self._active = False
        if sys.excepthook == self._excepthook and self._prev_hook is not None:
            sys.excepthook = self._prev_hook
