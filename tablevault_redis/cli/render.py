"""Tables and trees for people, drawn with rich: the only module that imports it.

Commands import this module only when they draw, so ``--json`` output and ``logs``
never pay for rich. Cells are ``Text``, never markup: process names may contain
``[`` and ``]``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..models import CodeItem, ProcessInfo
from .plain import (
    clip,
    duration,
    gaps_text,
    heartbeat_text,
    item_summary,
    last_record_text,
    pair,
    parent_text,
    pending_text,
    records_text,
    request_text,
    unreached_text,
    when,
)
from .tree import ProcessNode

STATUS_STYLE = {
    "running": "green",
    "paused": "yellow",
    "stopped": "magenta",
    "completed": "cyan",
    "failed": "red",
    "crashed": "bold red",
    "open": "green",
}
WIDE = 120  # columns from which ps shows where and when each process runs
MEDIUM = 80  # columns from which ps shows the last record
ITEM_COLUMNS = ("#", "RUN", "STATUS", "STARTED", "DURATION", "CHARS", "CODE / ERROR")


def console() -> Console:
    """A console for stdout as it is now.

    A pipe or a log file has no width; rich would assume 80 columns and fold names,
    so output that is not a terminal gets room for a full row unless COLUMNS says.
    """
    wide = sys.stdout.isatty() or os.environ.get("COLUMNS")
    return Console(highlight=False, soft_wrap=False, width=None if wide else 200)


def status(value: str) -> Text:
    return Text(value or "-", style=STATUS_STYLE.get(value, ""))


def cell(value: Any) -> Text:
    if value is None or value == "":
        return Text("-")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, list | tuple):
        return Text(", ".join(pair(v) for v in value) or "-")
    return Text(str(value))


def _key_value_table() -> Table:
    table = Table(box=None, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    return table


def width() -> int:
    """The width tables are drawn for: the terminal's (or COLUMNS), else 200."""
    return console().width


def process_table(procs: Sequence[ProcessInfo], now: float, width: int = 200) -> Table:
    """The ``ps`` table: progress, heartbeat age and pending request always; the last
    record from :data:`MEDIUM` columns on; from :data:`WIDE` on also liveness, host,
    PID, user, parent, start time and who asked. Long names and requests wrap."""
    wide, medium = width >= WIDE, width >= MEDIUM
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("NAME", overflow="fold", min_width=8)
    table.add_column("STATUS", no_wrap=True)
    table.add_column("RECS", no_wrap=True, justify="right")
    table.add_column("BEAT", no_wrap=True, justify="right")
    if wide:
        for column in ("ALIVE", "HOST", "PID", "USER", "PARENT", "STARTED"):
            table.add_column(column, no_wrap=True, overflow="ellipsis")
    table.add_column("REQUEST", overflow="fold", min_width=14)
    if wide:
        table.add_column("REQUESTED BY", overflow="fold")
    if medium:
        table.add_column("LAST RECORD", no_wrap=True, overflow="ellipsis", min_width=12)
    for p in procs:
        row = [cell(p.name), status(p.status), cell(records_text(p)), cell(heartbeat_text(p, now))]
        if wide:
            row += [cell(p.alive), cell(p.host), cell(p.pid), cell(p.user_id)]
            row += [cell(parent_text(p)), cell(when(p.started_at, now))]
        row.append(Text(pending_text(p, now) or "-", style="yellow" if p.interrupt_action else ""))
        if wide:
            row.append(cell(request_text(p)))
        if medium:
            row.append(cell(last_record_text(p, 80)))
        table.add_row(*row)
    return table


def show_frame(procs: Sequence[ProcessInfo], now: float, *, clear: bool) -> None:
    """One ``ps --watch`` frame: a clock line and the table (the screen cleared first
    on a terminal)."""
    out = console()
    if clear:
        out.clear()
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    out.print(Text(f"{stamp}  {len(procs)} processes  (Ctrl-C ends)", style="dim"))
    if procs:
        out.print(process_table(procs, now, out.width))


def process_label(p: ProcessInfo, now: float) -> Text:
    """A tree node: name, status, where it came from, where it runs, any request."""
    label = Text(p.name, style="bold")
    label.append("  ")
    label.append_text(status(p.status))
    if p.parent_process_name:
        label.append(f"  from code item #{p.parent_process_index}", style="dim")
    label.append(f"  {p.host}:{p.pid}  started {when(p.started_at, now)}", style="dim")
    label.append(f"  {records_text(p)} records", style="dim")
    if p.ended_at is None and p.heartbeat_at is not None:
        label.append(f"  beat {heartbeat_text(p, now)} ago", style="dim")
    if p.interrupt_action:
        label.append(f"  [{request_text(p)}]", style="yellow")
    pending = pending_text(p, now)
    if pending:  # "stop pending 45 s: no checkpoint reached" without repeating "stop"
        label.append("  " + pending.removeprefix(f"{p.interrupt_action} "), style="yellow")
    last = last_record_text(p, 40)
    if last:
        label.append(f"  last: {last}", style="dim")
    return label


def process_tree(forest: Sequence[ProcessNode], namespace: str, now: float) -> Tree:
    def draw(branch: Tree, node: ProcessNode) -> None:
        sub = branch.add(process_label(node.info, now))
        for child in node.children:
            draw(sub, child)

    top = Tree(Text(f"namespace {namespace}", style="dim"), guide_style="dim")
    for node in forest:
        draw(top, node)
    return top


def record_table(info: ProcessInfo, now: float) -> Table:
    """A process record, one field a row; ``*_at`` times as clock time and age; first
    the progress: records written, the last record, heartbeat age, pending request
    (or the one no checkpoint reached before the run ended) and any gaps."""
    table = _key_value_table()
    table.add_row("progress", cell(f"{records_text(info)} records written"))
    table.add_row("last record", cell(last_record_text(info, 200)))
    table.add_row("heartbeat", cell(_beat_age(info, now)))
    request = unreached_text(info, now, who=True) or pending_text(info, now)
    table.add_row("request", Text(request or "-", style="yellow"))
    gaps = gaps_text(info, now)
    if gaps:
        table.add_row("gaps", Text(gaps, style="yellow"))
    for name, value in info.to_dict().items():
        if name == "status":
            table.add_row(name, status(info.status))
        elif name.endswith("_at") and isinstance(value, float):
            table.add_row(name, cell(when(value, now)))
        else:
            table.add_row(name, cell(value))
    return table


def _beat_age(info: ProcessInfo, now: float) -> str:
    age = heartbeat_text(info, now)
    return "-" if age == "-" else f"{age} ago"


def items_table(items: Sequence[CodeItem], now: float) -> Table:
    table = Table(box=None, header_style="bold", title="code items", title_justify="left")
    for column in ITEM_COLUMNS:
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(
            cell(item.index),
            cell(item.run),
            status(item.status),
            cell(when(item.started_at, now)),
            cell(duration(item.started_at, item.ended_at, now)),
            cell(len(item.text)),
            Text(item_summary(item), style="red" if item.error else ""),
        )
    return table


def generic_table(rows: Sequence[Mapping[str, Any]], now: float) -> Table:
    """A table whose columns are the rows' keys; ``*_at`` numbers shown as times."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    table = Table(box=None, header_style="bold")
    for column in columns:
        table.add_column(column.upper(), overflow="fold")
    for row in rows:
        table.add_row(*(_generic_cell(column, row.get(column), now) for column in columns))
    return table


def records_table(
    columns: Sequence[str], rows: Sequence[tuple[int, str | None, Mapping[str, Any]]]
) -> Table:
    """Records as rows: their index, writing process, then the list's columns
    (values other than strings as clipped JSON)."""
    table = Table(box=None, header_style="bold")
    for header in ("#", "PROCESS", *columns):
        table.add_column(header, overflow="fold")
    for index, writer, record in rows:
        values = [record.get(c) for c in columns]
        shown = [v if isinstance(v, str) else clip(json.dumps(v, default=str)) for v in values]
        table.add_row(cell(index), cell(writer), *(Text(v) for v in shown))
    return table


def _generic_cell(column: str, value: Any, now: float) -> Text:
    if column.endswith("_at") and isinstance(value, int | float):
        return cell(when(float(value), now))
    if isinstance(value, dict):
        return cell(clip(json.dumps(value)))
    return cell(value)


def report_table(report: Mapping[str, Any]) -> Table:
    """A cleanup report: each list as its length and its members."""
    table = _key_value_table()
    for key, value in report.items():
        if isinstance(value, list | tuple):
            shown = f"{len(value)}" + (": " + ", ".join(str(v) for v in value) if value else "")
            table.add_row(key, cell(shown))
        elif isinstance(value, dict):
            table.add_row(key, cell(json.dumps(value)))
        else:
            table.add_row(key, cell(value))
    return table


def server_table(state: Mapping[str, Any]) -> Table:
    table = _key_value_table()
    for key, value in state.items():
        if key == "running":
            table.add_row(key, Text("yes" if value else "no", style="green" if value else "red"))
        else:
            table.add_row(key, cell(value))
    return table


def show(*renderables: Any) -> None:
    """Print tables, trees or dimmed notes (plain strings) to stdout."""
    out = console()
    for renderable in renderables:
        out.print(Text(renderable, style="dim") if isinstance(renderable, str) else renderable)


def show_process(info: ProcessInfo, items: Sequence[CodeItem]) -> None:
    now = time.time()
    show(record_table(info, now), items_table(items, now) if items else "no code items")
