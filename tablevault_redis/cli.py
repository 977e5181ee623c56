"""The ``tablevault-redis`` command line (SPEC 10): inspect and control processes.

Tables are for people (times shown as local clock time plus how long ago); ``--json``
prints the same data for scripts, with times as raw seconds since the epoch.

Exit codes:

- ``0``: done.
- ``1``: refused or failed: the library raised a ``TableVaultError`` (unknown
  process, a request the target's state does not allow, a ``--wait`` that timed
  out, an unreachable server). Its message is printed on stderr as one line.
  (A closed output pipe, as in ``ps | head``, also ends with 1, silently: click's
  convention.)
- ``2``: usage error: an unknown command or option, a bad option value, and also a
  malformed process name or namespace (empty, too long, control characters or
  braces). Names are checked before anything connects, so a malformed name is
  always 2, while a well-formed name that does not exist is 1.
- ``130``: Ctrl-C while ``stop|pause|resume --wait`` waited; the request stays.

Every command that talks to Redis takes ``--url`` (default: ``TABLEVAULT_REDIS_URL``,
else the embedded per-user server, started on demand) and ``--namespace`` (default
``TABLEVAULT_NAMESPACE``, else ``tv``). The ``server`` commands act on the embedded
server only and take neither.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from . import embedded, keys
from .client import VaultClient
from .connection import translate
from .errors import TableVaultError, ValidationError, VaultConnectionError
from .models import CodeItem, ProcessInfo, fold_code_events

PROG = "tablevault-redis"
_FOLLOW_BLOCK_MS = 1000  # XREAD BLOCK per round: short, so Ctrl-C and outages show fast
_FOLLOW_MAX_BACKOFF = 2.0  # seconds between reconnection attempts while following

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

# --------------------------------------------------------------------------- output

# A pipe or a log file has no width; rich would assume 80 columns and fold names,
# so output that is not a terminal gets room for a full row unless COLUMNS says.
_out = Console(
    highlight=False,
    soft_wrap=False,
    width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200,
)
_STATUS_STYLE = {
    "running": "green",
    "paused": "yellow",
    "stopped": "magenta",
    "completed": "cyan",
    "failed": "red",
    "crashed": "bold red",
    "open": "green",
}


def _fail(message: str, code: int = 1) -> NoReturn:
    """One line on stderr, no traceback: the message is what the user needs."""
    line = " | ".join(part.strip() for part in str(message).splitlines() if part.strip())
    print(f"{PROG}: error: {line}", file=sys.stderr, flush=True)
    raise typer.Exit(code)


@contextmanager
def _refusals() -> Iterator[None]:
    """Turn a ``TableVaultError`` into exit code 1 with its message."""
    try:
        yield
    except TableVaultError as exc:
        _fail(str(exc) or type(exc).__name__)


@contextmanager
def _server_refusals() -> Iterator[None]:
    """Like :func:`_refusals`, plus file-system errors: the server commands create
    directories and sockets, and a permission problem deserves one line, not a trace."""
    with _refusals():
        try:
            yield
        except OSError as exc:
            _fail(f"embedded server: {exc}")


@contextmanager
def _session(url: str | None, namespace: str) -> Iterator[VaultClient]:
    """A connected client whose refusals become exit code 1."""
    with _refusals():
        client = VaultClient(url, namespace)
        try:
            yield client
        finally:
            client.close()


def _print_json(value: Any) -> None:
    """Plain ``print``: rich would colour and re-wrap what scripts must parse."""
    print(json.dumps(value, indent=2, default=str), flush=True)


def _as_dict(value: Any) -> dict[str, Any]:
    """A JSON-ready dict from whatever the client returns (dataclass, namedtuple, dict)."""
    if hasattr(value, "to_dict"):
        return dict(value.to_dict())
    if hasattr(value, "_asdict"):
        return dict(value._asdict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, dict):
        return dict(value)
    return {"value": value}


def _ago(seconds: float) -> str:
    if seconds < 0:
        return "in the future"
    if seconds < 1:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def _when(ts: float | None, now: float | None = None) -> str:
    """Local clock time (with the date unless today) and how long ago."""
    if ts is None:
        return "-"
    now = time.time() if now is None else now
    moment = datetime.fromtimestamp(ts)
    same_day = moment.date() == datetime.fromtimestamp(now).date()
    clock = moment.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")
    return f"{clock} ({_ago(now - ts)})"


def _duration(start: float | None, end: float | None) -> str:
    if start is None:
        return "-"
    seconds = max(0.0, (end if end is not None else time.time()) - start)
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def _status(status: str) -> Text:
    return Text(status or "-", style=_STATUS_STYLE.get(status, ""))


def _pair(value: Any) -> str:
    """``[name, index]`` (a query's matched parent code item) as ``name#index``."""
    if isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[1], int):
        return f"{value[0]}#{value[1]}"
    return str(value)


def _cell(value: Any) -> Text:
    """Cells as Text, never markup: process names may contain ``[`` and ``]``."""
    if value is None or value == "":
        return Text("-")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, list | tuple):
        return Text(", ".join(_pair(v) for v in value) or "-")
    return Text(str(value))


def _request(p: ProcessInfo) -> str:
    if not p.interrupt_action:
        return ""
    return (
        f"{p.interrupt_action} by {p.interrupt_request}"
        if p.interrupt_request
        else (p.interrupt_action)
    )


def _parent(p: ProcessInfo) -> str:
    return f"{p.parent_process_name}#{p.parent_process_index}" if p.parent_process_name else ""


def _first_line(text: str, limit: int = 60) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --------------------------------------------------------------------------- options


def _check_name(value: str) -> str:
    try:
        return keys.check_name(value)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from None


def _check_optional_name(value: str | None) -> str | None:
    return None if value is None else _check_name(value)


def _check_names(values: list[str] | None) -> list[str] | None:
    return [_check_name(v) for v in values] if values else values


def _check_namespace(value: str) -> str:
    try:
        return keys.check_namespace(value)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from None


UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="TABLEVAULT_REDIS_URL",
        help="Redis URL (redis://, rediss://, unix://); default: the embedded server.",
        show_default=False,
    ),
]
NamespaceOpt = Annotated[
    str,
    typer.Option(
        "--namespace",
        envvar="TABLEVAULT_NAMESPACE",
        help="Key prefix shared by the processes to look at.",
        callback=_check_namespace,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Process name.", callback=_check_name)]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Return only once the process has acted on it.")
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=0, help="Seconds --wait waits before giving up.")
]


# --------------------------------------------------------------------------- processes


@app.command("ps")
def ps(
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include ended processes.")] = False,
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """List processes with status and liveness (live ones unless --all)."""
    with _session(url, namespace) as client:
        procs = client.list_processes(include_ended=all_)
    if json_:
        _print_json([p.to_dict() for p in procs])
        return
    if not procs:
        print("no live processes" if not all_ else "no processes", file=sys.stderr)
        return
    table = Table(box=None, header_style="bold")
    for column in ("NAME", "STATUS", "ALIVE", "HOST", "PID", "USER", "PARENT", "STARTED"):
        table.add_column(column, no_wrap=True, overflow="fold")
    table.add_column("REQUEST", overflow="fold")
    now = time.time()
    for p in procs:
        table.add_row(
            _cell(p.name),
            _status(p.status),
            _cell(p.alive),
            _cell(p.host),
            _cell(p.pid),
            _cell(p.user_id),
            _cell(_parent(p)),
            _cell(_when(p.started_at, now)),
            _cell(_request(p)),
        )
    _out.print(table)


def _label(p: ProcessInfo, now: float) -> Text:
    label = Text(p.name, style="bold")
    label.append("  ")
    label.append_text(_status(p.status))
    if p.parent_process_name:
        label.append(f"  from code item #{p.parent_process_index}", style="dim")
    label.append(f"  {p.host}:{p.pid}  started {_when(p.started_at, now)}", style="dim")
    if p.interrupt_action:
        label.append(f"  [{_request(p)}]", style="yellow")
    return label


@app.command("tree")
def tree(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME",
            help="Show only this process and its descendants.",
            show_default=False,
            callback=_check_optional_name,
        ),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include ended processes.")] = False,
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """Show processes as a tree of parents and children.

    Without --all, ended processes are shown only where a live one descends from
    them, so the live processes keep their place in the tree.
    """
    with _session(url, namespace) as client:
        procs = client.list_processes(include_ended=True)
        if name is not None and not any(p.name == name for p in procs):
            client.get_process(name)  # raises NotFoundError naming the namespace
    by_name = {p.name: p for p in procs}
    kids: dict[str, list[ProcessInfo]] = {}
    for p in procs:
        if p.parent_process_name in by_name and p.parent_process_name != p.name:
            kids.setdefault(p.parent_process_name, []).append(p)

    keep: set[str] = set()
    if all_ or name is not None:
        keep = set(by_name)
    else:
        for p in procs:
            if p.alive:  # keep it and its ancestors
                cur: ProcessInfo | None = p
                while cur is not None and cur.name not in keep:
                    keep.add(cur.name)
                    cur = by_name.get(cur.parent_process_name)

    if name is not None:
        roots = [by_name[name]]
    else:
        roots = [
            p
            for p in procs
            if p.parent_process_name not in by_name or p.parent_process_name == p.name
        ]

    seen: set[str] = set()  # re-runs can make a cycle (a's parent b, b's parent a)

    def node(p: ProcessInfo) -> dict[str, Any]:
        seen.add(p.name)
        children = [c for c in kids.get(p.name, []) if c.name in keep and c.name not in seen]
        return {**p.to_dict(), "children": [node(c) for c in children]}

    forest = [node(r) for r in roots if r.name in keep and r.name not in seen]
    if name is None:  # whatever only a cycle reaches becomes a root of its own
        forest += [node(p) for p in procs if p.name in keep and p.name not in seen]
    if json_:
        _print_json(forest)
        return
    if not forest:
        print("no live processes" if not all_ else "no processes", file=sys.stderr)
        return
    now = time.time()

    def draw(branch: Tree, entry: dict[str, Any]) -> None:
        sub = branch.add(_label(by_name[entry["name"]], now))
        for child in entry["children"]:
            draw(sub, child)

    top = Tree(Text(f"namespace {namespace}", style="dim"), guide_style="dim")
    for entry in forest:
        draw(top, entry)
    _out.print(top)


@app.command("show")
def show(
    name: NameArg,
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """Show one process: its record and its code items."""
    with _session(url, namespace) as client:
        info = client.get_process(name)
        items = client.get_code_items(name)
    if json_:
        _print_json({"process": info.to_dict(), "code_items": [i.to_dict() for i in items]})
        return
    now = time.time()
    record = Table(box=None, show_header=False)
    record.add_column(style="bold")
    record.add_column(overflow="fold")
    for field, value in info.to_dict().items():
        if field == "status":
            record.add_row(field, _status(info.status))
        elif field.endswith("_at") and isinstance(value, float):
            record.add_row(field, _cell(_when(value, now)))
        else:
            record.add_row(field, _cell(value))
    _out.print(record)
    if not items:
        _out.print(Text("no code items", style="dim"))
        return
    table = Table(box=None, header_style="bold", title="code items", title_justify="left")
    for column in ("#", "RUN", "STATUS", "STARTED", "DURATION", "CHARS", "CODE / ERROR"):
        table.add_column(column, overflow="fold")
    for item in items:
        summary = (
            _first_line(item.error.strip().splitlines()[-1])
            if item.error
            else (_first_line(item.text))
        )
        table.add_row(
            _cell(item.index),
            _cell(item.run),
            _status(item.status),
            _cell(_when(item.started_at, now)),
            _cell(_duration(item.started_at, item.ended_at)),
            _cell(len(item.text)),
            Text(summary, style="red" if item.error else ""),
        )
    _out.print(table)


# --------------------------------------------------------------------------- logs


def _item_header(item: CodeItem) -> str:
    ended = f" → {_when(item.ended_at)}" if item.ended_at is not None else ""
    return (
        f"# ── code item {item.index} (run {item.run}) · {item.status} · "
        f"{_when(item.started_at)}{ended} ──"
    )


def _print_item(item: CodeItem) -> None:
    """The code text as it ran, between comment lines so the output stays readable."""
    print(_item_header(item))
    text = item.text
    print(text if text.endswith("\n") else text + "\n", end="")
    if item.error:
        print("# error:")
        for line in item.error.rstrip("\n").splitlines():
            print(f"#   {line}")
    sys.stdout.flush()


def _event_json(name: str, entry_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """A stream event as JSON: numbers as numbers, times as float seconds."""
    out: dict[str, Any] = {"process_name": name, "id": entry_id}
    for key, value in fields.items():
        if key in ("index", "run", "start_position"):
            out[key] = int(value) if value.lstrip("-").isdigit() else value
        elif key.endswith("_at"):
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = None
        else:
            out[key] = value
    return out


def _print_event(name: str, entry_id: str, fields: dict[str, str], json_: bool) -> None:
    if json_:
        print(json.dumps(_event_json(name, entry_id, fields)), flush=True)
        return
    if fields.get("event") == "open":
        item = fold_code_events(name, [(entry_id, fields)])
        if item:
            _print_item(item[0])
        return
    if fields.get("event") == "close":
        ended = fields.get("ended_at", "")
        ts = float(ended) if ended.replace(".", "", 1).isdigit() else None
        print(
            f"# ── code item {fields.get('index')} closed · {fields.get('status')} · {_when(ts)} ──"
        )
        error = fields.get("error", "").rstrip("\n")
        for line in error.splitlines():
            print(f"#   {line}")
        sys.stdout.flush()


def _stream_entries(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """XREAD's reply as (id, fields) pairs.

    RESP2 gives ``[[key, entries]]``; redis-py's RESP3 gives ``{key: [entries]}``.
    """
    if not reply:
        return []
    if isinstance(reply, dict):
        batches = [batch for value in reply.values() for batch in value]
    else:
        batches = [entries for _key, entries in reply]
    return [(entry_id, fields) for batch in batches for entry_id, fields in batch]


@app.command("logs")
def logs(
    name: NameArg,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Keep printing code items as they open and close (Ctrl-C ends)."
        ),
    ] = False,
    json_: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print a JSON list of code items; with -f, one JSON object per line: the "
            'items (event "item"), then each stream event ("open"/"close").',
        ),
    ] = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """Print a process's code items; with -f, follow its code stream live."""
    stream = keys.code(namespace, name)
    with _session(url, namespace) as client:
        client.get_process(name)
        with translate(client.redis_url):
            events = client.redis.xrange(stream)
        items = fold_code_events(name, events)
        if json_ and not follow:
            _print_json([i.to_dict() for i in items])
            return
        for item in items:
            if json_:
                print(json.dumps({"event": "item", **item.to_dict()}), flush=True)
            else:
                _print_item(item)
        if not follow:
            return
        # Continue from the last entry read, not "$": nothing written between the
        # XRANGE and the first XREAD is missed.
        last_id = events[-1][0] if events else "0-0"
        try:
            _follow(client, name, stream, last_id, json_)
        except KeyboardInterrupt:
            return  # Ctrl-C is how a follow is meant to end


def _follow(client: VaultClient, name: str, stream: str, last_id: str, json_: bool) -> None:
    """XREAD BLOCK from ``last_id`` until interrupted.

    Like ``tail -F``, a lost connection is retried (with backoff, noted on stderr)
    rather than ending the follow; resuming from the last id read loses nothing.
    """
    backoff = 0.0
    while True:
        try:
            with translate(client.redis_url):
                reply = client.redis.xread({stream: last_id}, block=_FOLLOW_BLOCK_MS, count=100)
        except VaultConnectionError as exc:
            if not backoff:
                print(f"{PROG}: {exc}; retrying (Ctrl-C to end)", file=sys.stderr, flush=True)
            backoff = min(max(backoff * 2, 0.05), _FOLLOW_MAX_BACKOFF)
            time.sleep(backoff)
            continue
        if backoff:
            print(f"{PROG}: reconnected", file=sys.stderr, flush=True)
            backoff = 0.0
        for entry_id, fields in _stream_entries(reply):
            last_id = entry_id
            _print_event(name, entry_id, fields, json_)


# --------------------------------------------------------------------------- control


def _control(
    action: str, name: str, wait: bool, timeout: float, json_: bool, url: str | None, ns: str
) -> None:
    with _session(url, ns) as client:
        method = getattr(client, f"{action}_execution")
        try:
            seq = method(name, wait=wait, timeout=timeout)
        except KeyboardInterrupt:
            # Ctrl-C ends the waiting, not the request: say so, exit as shells expect.
            print(f"{PROG}: interrupted; the {action} request stays", file=sys.stderr)
            raise typer.Exit(130) from None
        info = client.get_process(name)
    if json_:
        _print_json(
            {
                "action": action,
                "process": name,
                "request_seq": seq,
                "waited": wait,
                "status": info.status,
                "alive": info.alive,
            }
        )
        return
    if wait:
        print(f"{action}: process {name!r} acted on request {seq}; it is now {info.status}")
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


def _clip(text: str, limit: int = 80) -> str:
    """Arguments can hold a whole script; a table cell shows the start (--json has all)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _generic_table(rows: list[dict[str, Any]]) -> Table:
    """A table whose columns are the rows' keys; ``*_at`` floats shown as times."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    table = Table(box=None, header_style="bold")
    for column in columns:
        table.add_column(column.upper(), overflow="fold")
    now = time.time()
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            if column.endswith("_at") and isinstance(value, int | float):
                cells.append(_cell(_when(float(value), now)))
            elif isinstance(value, dict):
                cells.append(_cell(_clip(json.dumps(value))))
            else:
                cells.append(_cell(value))
        table.add_row(*cells)
    return table


@app.command("ops")
def ops(
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """List the multi-step writes in progress (open code items included)."""
    with _session(url, namespace) as client:
        rows = [_as_dict(op) for op in client.get_current_operations()]
    if json_:
        _print_json(rows)
        return
    if not rows:
        print("no operations in progress", file=sys.stderr)
        return
    _out.print(_generic_table(rows))


def _check_operation_ids(values: list[str] | None) -> list[str] | None:
    """Operation ids are integers (timestamps): anything else is a usage error."""
    for value in values or []:
        if not value.strip().isdigit():
            raise typer.BadParameter(f"operation ids are integers (see `ops`), got {value!r}")
    return values


@app.command("cleanup")
def cleanup(
    interval: Annotated[
        float,
        typer.Option("--interval", min=0, help="Only operations older than this many seconds."),
    ] = 60.0,
    operation: Annotated[
        list[str] | None,
        typer.Option(
            "--operation",
            metavar="ID",
            help="Clean up only this operation id (repeat for several; see `ops`); "
            "--interval is then ignored.",
            callback=_check_operation_ids,
        ),
    ] = None,
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """Finish or roll back stale operations, mark dead processes crashed, clear their requests."""
    with _session(url, namespace) as client:
        report = _as_dict(
            client.vault_cleanup(interval=interval, selected_timestamps=operation or None)
        )
    if json_:
        _print_json(report)
        return
    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in report.items():
        if isinstance(value, list | tuple):
            shown = f"{len(value)}" + (": " + ", ".join(str(v) for v in value) if value else "")
            table.add_row(key, _cell(shown))
        elif isinstance(value, dict):
            table.add_row(key, _cell(json.dumps(value)))
        else:
            table.add_row(key, _cell(value))
    _out.print(table)


@app.command("query")
def query(
    code_text: Annotated[
        str | None, typer.Option("--code-text", help="Words the code item must contain.")
    ] = None,
    parent_code_text: Annotated[
        str | None,
        typer.Option(
            "--parent-code-text", help="Words the parent's spawning code item must contain."
        ),
    ] = None,
    description_text: Annotated[
        str | None,
        typer.Option("--description-text", help="Words a description must contain."),
    ] = None,
    filtered: Annotated[
        list[str] | None,
        typer.Option(
            "--filtered", help="Only this process (repeat for several).", callback=_check_names
        ),
    ] = None,
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """Find code items by text (every word must occur; filters combine with AND)."""
    with _session(url, namespace) as client:
        matches = client.query_process_list(
            code_text=code_text,
            parent_code_text=parent_code_text,
            description_text=description_text,
            filtered=filtered or None,
        )
    rows = [_as_dict(m) for m in matches]
    if json_:
        _print_json(rows)
        return
    if not rows:
        print("no matches", file=sys.stderr)
        return
    _out.print(_generic_table(rows))


# --------------------------------------------------------------------------- server


@server_app.command("start")
def server_start(
    timeout: Annotated[
        float, typer.Option("--timeout", min=0, help="Seconds to wait for it to answer.")
    ] = 10.0,
    json_: JsonOpt = False,
) -> None:
    """Start the embedded server unless it runs; print its URL."""
    with _server_refusals():
        was_running = bool(embedded.server_status().get("running"))
        url = embedded.ensure_server(timeout=timeout)
    if json_:
        _print_json({"url": url, "started": not was_running})
    else:
        print(url)
        print("already running" if was_running else "started", file=sys.stderr)


@server_app.command("stop")
def server_stop(
    timeout: Annotated[
        float, typer.Option("--timeout", min=0, help="Seconds to wait for it to end.")
    ] = 10.0,
    json_: JsonOpt = False,
) -> None:
    """Shut the embedded server down (its data stays on disk)."""
    with _server_refusals():
        stopped = embedded.stop_server(timeout=timeout)
    if json_:
        _print_json({"stopped": stopped})
    else:
        print("stopped" if stopped else "not running")


@server_app.command("status")
def server_status(json_: JsonOpt = False) -> None:
    """Describe the embedded server without starting it."""
    with _server_refusals():
        status = embedded.server_status()
    if json_:
        _print_json(status)
        return
    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in status.items():
        if key == "running":
            table.add_row(key, Text("yes" if value else "no", style="green" if value else "red"))
        else:
            table.add_row(key, _cell(value))
    _out.print(table)


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
    with _server_refusals():
        url = embedded.server_url()
        running = bool(embedded.server_status().get("running"))
    if cli:
        if url.startswith("unix://"):
            print(f"-s {url[len('unix://') :]}")
        else:
            print(f"-u {url}")
    else:
        print(url)
    if not running:
        print(f"note: not running; start it with `{PROG} server start`", file=sys.stderr)


# --------------------------------------------------------------------------- entry point


def main() -> None:
    """Console-script entry point (``tablevault-redis`` and ``python -m tablevault_redis``)."""
    # click already turns a closed stdout pipe (`... | head`) into a quiet exit 1.
    app(prog_name=PROG)
