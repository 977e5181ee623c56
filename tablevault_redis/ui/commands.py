"""``tablevault-redis ui`` and ``tablevault-redis metrics``.

The web framework is imported only when a command runs, so the rest of the command
line starts as fast without the ``ui`` extra installed as with it.
"""

from __future__ import annotations

import sys
import threading
from typing import Annotated, NoReturn

import typer

from .. import keys
from ..errors import TableVaultError, ValidationError

PROG = "tablevault-redis"
EXTRA_HINT = "the dashboard needs the ui extra: pip install 'tablevault-redis[ui]'"
TOKEN_ENV = "TABLEVAULT_UI_TOKEN"


def _fail(message: str) -> NoReturn:
    line = " | ".join(part.strip() for part in str(message).splitlines() if part.strip())
    print(f"{PROG}: error: {line}", file=sys.stderr, flush=True)
    raise typer.Exit(1)


def _namespaces(values: list[str] | None) -> list[str]:
    found: list[str] = []
    for value in values or ["tv"]:
        try:
            ns = keys.check_namespace(value)
        except ValidationError as exc:
            raise typer.BadParameter(str(exc)) from None
        if ns not in found:
            found.append(ns)
    return found


UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="TABLEVAULT_REDIS_URL",
        help="Redis URL (redis://, rediss://, unix://); default: the embedded server.",
        show_default=False,
    ),
]
NamespacesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--namespace",
        envvar="TABLEVAULT_NAMESPACE",
        help="Namespace to show (repeat for several; default tv). No other is ever read.",
        show_default=False,
    ),
]
HostOpt = Annotated[
    str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")
]


def ui(
    host: HostOpt = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")
    ] = 8765,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="No stop, pause or resume: watch only.")
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar=TOKEN_ENV,
            help="Access token (default: a random one).",
            show_default=False,
        ),
    ] = None,  # fmt: skip
    url: UrlOpt = None,
    namespace: NamespacesOpt = None,
) -> None:
    """Serve the dashboard: live processes, control buttons, record plots, /metrics.

    Prints the address with an access token; open that link (it sets a cookie) or
    send `Authorization: Bearer <token>`."""
    namespaces = _namespaces(namespace)
    try:
        from .app import serve
        from .auth import new_token
        from .state import UiConfig
    except ImportError as exc:
        _fail(f"{EXTRA_HINT} ({exc})")
    token = token or new_token()
    config = UiConfig(namespaces, token, url, host, port, read_only)
    try:
        serve(config, announce=lambda line: print(line, flush=True))
    except TableVaultError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc}")


def metrics(
    host: HostOpt = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port (0: any free one).")
    ] = 9464,
    url: UrlOpt = None,
    namespace: NamespacesOpt = None,
) -> None:
    """Serve only the Prometheus metrics (a scrape target; no page, no control, no
    token: bind it where only the scraper can reach it)."""
    namespaces = _namespaces(namespace)
    try:
        from prometheus_client import start_http_server

        from .metrics import Metrics
        from .state import UiConfig, UiState
    except ImportError as exc:
        _fail(f"{EXTRA_HINT} ({exc})")
    try:
        state = UiState(UiConfig(namespaces=namespaces, token="", url=url, read_only=True))
    except TableVaultError as exc:
        _fail(str(exc))
    try:
        server, _thread = start_http_server(port, addr=host, registry=Metrics(state).registry)
    except OSError as exc:
        state.close()
        _fail(f"cannot listen on {host}:{port}: {exc}")
    shown = f"[{host}]" if ":" in host else host
    print(f"tablevault-redis metrics for namespace {', '.join(namespaces)}", flush=True)
    print(f"    http://{shown}:{server.server_port}/metrics", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        state.close()


def register(app: typer.Typer) -> None:
    """Add ``ui`` and ``metrics`` to the ``tablevault-redis`` command line."""
    app.command("ui")(ui)
    app.command("metrics")(metrics)
