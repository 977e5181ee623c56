"""The JSON shapes the page and the API send, built from :class:`VaultClient` reads.

Every view is bounded: the process table reads one page of records (filters and
counts use the cached summaries), a record list is read by index range.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..client import VaultClient
from ..errors import NotFoundError, ValidationError
from ..models import STATUSES, ProcessInfo
from .history import request_rows
from .state import UiState

MAX_PAGE = 1000  # rows or records in one response
PROCESS_LISTS = 20  # record lists shown on a process page
PROCESS_RECORDS = 20  # records per list shown on a process page


def row(p: ProcessInfo, now: float | None = None) -> dict[str, Any]:
    """``ProcessInfo.to_dict()`` plus the heartbeat age (seconds, live processes only)."""
    now = time.time() if now is None else now
    d = p.to_dict()
    beat = last_beat(p)
    d["heartbeat_age"] = max(0.0, now - beat) if beat is not None else None
    return d


def last_beat(p: ProcessInfo) -> float | None:
    """When a live process last proved it was alive: its last heartbeat, or its
    registration before the first beat. None for a process that is not alive."""
    if not p.alive:
        return None
    return p.heartbeat_at or p.started_at


def _int_arg(value: str | None, what: str, default: int, low: int, high: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValidationError(f"{what} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise ValidationError(f"{what} must be between {low} and {high}, got {number}")
    return number


@dataclass(frozen=True)
class TableQuery:
    """One page of the process table: paging, order and filters."""

    offset: int = 0
    limit: int = 100
    newest_first: bool = False
    status: str | None = None
    user: str | None = None

    @classmethod
    def parse(cls, params: Any, default_limit: int = 100) -> TableQuery:
        order = params.get("order") or "oldest"
        if order not in ("oldest", "newest"):
            raise ValidationError(f"order must be 'oldest' or 'newest', got {order!r}")
        status = params.get("status") or None
        if status is not None and status not in (*STATUSES, "alive"):
            raise ValidationError(f"status must be one of {(*STATUSES, 'alive')}, got {status!r}")
        return cls(
            offset=_int_arg(params.get("offset"), "offset", 0, 0, 10**9),
            limit=_int_arg(params.get("limit"), "limit", default_limit, 1, MAX_PAGE),
            newest_first=order == "newest",
            status=status,
            user=params.get("user") or None,
        )

    def matches(self, p: ProcessInfo) -> bool:
        if self.status == "alive" and not p.alive:
            return False
        if self.status not in (None, "alive") and p.status != self.status:
            return False
        return self.user is None or p.user_id == self.user


def process_page(state: UiState, namespace: str, q: TableQuery) -> tuple[int, list[ProcessInfo]]:
    """(how many processes match, the records of the page asked for)."""
    client = state.client(namespace)
    if q.status is None and q.user is None:
        total = client.count_processes()
        names = client.process_names(q.offset, q.limit, newest_first=q.newest_first)
    else:
        matched = [p.name for p in state.summaries(client.namespace) if q.matches(p)]
        if q.newest_first:
            matched.reverse()
        total = len(matched)
        names = matched[q.offset : q.offset + q.limit]
    # A row re-read live may no longer match a filter applied to a slightly older summary.
    return total, [p for p in client.get_processes(names) if q.matches(p)]


def _counts(summaries: list[ProcessInfo], rows: list[ProcessInfo]) -> dict[str, int]:
    """Processes per status from the (up to a second old) summaries, corrected by
    the rows just read, so the counts never contradict the table on screen."""
    counts = Counter(p.status for p in summaries)
    was = {p.name: p.status for p in summaries}
    for p in rows:
        old = was.get(p.name)
        if old is not None and old != p.status:
            counts[old] -= 1
            counts[p.status] += 1
    return {s: n for s, n in counts.items() if n > 0}


def table_view(state: UiState, namespace: str, q: TableQuery) -> dict[str, Any]:
    """The process table: one page of rows, the total, counts by status, users."""
    client = state.client(namespace)
    total, procs = process_page(state, client.namespace, q)
    summaries = state.summaries(client.namespace)
    if q.status is None and q.user is None and len(summaries) != total:
        summaries = state.summaries(client.namespace, max_age=0.25)  # processes came or went
    now = time.time()
    return {
        "now": now,
        "namespace": client.namespace,
        "total": total,
        "offset": q.offset,
        "limit": q.limit,
        "counts": _counts(summaries, procs),
        "users": sorted({p.user_id for p in summaries}),
        "rows": [row(p, now) for p in procs],
    }


def detail_view(state: UiState, namespace: str, name: str) -> dict[str, Any]:
    """A process: its record, code items, requests (``history``: every request
    kept in Redis, whoever made it; ``log``: those this server made) and children."""
    client = state.client(namespace)
    p = client.get_process(name)
    log = state.history(client.namespace, name)
    now = time.time()
    return {
        "now": now,
        "namespace": client.namespace,
        "process": row(p, now),
        "code_items": [item.to_dict() for item in client.get_code_items(name)],
        "requests": {
            "record": client.get_request_state(name).to_dict(),
            "log": log,
            "history": request_rows(client.request_history(name), log, p),
        },
        "children": [row(c, now) for c in client.list_children(name)[:MAX_PAGE]],
    }


def process_records(state: UiState, namespace: str, name: str) -> list[dict[str, Any]]:
    """The last records ``name`` wrote, per record list it wrote to (of the first
    ``PROCESS_LISTS`` lists), with how many it wrote there."""
    client = state.client(namespace)
    client.get_process(name)
    out = []
    for list_name in client.query_item_names("record_list")[:PROCESS_LISTS]:
        records = client.query_item_content(list_name, process_name=name)
        if records:
            out.append(
                {"list": list_name, "count": len(records), "records": records[-PROCESS_RECORDS:]}
            )
    return out


def lists_view(state: UiState, namespace: str) -> list[dict[str, Any]]:
    """Every record list of the namespace with its length and columns."""
    client = state.client(namespace)
    names = client.query_item_names("record_list")
    counts = client.record_counts(names)
    out = []
    for list_name in names:
        try:
            columns = client.get_record_list_columns(list_name)
        except NotFoundError:
            continue
        out.append({"name": list_name, "count": counts.get(list_name, 0), "columns": columns})
    return out


def records_page(
    client: VaultClient, list_name: str, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """(the list's length, records ``offset`` to ``offset + limit``) as record dicts."""
    client.get_record_list_columns(list_name)  # NotFoundError for an unknown list
    total = client.record_counts([list_name])[list_name]
    if limit == 0 or offset >= total:
        return total, []
    records = client.query_item_content(
        list_name, start_position=offset, end_position=offset + limit
    )
    return total, list(records)
