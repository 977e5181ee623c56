"""The commands that look: ``ps`` (and ``ps --watch``), ``tree``, ``show`` and
``namespaces``.

Each reads only through :class:`VaultClient`; ``--json`` prints the results'
``to_dict()`` with :mod:`.plain`, and tables and trees come from :mod:`.render`,
imported only when something is drawn.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from ..models import FINAL_STATUSES, STATUSES
from .app import app, note, session
from .options import all_option, connection, json_option, name_argument, optional_name_argument
from .plain import print_json
from .tree import build_forest

if TYPE_CHECKING:
    from ..client import VaultClient
    from ..models import ProcessInfo


SORTS = ("started", "name", "status", "records", "heartbeat")
FILTERS = ("live", "running", "paused", "all")  # top's views; "all" includes ended ones


def _nothing_here(client: VaultClient, all_: bool) -> str:
    """``no live processes``; when other namespaces have processes, a second line
    naming them (the usual reason for an empty list is another namespace)."""
    text = "no live processes" if not all_ else "no processes"
    others = {ns: n for ns, n in client.list_namespaces().items() if ns != client.namespace}
    if not others:
        return text
    listed = ", ".join(f"{ns} ({n})" for ns, n in others.items())
    return f"{text}\nother namespaces with processes: {listed}; choose one with --namespace"


RECENT_CRASH_S = 3600.0  # a run seen crashed this recently stays in the default views


def live_or_recently_crashed(p: ProcessInfo, now: float) -> bool:
    """What ``ps`` and ``top`` show by default: live processes, and runs that crashed
    (a ``kill -9``, a lost host) within :data:`RECENT_CRASH_S`, so that a process
    that died reads ``crashed`` rather than vanishing from the list."""
    if p.alive:
        return True
    return p.status == "crashed" and (p.ended_at or 0.0) >= now - RECENT_CRASH_S


def _select(procs: list[ProcessInfo], all_: bool, status: str | None) -> list[ProcessInfo]:
    """Live and recently crashed ones unless ``--all``, or a ``--status`` only ended
    runs have (``stopped``)."""
    if not all_ and status not in FINAL_STATUSES:
        now = time.time()
        procs = [p for p in procs if live_or_recently_crashed(p, now)]
    return [p for p in procs if status is None or p.status == status]


@app.command("ps")
@all_option
@click.option("--status", type=click.Choice(STATUSES), help="Only processes with this status.")
@click.option(
    "--sort",
    type=click.Choice(SORTS),
    default="started",
    show_default=True,
    help="Row order.",
)
@click.option(
    "--watch",
    "-w",
    type=click.FloatRange(min=0.1),
    metavar="SECONDS",
    help="Redraw every SECONDS until Ctrl-C (the plain version of `top`).",
)
@json_option
@connection
def ps(
    all_: bool,
    status: str | None,
    sort: str,
    watch: float | None,
    json_: bool,
    url: str | None,
    namespace: str,
) -> None:
    """List processes with status, progress, heartbeat and pending requests
    (live ones and those that crashed in the last hour, unless --all or an ended
    --status such as stopped)."""
    with session(url, namespace) as client:
        if watch is not None:
            _watch(client, all_, status, sort, watch, json_)
            return
        procs = sort_processes(_select(client.list_processes(), all_, status), sort)
        if json_:
            print_json([p.to_dict() for p in procs])
        elif not procs:
            note(_nothing_here(client, all_))
        else:
            from . import render

            render.show(render.process_table(procs, time.time(), render.width()))


def sort_processes(procs: list[ProcessInfo], key: str) -> list[ProcessInfo]:
    """Rows in ``key`` order: started (oldest first), name, status, records (most
    first) or heartbeat (stalest first)."""
    if key == "name":
        return sorted(procs, key=lambda p: p.name)
    if key == "status":
        return sorted(procs, key=lambda p: p.status)
    if key == "records":
        return sorted(procs, key=lambda p: -int(getattr(p, "records_written", 0) or 0))
    if key == "heartbeat":
        return sorted(procs, key=lambda p: p.heartbeat_at or 0.0)
    return list(procs)


def _watch(
    client: VaultClient, all_: bool, status: str | None, sort: str, every: float, json_: bool
) -> None:
    """Redraw until Ctrl-C: the screen is cleared between frames on a terminal; a pipe
    gets the frames one after another (with --json, one JSON list per line)."""
    import json
    import sys

    try:
        while True:
            procs = sort_processes(_select(client.list_processes(), all_, status), sort)
            if json_:
                print(json.dumps([p.to_dict() for p in procs], default=str), flush=True)
            else:
                from . import render

                render.show_frame(procs, time.time(), clear=sys.stdout.isatty())
            time.sleep(every)
    except KeyboardInterrupt:
        return


@app.command("tree")
@optional_name_argument
@all_option
@json_option
@connection
def tree(name: str | None, all_: bool, json_: bool, url: str | None, namespace: str) -> None:
    """Show processes as a tree of parents and children.

    Without --all, ended processes are shown only where a live one descends from
    them, so the live processes keep their place in the tree.
    """
    with session(url, namespace) as client:
        procs = client.list_processes(include_ended=True)
        if name is not None and not any(p.name == name for p in procs):
            client.get_process(name)  # raises NotFoundError naming the namespace
        forest = build_forest(procs, name=name, include_ended=all_)
        if not forest and not json_:
            note(_nothing_here(client, all_))
            return
    if json_:
        print_json([node.to_dict() for node in forest])
    else:
        from . import render

        render.show(render.process_tree(forest, namespace, time.time()))


@app.command("show")
@name_argument
@json_option
@connection
def show(name: str, json_: bool, url: str | None, namespace: str) -> None:
    """Show one process: its record, progress, pending request and code items."""
    with session(url, namespace) as client:
        info = client.get_process(name)
        items = client.get_code_items(name)
    if json_:
        print_json({"process": info.to_dict(), "code_items": [i.to_dict() for i in items]})
        return
    from . import render

    render.show_process(info, items)


@app.command("namespaces")
@json_option
@connection
def namespaces(json_: bool, url: str | None, namespace: str) -> None:
    """List the namespaces that have processes on this server, with how many."""
    with session(url, namespace) as client:
        found = client.list_namespaces()
    if json_:
        print_json([{"namespace": ns, "processes": n} for ns, n in found.items()])
    elif not found:
        note("no namespaces with processes on this server")
    else:
        width = max(len(ns) for ns in found)
        print(f"{'NAMESPACE':<{width}}  PROCESSES")
        for ns, n in found.items():
            print(f"{ns:<{width}}  {n}")
