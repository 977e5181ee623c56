"""``stop``, ``pause`` and ``resume``: to named processes or to every process a
filter selects, all requests in one pipeline (:meth:`VaultClient.request_many`).

Names and filters do not mix: either the names given, or the live processes that
match every filter (``--user``, ``--parent``, ``--status``; ``--all`` for every one).
A filter selects only processes the action applies to (``resume``: paused ones or
ones asked to pause). A selection by filter is listed and confirmed first unless
``--yes``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..errors import TableVaultError
from ..models import ACTIVE_STATUSES, acted_on
from .app import PROG, app, error_line, fail, note, session
from .options import connection, flag, json_option, names_argument, timeout_option, wait_option
from .plain import print_json

if TYPE_CHECKING:
    from ..client import VaultClient
    from ..models import ProcessInfo

_READ_ONE_BY_ONE = 20  # up to this many processes, their records are read one by one

HELP = {
    "stop": "Ask processes to stop at their next checkpoint.",
    "pause": "Ask processes to wait inside their next checkpoint until resumed.",
    "resume": "Let paused processes continue, or cancel a pause not reached yet.",
}


def applies(action: str, p: ProcessInfo) -> bool:
    """Whether a filter should select ``p`` for ``action``."""
    if not p.alive:
        return False
    if action == "stop":
        return p.interrupt_action != "stop"
    if action == "pause":
        return p.status == "running" and not p.interrupt_action
    return p.status == "paused" or p.interrupt_action == "pause"


def select(
    procs: list[ProcessInfo], action: str, user: str | None, parent: str | None, status: str | None
) -> list[str]:
    """The names of the processes every given filter matches."""
    return [
        p.name
        for p in procs
        if applies(action, p)
        and (user is None or p.user_id == user)
        and (parent is None or p.parent_process_name == parent)
        and (status is None or p.status == status)
    ]


def _targets(client: VaultClient, action: str, names: list[str], opts: dict[str, Any]) -> list[str]:
    filters = {k: opts[k] for k in ("user", "parent", "status") if opts[k] is not None}
    if names and (filters or opts["all_"]):
        fail("give process names or filters (--user, --parent, --status, --all), not both", 2)
    if names:
        return list(dict.fromkeys(names))
    if not filters and not opts["all_"]:
        fail(f"name the processes to {action}, or select them with a filter or --all", 2)
    chosen = select(client.list_processes(include_ended=False), action, **_filter_args(opts))
    if not chosen:
        note(f"no live process to {action} matches")
    elif not opts["yes"]:
        _confirm(action, chosen)
    return chosen


def _filter_args(opts: dict[str, Any]) -> dict[str, Any]:
    return {"user": opts["user"], "parent": opts["parent"], "status": opts["status"]}


def _confirm(action: str, names: list[str]) -> None:
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    try:
        agreed = click.confirm(f"{action} {len(names)} processes ({shown})?", err=True)
    except click.Abort:  # no terminal to ask (stdin closed or at its end)
        agreed = False
    if not agreed:
        fail(f"nothing sent; to {action} {len(names)} processes without asking, add --yes")


def _send(
    client: VaultClient, action: str, names: list[str], wait: bool, timeout: float
) -> list[dict[str, Any]]:
    results = client.request_many(action, names) if names else []
    rows = [_row(action, n, r, wait) for n, r in zip(names, results, strict=True)]
    if wait:
        # One deadline for all: the first wait gets the whole --timeout (as typed,
        # so a timeout message quotes it), the later ones what is left of it.
        deadline = time.monotonic() + timeout
        for i, row in enumerate(r for r in rows if "error" not in r):
            left = timeout if i == 0 else max(0.0, deadline - time.monotonic())
            _wait_one(client, action, row, left)
    states = _states(client, [row["process"] for row in rows if "error" not in row])
    for row in rows:
        info = states.get(row["process"])
        if "error" not in row and info is not None:
            row.update(status=info.status, alive=info.alive)
            row["_said"] = acted_on(action, info)  # words for people, not JSON
    return rows


def _states(client: VaultClient, names: list[str]) -> dict[str, ProcessInfo]:
    """The records of ``names`` after the requests: each read alone when they are few
    (another process's unreadable key is none of this command's business), else the
    whole namespace in one round trip."""
    if len(names) > _READ_ONE_BY_ONE:
        return {p.name: p for p in client.list_processes(include_ended=True)}
    states = {}
    for name in names:
        try:
            states[name] = client.get_process(name)
        except TableVaultError:  # gone or unreadable meanwhile: reported without a status
            continue
    return states


def _row(action: str, name: str, result: int | TableVaultError, wait: bool) -> dict[str, Any]:
    if isinstance(result, TableVaultError):
        return {"action": action, "process": name, "error": str(result)}
    return {"action": action, "process": name, "request_seq": result, "waited": wait}


def _wait_one(client: VaultClient, action: str, row: dict[str, Any], timeout: float) -> None:
    try:
        client.wait_for_request(action, row["process"], row["request_seq"], timeout=timeout)
    except KeyboardInterrupt:
        # Ctrl-C ends the waiting, not the request: say so, exit as shells expect.
        note(f"{PROG}: interrupted; the {action} request stays")
        raise click.exceptions.Exit(130) from None
    except TableVaultError as exc:
        row["error"] = str(exc)


def _report(rows: list[dict[str, Any]], single: bool, json_: bool) -> None:
    if json_:
        data = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
        if single and "error" not in rows[0]:
            print_json(data[0])
        elif not single:
            print_json(data)
    for row in rows:
        if "error" in row and (single or not json_):
            error_line(row["error"], 1)
        elif "error" not in row and not json_:
            print(_line(row))


def _line(row: dict[str, Any]) -> str:
    action, name, seq, status = row["action"], row["process"], row["request_seq"], row["status"]
    if row["waited"]:
        outcome = row.get("_said", f"it is now {status}")
        return f"{action}: process {name!r} acted on request {seq}; {outcome}"
    return f"{action} requested for process {name!r} (request {seq}); it is {status}"


def _control(action: str) -> Callable[..., None]:
    def command(names: tuple[str, ...], **opts: Any) -> None:
        with session(opts["url"], opts["namespace"]) as client:
            targets = _targets(client, action, list(names or ()), opts)
            rows = _send(client, action, targets, opts["wait"], opts["timeout"])
        single = len(names or ()) == 1
        _report(rows, single, opts["json_"])
        if any("error" in row for row in rows):
            raise click.exceptions.Exit(1)

    command.__doc__ = HELP[action] + (
        "\n\nName one or more processes, or select them with filters; a selection by "
        "filter is confirmed first (--yes skips that). All requests go out in one "
        "round trip."
    )
    return command


def _register(action: str) -> None:
    decorators = [
        app.command(action),
        names_argument,
        click.option("--user", help="Select the live processes of this user id."),
        click.option("--parent", help="Select the live children of this process."),
        click.option(
            "--status",
            type=click.Choice(ACTIVE_STATUSES),
            help="Select the live processes with this status.",
        ),
        flag("--all", "-a", "all_", help="Select every live process it applies to."),
        flag("--yes", "-y", help="Do not ask before acting on a selection."),
        wait_option,
        timeout_option,
        json_option,
        connection,
    ]
    fn: Any = _control(action)
    for decorate in reversed(decorators):
        fn = decorate(fn)


for _action in ("stop", "pause", "resume"):
    _register(_action)
