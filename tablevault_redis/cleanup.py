"""``vault_cleanup``: make the data consistent after processes died.

A process killed between two steps of a multi-step write leaves its operation in the
log (see :mod:`.operations`); a process killed while running leaves a record that
says running and an expired heartbeat. One cleanup call, in named steps:

1. select the operations to look at: those not updated for ``interval`` seconds, or
   exactly the ``selected_timestamps``;
2. read the state of the processes involved (:class:`ProcessState`);
3. clear the requests addressed to processes that are not alive, and mark
   ``crashed`` the ones whose record says running or paused (which also closes
   their open code item), unless the server itself has not been up long enough for
   a live process to have beaten again (see :mod:`.liveness`);
4. resolve each operation: skip it while its run is alive, else complete or roll
   back a code item (by whether the item was opened) or a registration (by whether
   its record was written).

Every write is a compare-and-set, so two cleanups at once, or one racing a live
process, never undo each other's work, and the report lists only what this call
changed. A process whose record cannot be read (a key of another type) is skipped
and reported, never a reason to fail the whole namespace.

A process marked crashed that was in fact alive and only out of reach (a network
partition longer than its TTL) revives its own record when it gets through again
(``revive.lua``): it is running and controllable again, and the gap is recorded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

from . import checks, keys, scripts
from .connection import Connection
from .errors import ValidationError
from .liveness import ProcessState, read_process_state, server_uptime
from .models import ACTIVE_STATUSES
from .operations import CODE_ITEM, REGISTER, LogEntry, log_entries

logger = logging.getLogger(__name__)

REGISTER_GRACE = 30.0  # seconds a registration may take before cleanup undoes it
CRASH_ERROR = (
    "the process died without reporting an outcome: its heartbeat expired (killed, "
    "out of memory or host lost); marked crashed by vault_cleanup"
)
ITEM_CRASH_ERROR = (
    "the process died while this code item was running: its heartbeat expired "
    "(killed, out of memory or host lost); closed by vault_cleanup"
)


@dataclass
class CleanupReport:
    """What one :meth:`vault_cleanup` call did; lists of operation ids or process
    names. Only what this call changed is listed, so a second run reports nothing.
    ``skipped`` holds what was left alone: operations whose run is alive (or of a
    kind this version does not know), and processes whose record cannot be read or
    whose heartbeat lapsed while the server was restarting (each logged)."""

    completed: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)
    requests_cleared: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        return asdict(self)

    @property
    def changed(self) -> bool:
        """True when the call wrote anything."""
        return bool(self.completed or self.rolled_back or self.crashed or self.requests_cleared)


class Resolution(NamedTuple):
    """How to end one operation: complete it, or roll it back by removing
    ``member`` from the word sets of ``code_words``."""

    rollback: bool
    code_words: Sequence[str] = ()
    member: str = ""


_COMPLETE = Resolution(rollback=False)


def _parse_selected(selected: Iterable[int | str]) -> set[str]:
    out = set()
    for value in selected:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValidationError(
                f"selected_timestamps must hold operation ids (integers), got {value!r}"
            )
        text = str(value).strip()
        if not text.isdigit():
            raise ValidationError(f"operation id must be an integer, got {value!r}")
        out.add(str(int(text)))
    return out


def _selection(
    interval: float, selected_timestamps: Iterable[int | str] | None
) -> tuple[set[str] | None, float]:
    """(selected ids or None, minimum age in seconds) of one cleanup call."""
    if selected_timestamps is None:
        return None, checks.seconds(interval, "interval")
    if isinstance(selected_timestamps, (str, bytes, int)):
        selected_timestamps = [selected_timestamps]  # type: ignore[list-item]
    return _parse_selected(selected_timestamps), 0.0


class CleanupMixin:
    """``vault_cleanup`` for :class:`VaultClient`."""

    _conn: Connection
    namespace: str

    def vault_cleanup(
        self, interval: float = 60, selected_timestamps: Iterable[int | str] | None = None
    ) -> CleanupReport:
        """Make the data consistent after processes died.

        Operations whose last update is at least ``interval`` seconds old (or, when
        ``selected_timestamps`` is given, exactly those ids) are completed or rolled
        back; an operation of a process that is still alive is skipped. Processes
        whose heartbeat expired while their record says running or paused are marked
        ``crashed`` (compare-and-set: a final status is never overwritten) and their
        open code items closed with an error saying the process died; requests
        addressed to processes that are not alive are cleared. With
        ``selected_timestamps`` only the processes of those operations are looked at.
        Safe to run twice, and from several processes at once: each change is a
        compare-and-set, and the report lists only what this call changed.
        """
        selected, age = _selection(interval, selected_timestamps)
        return Cleanup(self._conn, self.namespace).run(selected, age)


class Cleanup:
    """One cleanup call: its steps share the connection, the process state read and
    the report being filled."""

    def __init__(self, conn: Connection, ns: str) -> None:
        self._conn = conn
        self._ns = ns
        self.report = CleanupReport()
        self.state: dict[str, ProcessState] = {}
        self._left_alone: set[str] = set()  # processes skipped: their operations too

    def run(self, selected: set[str] | None, age: float) -> CleanupReport:
        """Selected ids, or (None) every operation at least ``age`` seconds old."""
        with self._conn.translate():
            ops = self._select_operations(selected, age)
            names = {op.process for op in ops.values()} - {""}
            if selected is None:
                names |= set(self._conn.client.zrange(keys.processes(self._ns), 0, -1))
            self.state = self._read_process_state(sorted(names))
            self._clear_requests()
            self._crash_dead()
            if selected is None:
                ops.update(self._items_of_crashed(ops))
            for op_id in sorted(ops):
                self._resolve(ops[op_id])
        return self.report

    # -- 1. select operations --------------------------------------------------

    def _select_operations(self, selected: set[str] | None, age: float) -> dict[str, LogEntry]:
        """The operations to resolve, by id: the selected ones, or (None) the ones
        not updated for ``age`` seconds."""
        now = time.time()
        ops = {}
        for op in log_entries(self._conn, self._ns):
            updated = op.updated_at()
            if updated is None:
                continue  # not an operation this library wrote: leave it alone
            wanted = op.id in selected if selected is not None else now - updated >= age
            if wanted:
                ops[op.id] = op
        return ops

    def _items_of_crashed(self, ops: dict[str, LogEntry]) -> dict[str, LogEntry]:
        """The code item operations of processes this call marked crashed: closing
        the process closed its open item, so the operation is over too, however
        young it is."""
        crashed = set(self.report.crashed)
        return {
            op.id: op
            for op in log_entries(self._conn, self._ns)
            if op.id not in ops and op.kind == CODE_ITEM and op.process in crashed
        }

    # -- 2. read process state -------------------------------------------------

    def _read_process_state(self, names: list[str]) -> dict[str, ProcessState]:
        """The state of each process (see :mod:`.liveness`); unreadable ones skipped."""
        state, unreadable = read_process_state(self._conn, self._ns, names)
        for name, why in unreadable.items():
            self._skip(name, why)
        return state

    def _skip(self, name: str, why: str) -> None:
        self._left_alone.add(name)
        self.report.skipped.append(name)
        logger.warning("tablevault-redis: cleanup skipped process %r: %s", name, why)

    # -- 3. crash the dead -----------------------------------------------------

    def _clear_requests(self) -> None:
        """Clear the requests waiting for processes that are not alive."""
        cleared = [n for n, s in self.state.items() if s.dead and s.request]
        batch = scripts.Batch(self._conn)
        for name in cleared:
            scripts.clear_request(self._conn, self._ns, name, client=batch)
        for name, done in zip(cleared, batch.execute(), strict=True):
            if done:
                self.report.requests_cleared.append(name)

    def _crash_dead(self) -> None:
        """Mark ``crashed`` the processes whose record says running or paused while
        their heartbeat expired, closing their open code item."""
        now = time.time()
        dead = [n for n, s in self.state.items() if s.dead and s.status in ACTIVE_STATUSES]
        uptime = server_uptime(self._conn) if dead else None
        if uptime is not None:
            recent = [n for n in dead if uptime < self.state[n].judged_after]
            for name in recent:
                self._skip(
                    name,
                    f"its heartbeat lapsed but the server has been up for only {uptime:.0f} s: "
                    "it may be alive and not reconnected yet (a later cleanup judges it)",
                )
            dead = [n for n in dead if n not in recent]
        batch = scripts.Batch(self._conn)
        for name in dead:
            scripts.finish(
                self._conn,
                self._ns,
                name,
                status="crashed",
                error=CRASH_ERROR,
                only_if_expired=True,
                item_error=ITEM_CRASH_ERROR,
                now=now,
                client=batch,
            )
        for name, finished in zip(dead, batch.execute(), strict=True):
            if finished.outcome == "set":
                self.report.crashed.append(name)
                self.state[name].status = "crashed"

    # -- 4. resolve operations -------------------------------------------------

    def _resolve(self, op: LogEntry) -> None:
        """Complete, roll back or skip one operation, and report it."""
        resolution = self._resolution(op)
        if resolution is None:
            self.report.skipped.append(op.id)
            return
        done = scripts.op_end(
            self._conn,
            self._ns,
            op.id,
            expected=op.raw,
            rollback=resolution.rollback,
            code_words=resolution.code_words,
            member=resolution.member,
        )
        if done:
            (self.report.rolled_back if resolution.rollback else self.report.completed).append(
                op.id
            )

    def _resolution(self, op: LogEntry) -> Resolution | None:
        """How to end ``op``; None to leave it: its run is alive, its registration
        may still be under way, or its kind is one this version does not know."""
        if op.process in self._left_alone:
            return None  # its record cannot be read, or it may be alive
        st = self.state.get(op.process, ProcessState())
        if st.runs(op.token):
            return None
        if op.kind == CODE_ITEM:
            return self._resolve_code_item(op, st)
        if op.kind == REGISTER:
            return self._resolve_register(op)
        return None

    def _resolve_code_item(self, op: LogEntry, st: ProcessState) -> Resolution:
        """An opened item is closed (if it still is open) and keeps its index; an
        item that was never opened has its words taken out of the index."""
        index, run = int(op.args.get("index", -1)), int(op.args.get("run", 0))
        member = str(op.undo.get("member", ""))
        if not self._item_opened(op.process, st, op.token, index):
            return Resolution(True, list(op.undo.get("words", [])), member)
        scripts.close_code(
            self._conn,
            self._ns,
            op.process,
            index=index,
            run=run,
            status="crashed",
            error=ITEM_CRASH_ERROR,
        )
        return Resolution(False, [], member)

    def _item_opened(self, name: str, st: ProcessState, token: str, index: int) -> bool:
        """Did the run with heartbeat ``token`` open code item ``index`` of ``name``?

        Each run numbers its items on from the count it started with, so for the
        current run the record's count says it; for an earlier run, the count in that
        run's snapshot (taken when the next run registered). A token found in neither
        is a run whose registration never completed: it opened nothing.
        """
        if token and token == st.token:
            return st.code_count > index
        for raw in self._conn.client.lrange(keys.runs(self._ns, name), 0, -1):
            try:
                snap = json.loads(raw)
                if token and snap.get("heartbeat_token") == token:
                    return int(snap.get("code_count") or 0) > index
            except (ValueError, TypeError, AttributeError):
                continue
        return False

    def _resolve_register(self, op: LogEntry) -> Resolution | None:
        """Finish a registration whose record was written, or undo its index entries.

        A registration without a record yet is left alone (None) for REGISTER_GRACE
        seconds: its process may be between two steps right now, and has no
        heartbeat to prove it is alive until the record is written.
        """
        ns, name, client = self._ns, op.process, self._conn.client
        parent = str(op.args.get("parent_process_name") or "")
        started = float(op.args.get("started_at") or time.time())
        recorded_parent = client.hget(keys.proc(ns, name), "parent_process_name")
        if recorded_parent is not None:
            client.zadd(keys.processes(ns), {name: started}, nx=True)
            if parent and recorded_parent == parent:
                client.zadd(keys.children(ns, parent), {name: started}, nx=True)
            return _COMPLETE
        if time.time() - (op.updated_at() or 0.0) < REGISTER_GRACE:
            return None
        client.zrem(keys.processes(ns), name)
        if parent:
            client.zrem(keys.children(ns, parent), name)
        now_started = client.hget(keys.proc(ns, name), "started_at")
        if now_started is not None:
            # A new registration of the name landed meanwhile: give its entry back.
            client.zadd(keys.processes(ns), {name: float(now_started or started)}, nx=True)
        return Resolution(rollback=True)
