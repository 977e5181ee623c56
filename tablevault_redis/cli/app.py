"""The click groups and how a refusal becomes an exit code (and, under ``--json``,
a JSON error).

Commands register themselves on :data:`app` (``views``, ``logs``, ``control``,
``commands``, ``top``) and :data:`server_app` (``server``); :func:`session` gives
them a connected client whose library errors end the command with exit code 1 and
one line on stderr.

The command line is plain click, not typer: typer builds a pydantic validator for
every option it parses, which costs more start-up time than the rest of a ``ps``
together.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import import_module
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ..errors import TableVaultError

if TYPE_CHECKING:
    from ..client import VaultClient

PROG = "tablevault-redis"
EPILOG = (
    "Exit codes: 0 done, 1 refused (message on stderr), 2 usage error (including "
    "malformed names), 130 Ctrl-C during --wait. With --json, errors are one JSON "
    'object on stderr: {"error": "...", "code": N}.'
)

# Set when the command line has --json: errors are then printed as JSON.
json_errors: ContextVar[bool] = ContextVar("json_errors", default=False)


def note(message: str) -> None:
    """A remark for the person at the terminal, on stderr (stdout is for data)."""
    print(message, file=sys.stderr, flush=True)


def _one_line(message: str) -> str:
    return " | ".join(part.strip() for part in str(message).splitlines() if part.strip())


def error_line(message: str, code: int) -> None:
    """An error on stderr: ``PROG: error: ...`` or, under ``--json``, a JSON object."""
    line = _one_line(message)
    if json_errors.get():
        print(json.dumps({"error": line, "code": code}), file=sys.stderr, flush=True)
    else:
        note(f"{PROG}: error: {line}")


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, no traceback: the message is what the user needs."""
    error_line(message, code)
    raise click.exceptions.Exit(code)


# Which module defines each command, imported only when that command runs (or help
# lists them all): ``ps --json`` then loads the views, not ``top``, ``logs``, the
# control commands or the dashboard's. Relative to this package.
LAZY_COMMANDS = {
    **dict.fromkeys(("ps", "tree", "show", "namespaces"), ".views"),
    **dict.fromkeys(("stop", "pause", "resume"), ".control"),
    **dict.fromkeys(("ops", "cleanup", "query", "completion"), ".commands"),
    **dict.fromkeys(("prune", "trim"), ".retention"),
    **dict.fromkeys(("ui", "metrics"), "..ui.commands"),
    "withdraw": ".withdraw",
    "records": ".records",
    "logs": ".logs",
    "top": ".top",
    "server": ".server",
}


class Group(click.Group):
    """A group whose usage errors follow ``--json`` too (as a JSON object, exit 2),
    and whose commands (``lazy``: name -> module) are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module = import_module(self.lazy[cmd_name], __package__)
            found = getattr(module, cmd_name, None)  # a command the module did not add
            if cmd_name not in self.commands and isinstance(found, click.Command):
                self.add_command(found, cmd_name)
        return super().get_command(ctx, cmd_name)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        if parent is None:
            json_errors.set("--json" in args)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as exc:
            self._json_usage_error(exc)
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            self._json_usage_error(exc)
            raise

    @staticmethod
    def _json_usage_error(exc: click.ClickException) -> None:
        if json_errors.get():
            error_line(exc.format_message(), exc.exit_code)
            raise click.exceptions.Exit(exc.exit_code) from None


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

app = Group(
    name=PROG,
    help="Inspect and control TableVault processes recorded in Redis.",
    epilog=EPILOG,
    no_args_is_help=True,
    context_settings=CONTEXT,
    lazy=LAZY_COMMANDS,
)
server_app = Group(
    name="server",
    help="Manage the embedded per-user Redis server (no --url: always that one).",
    no_args_is_help=True,
    context_settings=CONTEXT,
)
app.add_command(server_app)


@contextmanager
def refusals() -> Iterator[None]:
    """Turn a ``TableVaultError`` into exit code 1 with its message."""
    try:
        yield
    except TableVaultError as exc:
        fail(str(exc) or type(exc).__name__)


@contextmanager
def server_refusals() -> Iterator[None]:
    """Like :func:`refusals`, plus file-system errors: the server commands create
    directories and sockets, and a permission problem deserves one line, not a trace."""
    with refusals():
        try:
            yield
        except OSError as exc:
            fail(f"embedded server: {exc}")


@contextmanager
def session(url: str | None, namespace: str) -> Iterator[VaultClient]:
    """A connected client whose refusals become exit code 1."""
    from ..client import VaultClient

    with refusals():
        client = VaultClient(url, namespace)
        try:
            yield client
        finally:
            client.close()
