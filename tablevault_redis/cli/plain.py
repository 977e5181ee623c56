"""Plain-text output: times, durations, JSON and the code-item log. No rich here, so
``--json`` and ``logs`` never import it.

Times are shown as local clock time (with the date unless today) plus how long ago.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..events import CodeEvent
    from ..models import CodeItem, ProcessInfo


def print_json(value: Any) -> None:
    """Plain ``print``: rich would colour and re-wrap what scripts must parse."""
    print(json.dumps(value, indent=2, default=str), flush=True)


def print_json_line(value: dict[str, Any]) -> None:
    """One object per line, for streams read line by line (``logs -f --json``)."""
    print(json.dumps(value), flush=True)


def ago(seconds: float) -> str:
    if seconds < 0:
        return "in the future"
    if seconds < 1:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def when(ts: float | None, now: float | None = None) -> str:
    """Local clock time (with the date unless today) and how long ago."""
    if ts is None:
        return "-"
    now = time.time() if now is None else now
    moment = datetime.fromtimestamp(ts)
    same_day = moment.date() == datetime.fromtimestamp(now).date()
    clock = moment.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")
    return f"{clock} ({ago(now - ts)})"


def duration(start: float | None, end: float | None, now: float | None = None) -> str:
    """How long from ``start`` to ``end`` (still going: to ``now``)."""
    if start is None:
        return "-"
    stop = end if end is not None else (time.time() if now is None else now)
    seconds = max(0.0, stop - start)
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def seconds_text(seconds: float) -> str:
    """A short age: ``45 s``, ``12 min``, ``3 h``, ``2 d``."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def heartbeat_text(p: ProcessInfo, now: float) -> str:
    """Time since the last heartbeat of a run that has not ended (``-`` once ended)."""
    if p.ended_at is not None or p.heartbeat_at is None:
        return "-"
    return seconds_text(now - p.heartbeat_at)


def pending_text(p: ProcessInfo, now: float) -> str:
    """A request not acted on yet, and for how long: ``stop pending 45 s: no
    checkpoint reached``; a pause acted on is ``paused 2 min``; once the run ended, a
    request no checkpoint reached is ``stop requested, never reached a checkpoint``."""
    paused_at = getattr(p, "paused_at", None)
    if p.status == "paused" and p.interrupt_action in (None, "pause"):
        return f"paused {seconds_text(now - paused_at)}" if paused_at else "paused"
    if not p.interrupt_action:
        return unreached_text(p)
    asked = getattr(p, "interrupt_requested_at", None)
    age = f" {seconds_text(now - asked)}" if asked else ""
    return f"{p.interrupt_action} pending{age}: no checkpoint reached"


def unreached_text(p: ProcessInfo, now: float | None = None, *, who: bool = False) -> str:
    """A stop or pause still pending when the run ended, that no checkpoint acted on:
    ``stop requested, never reached a checkpoint`` (``who``: by whom and when)."""
    action = getattr(p, "unreached_action", None)
    if not action:
        return ""
    by = getattr(p, "unreached_by", None)
    at = getattr(p, "unreached_at", None)
    asked = (f" by {by}" if who and by else "") + (f" at {when(at, now)}" if who and at else "")
    return f"{action} requested{asked}, never reached a checkpoint"


def gaps_text(p: ProcessInfo, now: float | None = None) -> str:
    """How often the live run was out of reach and came back, and the latest gap."""
    gaps = getattr(p, "gaps", 0) or 0
    start, end = getattr(p, "gap_from", None), getattr(p, "gap_to", None)
    if not gaps and start is None:
        return ""
    times = f"{gaps} time{'s' if gaps != 1 else ''}"
    if start is None:
        return f"out of reach {times}"
    latest = f"{when(start, now)} to {when(end, now)} ({duration(start, end, now)})"
    return f"out of reach {times}; latest {latest}"


def records_text(p: ProcessInfo) -> str:
    """How many records this run appended."""
    return str(getattr(p, "records_written", 0) or 0)


def last_record_text(p: ProcessInfo, limit: int = 60) -> str:
    """The latest record, ``list: {json}``, cut to ``limit`` characters."""
    record = getattr(p, "last_record", None)
    if not record:
        return ""
    where = getattr(p, "last_record_list", None)
    return clip(f"{where}: {record}" if where else record, limit)


def request_text(p: ProcessInfo) -> str:
    """The pending request, as ``pause by client:...`` (once the run ended, one that
    no checkpoint reached)."""
    if not p.interrupt_action:
        action = getattr(p, "unreached_action", None)
        by = getattr(p, "unreached_by", None)
        return f"{action} by {by}" if action and by else action or ""
    if p.interrupt_request:
        return f"{p.interrupt_action} by {p.interrupt_request}"
    return p.interrupt_action


def parent_text(p: ProcessInfo) -> str:
    return f"{p.parent_process_name}#{p.parent_process_index}" if p.parent_process_name else ""


def pair(value: Any) -> str:
    """``[name, index]`` (a query's matched parent code item) as ``name#index``."""
    if isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[1], int):
        return f"{value[0]}#{value[1]}"
    return str(value)


def first_line(text: str, limit: int = 60) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def clip(text: str, limit: int = 80) -> str:
    """Arguments can hold a whole script; a table cell shows the start (--json has all)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def item_summary(item: CodeItem) -> str:
    """The last line of its error, else the first line of its code."""
    if item.error:
        return first_line(item.error.strip().splitlines()[-1])
    return first_line(item.text)


# --------------------------------------------------------------------------- logs


def item_header(item: CodeItem) -> str:
    ended = f" → {when(item.ended_at)}" if item.ended_at is not None else ""
    return (
        f"# ── code item {item.index} (run {item.run}) · {item.status} · "
        f"{when(item.started_at)}{ended} ──"
    )


def print_item(item: CodeItem) -> None:
    """The code text as it ran, between comment lines so the output stays readable."""
    print(item_header(item))
    text = item.text
    print(text if text.endswith("\n") else text + "\n", end="")
    if item.error:
        print("# error:")
        for line in item.error.rstrip("\n").splitlines():
            print(f"#   {line}")
    sys.stdout.flush()


def print_event(event: CodeEvent) -> None:
    """A followed event: an opened item in full, a closed one as a line (and error)."""
    if event.event == "open":
        item = event.as_item()
        if item:
            print_item(item)
        return
    if event.event == "close":
        print(
            f"# ── code item {event.fields.get('index')} closed · {event.status} · "
            f"{when(event.ended_at)} ──"
        )
        for line in (event.error or "").rstrip("\n").splitlines():
            print(f"#   {line}")
        sys.stdout.flush()
