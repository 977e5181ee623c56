"""Retention: delete ended processes older than an age, and trim record lists.

Nothing is removed unless asked. :meth:`RetentionMixin.delete_processes` removes each
process that ended (final status, no heartbeat) more than ``older_than`` seconds
ago: its record, code stream, request, earlier runs and children list; its entries
in the processes index, the code and description word indexes and its parent's
children list; its descriptions and its ``wrote``/``dependents`` lineage keys. The
records it wrote stay in their lists (they belong to the list), with their lineage.

A live process is never touched: the ``prune_process`` script deletes by
compare-and-set on the status, the heartbeat key and the run's start time, and the
index entries go only while the processes index still holds that run (so a new run
of the same name keeps its own). :meth:`RetentionMixin.trim_record_list` removes the
oldest records of a list (keep the last N, or drop those older than an age):
indexes then count from the first record kept, and the list's meta counts the
records removed (``trimmed``).
"""

from __future__ import annotations

import datetime
import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from . import keys, scripts
from .connection import Connection
from .errors import NotFoundError, ValidationError, tag_errors
from .models import FINAL_STATUSES
from .operations import code_member
from .records import check_int
from .text import words

_CHUNK = 500  # processes read per round trip, index members removed per script call
_TRIM_STEP = 10_000  # records removed per script call


@dataclass
class RetentionReport:
    """What ``delete_processes`` removed (or, with ``dry_run``, would remove)."""

    cutoff: float  # processes that ended before this time (epoch s) were eligible
    dry_run: bool
    deleted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it was kept

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_age(value: object, what: str) -> float:
    """``value`` (seconds, or a ``timedelta``) as a number of seconds >= 0, else
    ValidationError."""
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{what} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValidationError(f"{what} must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


class RetentionMixin:
    """Retention, for :class:`VaultClient`."""

    _conn: Connection
    namespace: str

    @tag_errors
    def delete_processes(
        self, older_than: float | datetime.timedelta, *, dry_run: bool = False
    ) -> RetentionReport:
        """Delete every process that ended more than ``older_than`` ago (seconds, or a
        ``timedelta``), with its keys and index entries
        (see the module docstring); live processes and recent ones are kept.
        ``dry_run`` only reports what would go. Also named ``prune_processes``, after
        the CLI's ``prune``."""
        cutoff = time.time() - check_age(older_than, "older_than")
        report = RetentionReport(cutoff=cutoff, dry_run=bool(dry_run))
        with self._conn.translate():
            names = self._conn.client.zrange(keys.processes(self.namespace), 0, -1)
            for i in range(0, len(names), _CHUNK):
                for name, rec in self._candidates(names[i : i + _CHUNK], cutoff):
                    self._prune(name, rec, cutoff, report)
        return report

    def _candidates(self, names: list[str], cutoff: float) -> list[tuple[str, list[Any]]]:
        """(name, [status, ended_at, started_at, parent]) of the ended ones among
        ``names`` that ended before ``cutoff`` (the script checks again)."""
        pipe = self._conn.client.pipeline(transaction=False)
        for name in names:
            proc = keys.proc(self.namespace, name)
            pipe.type(proc)
            pipe.hmget(proc, "status", "ended_at", "started_at", "parent_process_name")
        replies = pipe.execute(raise_on_error=False)
        out = []
        for j, name in enumerate(names):
            kind, rec = replies[2 * j], replies[2 * j + 1]
            if kind != "hash" or isinstance(rec, Exception) or rec[0] not in FINAL_STATUSES:
                continue
            try:
                ended = float(rec[1] or "nan")
            except ValueError:
                continue
            if ended < cutoff:
                out.append((name, rec))
        return out

    def _prune(self, name: str, rec: list[Any], cutoff: float, report: RetentionReport) -> None:
        started = rec[2] or ""
        members = self._index_members(name)
        reply = scripts.prune_process(
            self._conn,
            self.namespace,
            name,
            cutoff=cutoff,
            started_at=started,
            dry_run=report.dry_run,
        )
        if reply.outcome != "ok":
            report.skipped[name] = reply.outcome
            return
        report.deleted.append(name)
        if report.dry_run:
            return
        for i in range(0, max(len(members), 1), _CHUNK):
            chunk = members[i : i + _CHUNK]
            if not scripts.prune_index(
                self._conn, self.namespace, name, started_at=started, members=chunk
            ):
                break  # a new run of the name holds the index now
        parent = rec[3]
        if parent:
            children = keys.children(self.namespace, parent)
            score = self._conn.client.zscore(children, name)
            if score is not None and started and score == float(started):
                self._conn.client.zrem(children, name)

    def _index_members(self, name: str) -> list[tuple[str, str]]:
        """(word index key, member) of every code item and description of ``name``."""
        ns = self.namespace
        pipe = self._conn.client.pipeline(transaction=False)
        pipe.xrange(keys.code(ns, name))
        pipe.hgetall(keys.descriptions(ns, name))
        events, descriptions = pipe.execute()
        out = []
        for _id, event in events:
            if event.get("event") != "open":
                continue
            try:
                member = code_member(
                    name, int(event["index"]), int(event["start_position"]), int(event["run"])
                )
            except (KeyError, ValueError):
                continue
            out += [(keys.code_word(ns, w), member) for w in words(event.get("text", ""))]
        for dname, raw in descriptions.items():
            try:
                text = str(json.loads(raw).get("text", ""))
            except (ValueError, AttributeError):
                continue
            member = f"{name}\x1f{dname}"
            out += [(keys.description_word(ns, w), member) for w in words(text)]
        return out

    @tag_errors
    def prune_processes(
        self, older_than: float | datetime.timedelta, *, dry_run: bool = False
    ) -> RetentionReport:
        """The same as :meth:`delete_processes`."""
        return self.delete_processes(older_than, dry_run=dry_run)

    @tag_errors
    def trim_record_list(
        self,
        name: str,
        *,
        keep_last: int | None = None,
        older_than: float | datetime.timedelta | None = None,
    ) -> int:
        """Remove the oldest records of list ``name`` (and their lineage): all but the
        last ``keep_last``, and those written more than ``older_than`` ago (as for
        :meth:`delete_processes`).
        Returns how many were removed; later indexes count from the first one kept."""
        keys.check_name(name, "record list name")
        check_int(keep_last, "keep_last", 0)
        if keep_last is None and older_than is None:
            raise ValidationError("trim_record_list needs keep_last or older_than")
        cutoff = None if older_than is None else time.time() - check_age(older_than, "older_than")
        removed = 0
        with self._conn.translate():
            while True:
                n = scripts.trim_records(
                    self._conn,
                    self.namespace,
                    name,
                    keep_last=keep_last,
                    cutoff=cutoff,
                    most=_TRIM_STEP,
                )
                if n < 0:
                    raise NotFoundError(
                        f"no record list named {name!r} in namespace {self.namespace!r}"
                    )
                removed += n
                if n < _TRIM_STEP:
                    return removed
