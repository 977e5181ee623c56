"""The Typer applications and how a refusal becomes an exit code.

Commands register themselves on :data:`app` (``commands.py``) and :data:`server_app`
(``server.py``); :func:`session` gives them a connected client whose library errors
end the command with exit code 1 and one line on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from ..client import VaultClient
from ..errors import TableVaultError

PROG = "tablevault-redis"

app = typer.Typer(
    name=PROG,
    help="Inspect and control TableVault processes recorded in Redis.",
    epilog="Exit codes: 0 done, 1 refused (message on stderr), 2 usage error "
    "(including malformed names), 130 Ctrl-C during --wait.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
server_app = typer.Typer(
    help="Manage the embedded per-user Redis server (no --url: always that one).",
    no_args_is_help=True,
)
app.add_typer(server_app, name="server")


def note(message: str) -> None:
    """A remark for the person at the terminal, on stderr (stdout is for data)."""
    print(message, file=sys.stderr, flush=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, no traceback: the message is what the user needs."""
    line = " | ".join(part.strip() for part in str(message).splitlines() if part.strip())
    note(f"{PROG}: error: {line}")
    raise typer.Exit(code)


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
    with refusals():
        client = VaultClient(url, namespace)
        try:
            yield client
        finally:
            client.close()


from . import withdraw  # noqa: E402, F401  (registers its command; needs the app above)
