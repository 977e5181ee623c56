"""``top``: the live view (see :mod:`.topview`; textual is imported only here)."""

from __future__ import annotations

import click

from .app import app, session
from .options import connection
from .views import FILTERS, SORTS


@app.command("top")
@click.option(
    "--sort", type=click.Choice(SORTS), default="started", show_default=True, help="Row order."
)
@click.option(
    "--filter",
    "view",
    type=click.Choice(FILTERS),
    default="live",
    show_default=True,
    help="Which processes: live ones, running or paused ones, or all (ended too).",
)
@click.option("--match", default="", help="Only names containing this text.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes.",
)
@connection
def top(sort: str, view: str, match: str, interval: float, url: str | None, namespace: str) -> None:
    """A live table of processes: progress, last record, heartbeat age, pending requests.

    Keys: up/down or j/k select, p pause, r resume, s stop (asks first), o next sort
    order, f next filter, q quit.
    """
    from . import topview

    with session(url, namespace) as client:
        topview.run(client, interval=interval, sort=sort, view=view, match=match)
