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
from .plain import clip, duration, item_summary, pair, parent_text, request_text, when
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
PROCESS_COLUMNS = ("NAME", "STATUS", "ALIVE", "HOST", "PID", "USER", "PARENT", "STARTED")
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


def process_table(procs: Sequence[ProcessInfo], now: float) -> Table:
    table = Table(box=None, header_style="bold")
    for column in PROCESS_COLUMNS:
        table.add_column(column, no_wrap=True, overflow="fold")
    table.add_column("REQUEST", overflow="fold")
    for p in procs:
        table.add_row(
            cell(p.name),
            status(p.status),
            cell(p.alive),
            cell(p.host),
            cell(p.pid),
            cell(p.user_id),
            cell(parent_text(p)),
            cell(when(p.started_at, now)),
            cell(request_text(p)),
        )
    return table


def process_label(p: ProcessInfo, now: float) -> Text:
    """A tree node: name, status, where it came from, where it runs, any request."""
    label = Text(p.name, style="bold")
    label.append("  ")
    label.append_text(status(p.status))
    if p.parent_process_name:
        label.append(f"  from code item #{p.parent_process_index}", style="dim")
    label.append(f"  {p.host}:{p.pid}  started {when(p.started_at, now)}", style="dim")
    if p.interrupt_action:
        label.append(f"  [{request_text(p)}]", style="yellow")
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
    """A process record, one field a row; ``*_at`` times as clock time and age."""
    table = _key_value_table()
    for name, value in info.to_dict().items():
        if name == "status":
            table.add_row(name, status(info.status))
        elif name.endswith("_at") and isinstance(value, float):
            table.add_row(name, cell(when(value, now)))
        else:
            table.add_row(name, cell(value))
    return table


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
