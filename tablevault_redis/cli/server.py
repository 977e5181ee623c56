"""``server start|stop|status|url``: the embedded per-user server, never ``--url``."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import PROG, note, server_app, server_refusals
from .options import JsonOpt
from .plain import print_json


@server_app.command("start")
def server_start(
    timeout: Annotated[
        float, typer.Option("--timeout", min=0, help="Seconds to wait for it to answer.")
    ] = 10.0,
    json_: JsonOpt = False,
) -> None:
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
def server_stop(
    timeout: Annotated[
        float, typer.Option("--timeout", min=0, help="Seconds to wait for it to end.")
    ] = 10.0,
    json_: JsonOpt = False,
) -> None:
    """Shut the embedded server down (its data stays on disk)."""
    from .. import embedded

    with server_refusals():
        stopped = embedded.stop_server(timeout=timeout)
    if json_:
        print_json({"stopped": stopped})
    else:
        print("stopped" if stopped else "not running")


@server_app.command("status")
def server_status(json_: JsonOpt = False) -> None:
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
def server_url(
    cli: Annotated[
        bool,
        typer.Option(
            "--cli",
            help="Print redis-cli connection arguments (-s SOCKET) instead: redis-cli -u "
            "does not accept unix:// URLs.",
        ),
    ] = False,
) -> None:
    """Print the embedded server's URL (unix://...), for TABLEVAULT_REDIS_URL.

    ``redis-cli -u`` takes only redis:// and rediss:// URLs, so for the unix socket
    use ``redis-cli $(tablevault-redis server url --cli)``.
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
