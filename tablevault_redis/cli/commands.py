"""The commands that talk to Redis: parse, call the client, hand the result on.

Each command reads only through :class:`VaultClient`; ``--json`` prints the
results' ``to_dict()`` with :mod:`.plain`, and tables and trees come from
:mod:`.render`, imported only when something is drawn.
"""

from __future__ import annotations

import time

import typer

from ..client import VaultClient
from ..events import code_items
from ..models import acted_on
from .app import PROG, app, note, session
from .options import (
    AllOpt,
    CodeTextOpt,
    DescriptionTextOpt,
    FilteredOpt,
    FollowOpt,
    IntervalOpt,
    JsonOpt,
    LogsJsonOpt,
    NameArg,
    NamespaceOpt,
    OperationOpt,
    OptionalNameArg,
    ParentCodeTextOpt,
    TimeoutOpt,
    UrlOpt,
    WaitOpt,
)
from .plain import print_event, print_item, print_json, print_json_line
from .tree import build_forest

# --------------------------------------------------------------------------- processes


@app.command("ps")
def ps(
    all_: AllOpt = False,
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """List processes with status and liveness (live ones unless --all)."""
    with session(url, namespace) as client:
        procs = client.list_processes(include_ended=all_)
    if json_:
        print_json([p.to_dict() for p in procs])
    elif not procs:
        note("no live processes" if not all_ else "no processes")
    else:
        from . import render

        render.show(render.process_table(procs, time.time()))


@app.command("tree")
def tree(
    name: OptionalNameArg = None,
    all_: AllOpt = False,
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """Show processes as a tree of parents and children.

    Without --all, ended processes are shown only where a live one descends from
    them, so the live processes keep their place in the tree.
    """
    with session(url, namespace) as client:
        procs = client.list_processes(include_ended=True)
        if name is not None and not any(p.name == name for p in procs):
            client.get_process(name)  # raises NotFoundError naming the namespace
    forest = build_forest(procs, name=name, include_ended=all_)
    if json_:
        print_json([node.to_dict() for node in forest])
    elif not forest:
        note("no live processes" if not all_ else "no processes")
    else:
        from . import render

        render.show(render.process_tree(forest, namespace, time.time()))


@app.command("show")
def show(
    name: NameArg,
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """Show one process: its record and its code items."""
    with session(url, namespace) as client:
        info = client.get_process(name)
        items = client.get_code_items(name)
    if json_:
        print_json({"process": info.to_dict(), "code_items": [i.to_dict() for i in items]})
        return
    from . import render

    render.show_process(info, items)


# --------------------------------------------------------------------------- logs


@app.command("logs")
def logs(
    name: NameArg,
    follow: FollowOpt = False,
    json_: LogsJsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """Print a process's code items; with -f, follow its code stream live."""
    with session(url, namespace) as client:
        events = client.code_events(name)
        items = code_items(events, client.get_process(name))
        if json_ and not follow:
            print_json([i.to_dict() for i in items])
            return
        for item in items:
            if json_:
                print_json_line({"event": "item", **item.to_dict()})
            else:
                print_item(item)
        if not follow:
            return
        # Continue from the last entry read, not "$": nothing written between the
        # first read and the follow is missed.
        _follow(client, name, events[-1].id if events else "0-0", json_)


def _follow(client: VaultClient, name: str, after: str, json_: bool) -> None:
    """Print events as they come until Ctrl-C, which is how a follow is meant to end."""
    try:
        for event in client.follow_code(name, after=after, on_outage=_outage_note):
            if json_:
                print_json_line(event.to_dict())
            else:
                print_event(event)
    except KeyboardInterrupt:
        return


def _outage_note(error: Exception | None) -> None:
    """Like ``tail -F``: a lost connection is noted and retried, not the end."""
    note(f"{PROG}: {error}; retrying (Ctrl-C to end)" if error else f"{PROG}: reconnected")


# --------------------------------------------------------------------------- control


def _control(
    action: str, name: str, wait: bool, timeout: float, json_: bool, url: str | None, ns: str
) -> None:
    with session(url, ns) as client:
        method = getattr(client, f"{action}_execution")
        try:
            seq = method(name, wait=wait, timeout=timeout)
        except KeyboardInterrupt:
            # Ctrl-C ends the waiting, not the request: say so, exit as shells expect.
            note(f"{PROG}: interrupted; the {action} request stays")
            raise typer.Exit(130) from None
        info = client.get_process(name)
    if json_:
        print_json(
            {
                "action": action,
                "process": name,
                "request_seq": seq,
                "waited": wait,
                "status": info.status,
                "alive": info.alive,
            }
        )
    elif wait:
        print(f"{action}: process {name!r} acted on request {seq}; {acted_on(action, info)}")
    else:
        print(f"{action} requested for process {name!r} (request {seq}); it is {info.status}")


def _control_command(action: str, help_text: str) -> None:
    """Register ``stop``, ``pause`` or ``resume``: one signature, one behaviour."""

    def command(
        name: NameArg,
        wait: WaitOpt = False,
        timeout: TimeoutOpt = 30.0,
        json_: JsonOpt = False,
        url: UrlOpt = None,
        namespace: NamespaceOpt = "tv",
    ) -> None:
        _control(action, name, wait, timeout, json_, url, namespace)

    command.__doc__ = help_text
    app.command(action)(command)


_control_command("stop", "Ask a process to stop at its next checkpoint.")
_control_command("pause", "Ask a process to wait inside its next checkpoint until resumed.")
_control_command("resume", "Let a paused process continue, or cancel a pause not reached yet.")


# --------------------------------------------------------------------------- operations


@app.command("ops")
def ops(
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """List the multi-step writes in progress (open code items included)."""
    with session(url, namespace) as client:
        rows = [op.to_dict() for op in client.get_current_operations()]
    if json_:
        print_json(rows)
    elif not rows:
        note("no operations in progress")
    else:
        from . import render

        render.show(render.generic_table(rows, time.time()))


@app.command("cleanup")
def cleanup(
    interval: IntervalOpt = 60.0,
    operation: OperationOpt = None,
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """Finish or roll back stale operations, mark dead processes crashed, clear their requests."""
    with session(url, namespace) as client:
        report = client.vault_cleanup(interval=interval, selected_timestamps=operation or None)
    if json_:
        print_json(report.to_dict())
        return
    from . import render

    render.show(render.report_table(report.to_dict()))


@app.command("query")
def query(
    code_text: CodeTextOpt = None,
    parent_code_text: ParentCodeTextOpt = None,
    description_text: DescriptionTextOpt = None,
    filtered: FilteredOpt = None,
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """Find code items by text (every word must occur; filters combine with AND)."""
    with session(url, namespace) as client:
        matches = client.query_process_list(
            code_text=code_text,
            parent_code_text=parent_code_text,
            description_text=description_text,
            filtered=filtered or None,
        )
    rows = [m.to_dict() for m in matches]
    if json_:
        print_json(rows)
    elif not rows:
        note("no matches")
    else:
        from . import render

        render.show(render.generic_table(rows, time.time()))
