"""Bounded reads for dashboards: pages of processes, cheap summaries, request
state, record counts and who wrote a range of records.

A view of 10,000 processes must not read 10,000 full records per refresh: these
reads page through the processes index, summarise every process with a few hash
fields (in pipelined chunks), and read a record list by index range only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import keys, process_reads
from .connection import Connection, wrong_type
from .errors import ValidationError
from .models import ProcessInfo

_SUMMARY_FIELDS = (
    "name",
    "status",
    "user_id",
    "parent_process_name",
    "started_at",
    "heartbeat_at",
    "interrupt_action",
)


@dataclass(frozen=True)
class RequestState:
    """What a process record says about its interrupt requests (times in epoch s)."""

    request_seq: int  # requests made so far (stop, pause or resume)
    pending_action: str | None
    pending_by: str | None
    pending_at: float | None
    paused_at: float | None
    paused_seq: int | None
    stopped_by: str | None
    stopped_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


_HISTORY_EVENTS = ("request", "withdraw", "paused", "running", "stopping", "stop_consumed")


def _history_entry(text: str) -> dict[str, Any] | None:
    """One request history entry, or None when it is not one (written by anyone)."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("event") not in _HISTORY_EVENTS:
        return None
    action = raw.get("action")
    by = raw.get("by")
    seq, run, at = raw.get("seq"), raw.get("run"), raw.get("at")
    return {
        "event": raw["event"],
        "action": action if action in ("stop", "pause", "resume") else None,
        "seq": seq if isinstance(seq, int) else None,
        "by": by if isinstance(by, str) and by else None,
        "at": float(at) if isinstance(at, int | float) else None,
        "run": run if isinstance(run, int) else None,
    }


def _page_args(offset: int, limit: int) -> None:
    for value, what in ((offset, "offset"), (limit, "limit")):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValidationError(f"{what} must be an integer >= 0, got {value!r}")


class PagesMixin:
    """Paged and summarised reads for :class:`VaultClient`."""

    _conn: Connection
    namespace: str

    if TYPE_CHECKING:

        def _read_records(self, names: list[str]) -> list[ProcessInfo]: ...

        def _wait_acted(self, action: str, name: str, seq: int, timeout: float) -> None: ...

    def count_processes(self) -> int:
        """How many processes the namespace holds (one ZCARD)."""
        with self._conn.translate():
            return int(self._conn.client.zcard(keys.processes(self.namespace)))

    def process_names(
        self, offset: int = 0, limit: int = 100, *, newest_first: bool = False
    ) -> list[str]:
        """Names from the processes index by start time, ``limit`` from ``offset``."""
        _page_args(offset, limit)
        if limit == 0:
            return []
        with self._conn.translate():
            return list(
                self._conn.client.zrange(
                    keys.processes(self.namespace), offset, offset + limit - 1, desc=newest_first
                )
            )

    def get_processes(self, names: Sequence[str]) -> list[ProcessInfo]:
        """The records of ``names`` in that order; names without a record are left out."""
        checked = [keys.check_name(n) for n in names]
        return self._read_records(checked) if checked else []

    def process_summaries(self) -> list[ProcessInfo]:
        """Every process, oldest first, with only the fields a filter or a count needs
        (name, status, alive, user, parent, start, heartbeat, pending action); the
        others keep their defaults. Read as list_processes reads (process_reads)."""
        with self._conn.translate():
            names = self._conn.client.zrange(keys.processes(self.namespace), 0, -1)
            read = process_reads.read(self._conn, self.namespace, names, _SUMMARY_FIELDS)
            for info in read:
                wrong_type(info)  # a record of another type is left out; other errors raise
        return [info for info in read if isinstance(info, ProcessInfo)]

    def get_request_state(self, process_name: str) -> RequestState:
        """The request fields of one process's record (the pending request, the
        last pause and the stop); all empty when there is no such process."""
        keys.check_name(process_name)
        fields = (
            "request_seq", "interrupt_action", "interrupt_request", "interrupt_requested_at",
            "paused_at", "paused_seq", "stopped_by", "stopped_at",
        )  # fmt: skip
        with self._conn.translate():
            v = self._conn.client.hmget(keys.proc(self.namespace, process_name), *fields)
        seq = _num(v[5])
        return RequestState(
            request_seq=int(_num(v[0]) or 0),
            pending_action=v[1] or None,
            pending_by=v[2] or None,
            pending_at=_num(v[3]),
            paused_at=_num(v[4]),
            paused_seq=int(seq) if seq is not None else None,
            stopped_by=v[6] or None,
            stopped_at=_num(v[7]),
        )

    def request_history(self, process_name: str, limit: int = 100) -> list[dict[str, Any]]:
        """The process's request history, newest first (at most ``limit`` entries; the
        server keeps the last 100): each ``{"event", "action", "seq", "by", "at",
        "run"}`` with event ``request`` or ``withdraw``, or what the target did:
        ``paused``, ``running`` (resumed), ``stopping`` (a checkpoint raised for a
        stop), ``stop_consumed`` (a stop ended a notebook cell); ``action`` is None
        for those. Whoever made the request (API, CLI, dashboard) it is here; entries
        that are not well formed are skipped. Empty when there is no such process."""
        return self.request_histories([process_name], limit)[process_name]

    def request_histories(
        self, names: Sequence[str], limit: int = 100
    ) -> dict[str, list[dict[str, Any]]]:
        """:meth:`request_history` of each of ``names``, in one round trip."""
        checked = [keys.check_name(n) for n in names]
        _page_args(0, limit)
        if not checked or limit == 0:
            return {n: [] for n in checked}
        with self._conn.translate():
            pipe = self._conn.client.pipeline(transaction=False)
            for name in checked:
                pipe.lrange(keys.requests(self.namespace, name), 0, limit - 1)
            replies = pipe.execute(raise_on_error=False)
        out: dict[str, list[dict[str, Any]]] = {}
        for name, raw in zip(checked, replies, strict=True):
            texts = [] if isinstance(raw, Exception) else raw  # a key of another type
            out[name] = [e for e in (_history_entry(t) for t in texts) if e is not None]
        return out

    def wait_for_action(self, action: str, process_name: str, seq: int, timeout: float) -> None:
        """Wait until ``process_name`` acted on request ``seq`` (as ``wait=True`` of
        the control methods does); :class:`WaitTimeoutError` after ``timeout`` s."""
        keys.check_name(process_name)
        self._wait_acted(action, process_name, seq, timeout)

    def record_counts(self, names: Sequence[str]) -> dict[str, int]:
        """How many records each named list holds (0 for a list that does not exist)."""
        checked = [keys.check_name(n, "record list name") for n in names]
        if not checked:
            return {}
        with self._conn.translate():
            pipe = self._conn.client.pipeline(transaction=False)
            for name in checked:
                pipe.llen(keys.records(self.namespace, name))
            return dict(zip(checked, (int(n) for n in pipe.execute()), strict=True))

    def record_writers(self, list_name: str, start: int, stop: int) -> list[str | None]:
        """The process that wrote each record from ``start`` up to (not including)
        ``stop``, from the list's lineage; None where no lineage was kept."""
        keys.check_name(list_name, "record list name")
        _page_args(start, stop)
        if stop <= start:
            return []
        with self._conn.translate():
            raw = self._conn.client.lrange(
                keys.record_meta(self.namespace, list_name), start, stop - 1
            )
        out: list[str | None] = []
        for text in raw:
            try:
                writer = json.loads(text).get("process")
            except (ValueError, AttributeError):
                writer = None
            out.append(writer if isinstance(writer, str) else None)
        return out + [None] * (stop - start - len(out))
