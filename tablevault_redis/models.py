"""The values the API returns: plain dataclasses built from Redis strings."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

STATUSES = ("running", "paused", "stopped", "completed", "failed", "crashed")
FINAL_STATUSES = frozenset({"stopped", "completed", "failed", "crashed"})


def _float(value: str | None) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


@dataclass(frozen=True)
class ProcessInfo:
    """One process record. Times are seconds since the epoch (floats) or None.

    ``status`` is what the record says, except that a process whose record still
    says ``running`` or ``paused`` but whose heartbeat has expired is ``crashed``:
    it died without saying so.
    """

    name: str
    user_id: str
    execution_type: str
    status: str
    alive: bool
    host: str
    pid: int
    parent_process_name: str
    parent_process_index: int
    interrupt_action: str | None
    interrupt_request: str | None
    started_at: float | None
    ended_at: float | None
    stopped_by: str | None
    error: str | None
    run: int
    code_count: int
    pid_started_at: float | None
    heartbeat_at: float | None  # last heartbeat written
    listener_at: float | None  # the listener thread's last sign of life, as of that beat
    records_written: int = 0  # records this run appended
    last_record: str | None = None  # the latest one's JSON, cut to 200 characters
    last_record_list: str | None = None  # the list it went to
    last_record_at: float | None = None
    # The run was out of reach (the server lost its record, or a cleaner marked it
    # crashed) and came back: the latest gap, and how many there were.
    gap_from: float | None = None
    gap_to: float | None = None
    gaps: int = 0

    @classmethod
    def from_record(cls, fields: dict[str, str], alive: bool) -> ProcessInfo:
        status = fields.get("status", "")
        if status not in FINAL_STATUSES and not alive:
            status = "crashed"
        return cls(
            name=fields.get("name", ""),
            user_id=fields.get("user_id", ""),
            execution_type=fields.get("execution_type", ""),
            status=status,
            alive=alive and status not in FINAL_STATUSES,
            host=fields.get("host", ""),
            pid=_int(fields.get("pid")),
            parent_process_name=fields.get("parent_process_name", ""),
            parent_process_index=_int(fields.get("parent_process_index")),
            interrupt_action=fields.get("interrupt_action") or None,
            interrupt_request=fields.get("interrupt_request") or None,
            started_at=_float(fields.get("started_at")),
            ended_at=_float(fields.get("ended_at")),
            stopped_by=fields.get("stopped_by") or None,
            error=fields.get("error") or None,
            run=_int(fields.get("run")),
            code_count=_int(fields.get("code_count")),
            pid_started_at=_float(fields.get("pid_started_at")),
            heartbeat_at=_float(fields.get("heartbeat_at")),
            listener_at=_float(fields.get("listener_at")),
            records_written=_int(fields.get("records_written")),
            last_record=fields.get("last_record") or None,
            last_record_list=fields.get("last_record_list") or None,
            last_record_at=_float(fields.get("last_record_at")),
            gap_from=_float(fields.get("gap_from")),
            gap_to=_float(fields.get("gap_to")),
            gaps=_int(fields.get("gaps")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class CodeItem:
    """One code item: a whole script, or one notebook cell.

    ``status`` is ``open`` while it runs, then ``completed``, ``failed``,
    ``stopped`` or ``crashed``; ``start_position`` is the total length of the
    process's code before this item.
    """

    process_name: str
    index: int
    run: int
    text: str
    status: str
    error: str
    start_position: int
    started_at: float | None
    ended_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fold_code_events(process_name: str, events: list[tuple[str, dict[str, str]]]) -> list[CodeItem]:
    """Build code items from the ``open``/``close`` events of a process's code stream.

    A ``status`` event (a run given up for dead came back, see ``revive.lua``) opens
    again the item a cleaner closed as crashed: it ran on.
    """
    items: dict[int, dict[str, Any]] = {}
    for _id, ev in events:
        index = _int(ev.get("index"), -1)
        if ev.get("event") == "open":
            items[index] = {
                "process_name": process_name,
                "index": index,
                "run": _int(ev.get("run")),
                "text": ev.get("text", ""),
                "status": "open",
                "error": "",
                "start_position": _int(ev.get("start_position")),
                "started_at": _float(ev.get("started_at")),
                "ended_at": None,
            }
        elif ev.get("event") == "close" and index in items:
            items[index].update(
                status=ev.get("status", ""),
                error=ev.get("error", ""),
                ended_at=_float(ev.get("ended_at")),
            )
        elif ev.get("event") == "status" and items.get(index, {}).get("status") == "crashed":
            items[index].update(status="open", error="", ended_at=None)
    return [CodeItem(**items[i]) for i in sorted(items)]
