"""A process's request history as the process page shows it: one row per request
(whoever made it: this dashboard, the CLI or the API), with what became of it.

Redis keeps the history (``VaultClient.request_history``): each request, each
withdrawal, and each step the target took (``paused``, ``running``, ``stopping``,
``stop_consumed``) naming the request's number. A request is acted on when a step
names it; otherwise a later request replaced it, it was withdrawn, it is still
pending, or the process ended without reaching a checkpoint.
"""

from __future__ import annotations

from typing import Any

from ..models import FINAL_STATUSES, ProcessInfo

# The step of the target that acts on each request.
_ACTS = {"pause": ("paused",), "resume": ("running",), "stop": ("stopping", "stop_consumed")}
_NEAR = 5.0  # seconds within which a dashboard's own log entry is the same request


def _via(entry: dict[str, Any], log: list[dict[str, Any]]) -> str | None:
    """The browser's address of a request this dashboard made, from its own log."""
    for mine in log:
        if (
            mine.get("seq") == entry["seq"]
            and mine.get("action") == entry["action"]
            and abs(float(mine.get("requested_at") or 0) - float(entry["at"] or 0)) < _NEAR
        ):
            return str(mine.get("by"))
    return None


def _fate(
    req: dict[str, Any], later: list[dict[str, Any]], process: ProcessInfo
) -> tuple[str, float | None]:
    """(outcome, when it was acted on) of request ``req`` given the entries after it."""
    later = [e for e in later if e["run"] == req["run"]]  # numbers count per run
    for e in later:
        if e["seq"] == req["seq"] and e["event"] in _ACTS[req["action"]]:
            return "acted", e["at"]
        if e["event"] == "withdraw" and e["seq"] == req["seq"]:
            return f"withdrawn by {e['by'] or '?'}", None
    for e in later:
        if e["event"] == "request":
            if req["action"] == "pause" and e["action"] == "resume":
                return "cancelled by a resume before it paused", None
            return f"replaced by a {e['action']} request", None
    if req["action"] == "resume":
        return ("pending" if process.status == "paused" else "done"), None
    if process.status in FINAL_STATUSES:
        if req["action"] == "stop" and process.status == "stopped":
            return "acted", process.ended_at
        return f"not acted on: the process ended ({process.status})", None
    return "pending", None


def request_rows(
    history: list[dict[str, Any]], log: list[dict[str, Any]], process: ProcessInfo
) -> list[dict[str, Any]]:
    """One row per request, newest first: ``action seq run by via requested_at
    acted_at latency outcome`` (``via``: the browser address when this dashboard
    made it; ``latency``: seconds from the request to the target acting on it)."""
    oldest_first = list(reversed(history))
    rows = []
    for i, entry in enumerate(oldest_first):
        if entry["event"] != "request" or entry["action"] is None:
            continue
        later = oldest_first[i + 1 :]
        outcome, acted_at = _fate(entry, later, process)
        latency = None
        if acted_at is not None and entry["at"] is not None:
            latency = max(0.0, acted_at - entry["at"])
        rows.append(
            {
                "action": entry["action"],
                "seq": entry["seq"],
                "run": entry["run"],
                "by": entry["by"],
                "via": _via(entry, log),
                "requested_at": entry["at"],
                "acted_at": acted_at,
                "latency": latency,
                "outcome": outcome,
            }
        )
    rows.reverse()
    return rows
