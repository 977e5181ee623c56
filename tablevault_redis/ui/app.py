"""The dashboard application: pages, API, feeds and metrics behind the token guard,
and :func:`serve` that runs it with uvicorn."""

from __future__ import annotations

import logging
import socket
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import TableVaultError
from . import api
from .auth import TokenGuard
from .metrics import CONTENT_TYPE, Metrics
from .state import UiConfig, UiState

log = logging.getLogger(__name__)

STATIC = Path(str(resources.files(__package__).joinpath("static")))
PAGES = ("/", "/process", "/list")


def _page(request: Request) -> Response:
    """The one HTML page; its script shows the table, a process or a list by path."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


def _metrics(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE)


def create_app(state: UiState) -> Starlette:
    """The ASGI app serving ``state``; every route needs the token (see :mod:`auth`)."""
    routes: list[Any] = [Route(path, _page) for path in PAGES]
    routes += api.ROUTES
    routes += [
        Route("/metrics", _metrics),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(TokenGuard, token=state.config.token, port=state.config.port)],
        exception_handlers={TableVaultError: api.handle_error},
    )
    app.state.ui = state
    app.state.metrics = Metrics(state)
    return app


def browse_url(config: UiConfig) -> str:
    """The link to print: opening it sets the token cookie."""
    host = config.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{config.port}/?token={config.token}"


def bind(host: str, port: int) -> socket.socket:
    """Listen before announcing: the printed link works at once, and port 0 is known."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def serve(config: UiConfig, announce: Any = print) -> None:
    """Run the dashboard until interrupted; ``announce`` gets the address lines."""
    import uvicorn

    sock = bind(config.host, config.port)
    config.port = sock.getsockname()[1]
    state = UiState(config)
    try:
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(state),
                log_level="warning",
                timeout_graceful_shutdown=2,
                lifespan="off",
            )
        )
        where = ", ".join(config.namespaces)
        mode = " (read-only)" if config.read_only else ""
        announce(
            f"tablevault-redis dashboard for namespace {where}{mode} at {state.redis_url_shown}"
        )
        announce(f"    {browse_url(config)}")
        server.run(sockets=[sock])
    finally:
        state.close()
        sock.close()
