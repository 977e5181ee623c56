"""``server start|stop|status|url``: the embedded per-user server, never ``--url``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .app import PROG, note, server_app, server_refusals
from .options import flag, json_option
from .plain import print_json

F = TypeVar("F", bound=Callable[..., Any])


def _timeout(what: str) -> Callable[[F], F]:
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0),
        default=10.0,
        show_default=True,
        help=f"Seconds to wait for it to {what}.",
    )


@server_app.command("start")
@_timeout("answer")
@json_option
def server_start(timeout: float, json_: bool) -> None:
    """Start the embedded server unless it runs; print its URL."""
    from .. import embedded

    with server_refusals():
        was_running = bool(embedded.server_status().get("running"))
        url = embedded.ensure_server(timeout=timeout)
    if json_:
        print_json({"url": url, "started": not was_running})
    else:
        print(url)
        note("already running" if was_running else "started")


@server_app.command("stop")
@_timeout("end")
@json_option
def server_stop(timeout: float, json_: bool) -> None:
    """Shut the embedded server down (its data stays on disk)."""
    from .. import embedded

    with server_refusals():
        stopped = embedded.stop_server(timeout=timeout)
    if json_:
        print_json({"stopped": stopped})
    else:
        print("stopped" if stopped else "not running")


@server_app.command("status")
@json_option
def server_status(json_: bool) -> None:
    """Describe the embedded server without starting it."""
    from .. import embedded

    with server_refusals():
        state = embedded.server_status()
    if json_:
        print_json(state)
        return
    from . import render

    render.show(render.server_table(state))


@server_app.command("url")
@flag(
    "--cli",
    help="Print redis-cli connection arguments (-s SOCKET) instead: redis-cli -u "
    "does not accept unix:// URLs.",
)
def server_url(cli: bool) -> None:
    """Print the embedded server's URL (unix://...), for TABLEVAULT_REDIS_URL.

    redis-cli -u takes only redis:// and rediss:// URLs, so for the unix socket
    use: redis-cli $(tablevault-redis server url --cli)
    """
    from .. import embedded

    with server_refusals():
        url = embedded.server_url()
        running = bool(embedded.server_status().get("running"))
    if not cli:
        print(url)
    elif url.startswith("unix://"):
        print(f"-s {url[len('unix://') :]}")
    else:
        print(f"-u {url}")
    if not running:
        note(f"note: not running; start it with `{PROG} server start`")
