"""The values the API returns: plain dataclasses built from Redis strings."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# A process's status: one of these words, defined here only (the Lua scripts get the
# final ones in a generated prelude, see scripts.py).
ACTIVE_STATUSES = ("running", "paused")
FINAL_ORDER = ("stopped", "completed", "failed", "crashed")
FINAL_STATUSES = frozenset(FINAL_ORDER)
# Every status a process record can show, in the order tables list them.
STATUSES = (*ACTIVE_STATUSES, *FINAL_ORDER)


def parse_float(value: str | None) -> float | None:
    """A number read from Redis; None when absent, empty or not a number."""
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def parse_int(value: str | None) -> int | None:
    """An integer read from Redis; None when absent, empty or not an integer."""
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _int(value: str | None, default: int = 0) -> int:
    number = parse_int(value)
    return default if number is None else number


@dataclass(frozen=True)
class ProcessInfo:
    """One process record. Times are seconds since the epoch (floats) or None.

    ``status`` is what the record says, except that a process whose record still
    says ``running`` or ``paused`` but whose heartbeat has expired is ``crashed``:
    it died without saying so. Its ``ended_at`` is then its last heartbeat (its
    start if it never beat): when it was last seen alive, not when someone looked.
    Nobody has to run a cleanup for this; ``vault_cleanup`` later writes the same
    status and end time into the record.
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
    interrupt_requested_at: float | None = None  # when the pending request was made
    paused_at: float | None = None  # when it paused (while paused)
    # A stop or pause still pending when the run ended, never acted on: no checkpoint
    # was reached after it was asked for (who asked, and when).
    unreached_action: str | None = None
    unreached_by: str | None = None
    unreached_at: float | None = None
    # The run was out of reach (the server lost its record, or a cleaner marked it
    # crashed) and came back: the latest gap, and how many there were.
    gap_from: float | None = None
    gap_to: float | None = None
    gaps: int = 0

    @classmethod
    def from_record(cls, fields: dict[str, str], alive: bool) -> ProcessInfo:
        status = fields.get("status", "")
        ended_at = parse_float(fields.get("ended_at"))
        if status not in FINAL_STATUSES and not alive:
            status = "crashed"
            ended_at = parse_float(fields.get("heartbeat_at")) or parse_float(
                fields.get("started_at")
            )
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
            started_at=parse_float(fields.get("started_at")),
            ended_at=ended_at,
            stopped_by=fields.get("stopped_by") or None,
            error=fields.get("error") or None,
            run=_int(fields.get("run")),
            code_count=_int(fields.get("code_count")),
            pid_started_at=parse_float(fields.get("pid_started_at")),
            heartbeat_at=parse_float(fields.get("heartbeat_at")),
            listener_at=parse_float(fields.get("listener_at")),
            records_written=_int(fields.get("records_written")),
            last_record=fields.get("last_record") or None,
            last_record_list=fields.get("last_record_list") or None,
            last_record_at=parse_float(fields.get("last_record_at")),
            interrupt_requested_at=parse_float(fields.get("interrupt_requested_at")),
            paused_at=parse_float(fields.get("paused_at")),
            unreached_action=fields.get("unreached_action") or None,
            unreached_by=fields.get("unreached_by") or None,
            unreached_at=parse_float(fields.get("unreached_at")),
            gap_from=parse_float(fields.get("gap_from")),
            gap_to=parse_float(fields.get("gap_to")),
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


# The error of a code item left open by a process seen dead (its heartbeat expired).
ITEM_DIED_ERROR = (
    "the process died while this code item was running: its heartbeat stopped "
    "(killed, out of memory or host lost)"
)


def fold_code_events(
    process_name: str,
    events: list[tuple[str, dict[str, str]]],
    crashed_at: float | None = None,
) -> list[CodeItem]:
    """Build code items from the ``open``/``close`` events of a process's code stream.

    ``crashed_at``: the process was seen dead (``ProcessInfo.status == "crashed"``)
    and its last sign of life was then; an item still open reads as ``crashed``,
    ended then, without waiting for a cleanup to close it. A ``status`` event (a run
    given up for dead came back, see ``revive.lua``) opens again the item a cleaner
    closed as crashed: it ran on.
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
                "started_at": parse_float(ev.get("started_at")),
                "ended_at": None,
            }
        elif ev.get("event") == "close" and index in items:
            items[index].update(
                status=ev.get("status", ""),
                error=ev.get("error", ""),
                ended_at=parse_float(ev.get("ended_at")),
            )
        elif ev.get("event") == "status" and items.get(index, {}).get("status") == "crashed":
            items[index].update(status="open", error="", ended_at=None)
    if crashed_at is not None:
        for item in items.values():
            if item["status"] == "open":
                item.update(status="crashed", error=ITEM_DIED_ERROR, ended_at=crashed_at)
    return [CodeItem(**items[i]) for i in sorted(items)]


def died_at(info: ProcessInfo) -> float | None:
    """When a crashed process was last seen alive (for :func:`fold_code_events`)."""
    if info.status != "crashed":
        return None
    return info.ended_at if info.ended_at is not None else info.started_at or 0.0


def acted_on(action: str, info: ProcessInfo) -> str:
    """What a process's record says happened after it acted on a ``stop``, ``pause``
    or ``resume`` request: what a waiting controller tells its user."""
    status = info.status
    if action == "stop":
        if status == "stopped":
            return f"it stopped (stopped by {info.stopped_by or 'a request'})"
        if status in FINAL_STATUSES and info.unreached_action == "stop":
            return f"it ended before reaching a checkpoint (status {status})"
        if status in FINAL_STATUSES:
            cell = " after its running cell was stopped" if info.stopped_by else ""
            return f"it has ended{cell} (status {status})"
        if info.interrupt_action == "stop":
            return f"the stop is still pending; it is {status}"
        if info.execution_type == "notebook":
            return "the running cell was stopped; the kernel is idle"
        if info.execution_type == "interactive":
            return "the running statement was stopped; the prompt is waiting for input"
    if action == "pause" and status == "paused":
        return "it is paused, waiting for a resume"
    if action == "resume" and status == "running":
        return "it is running again"
    return f"it is now {status}"
