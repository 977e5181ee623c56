"""``tablevault-redis ui`` and ``tablevault-redis metrics``.

The web framework is imported only when a command runs, so the rest of the command
line starts as fast without the ``ui`` extra installed as with it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, NoReturn

import click

from .. import keys
from ..errors import TableVaultError, ValidationError

PROG = "tablevault-redis"
EXTRA_HINT = "the dashboard needs the ui extra: pip install 'tablevault-redis[ui]'"
TOKEN_ENV = "TABLEVAULT_UI_TOKEN"


def _fail(message: str) -> NoReturn:
    line = " | ".join(part.strip() for part in str(message).splitlines() if part.strip())
    print(f"{PROG}: error: {line}", file=sys.stderr, flush=True)
    raise click.exceptions.Exit(1)


def _namespaces(values: tuple[str, ...] | list[str] | None) -> list[str]:
    found: list[str] = []
    for value in values or ["tv"]:
        try:
            ns = keys.check_namespace(value)
        except ValidationError as exc:
            raise click.BadParameter(str(exc)) from None
        if ns not in found:
            found.append(ns)
    return found


_url_option = click.option(
    "--url",
    envvar="TABLEVAULT_REDIS_URL",
    default=None,
    help="Redis URL (redis://, rediss://, unix://, redis+sentinel://); default: the "
    "embedded server.",
)
_namespace_option = click.option(
    "--namespace",
    "namespace",
    multiple=True,
    envvar="TABLEVAULT_NAMESPACE",
    help="Namespace to show (repeat for several; default tv). No other is ever read.",
)
_host_option = click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (127.0.0.1: this machine only).",
)


def _port_option(default: int) -> Callable[[Any], Any]:
    return click.option(
        "--port",
        type=click.IntRange(0, 65535),
        default=default,
        show_default=True,
        help="Port (0: any free one).",
    )


@click.command("ui")
@_host_option
@_port_option(8765)
@click.option("--read-only", is_flag=True, help="No stop, pause or resume: watch only.")
@click.option(
    "--token", envvar=TOKEN_ENV, default=None, help="Access token (default: a random one)."
)
@_url_option
@_namespace_option
def ui(
    host: str,
    port: int,
    read_only: bool,
    token: str | None,
    url: str | None,
    namespace: tuple[str, ...],
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


@click.command("metrics")
@_host_option
@_port_option(9464)
@_url_option
@_namespace_option
def metrics(
    host: str,
    port: int,
    url: str | None,
    namespace: tuple[str, ...],
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


def register(app: click.Group) -> None:
    """Add ``ui`` and ``metrics`` to the ``tablevault-redis`` command line."""
    app.add_command(ui)
    app.add_command(metrics)
