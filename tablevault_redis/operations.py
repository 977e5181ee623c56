"""Operations: multi-step writes registered while they run, and the cleanup that
completes or rolls back the ones whose process died.

A write that needs more than one atomic step (a code item: index its words, then
open it; a registration: index the name, claim it, link it to its parent) first
stores an *operation* in the namespace's ``operations`` hash and removes it when the
last step is done. An operation that stays behind tells :meth:`vault_cleanup` what
to finish or undo, so a process killed between two steps never leaves the data
half-written. An open code item is an operation until it is closed: its process
may die while it runs.

Operation ids are timestamps: nanoseconds since the epoch, whose last three digits
are taken from the PID so that two processes starting an operation in the same
microsecond still get different ids. They are what ``selected_timestamps`` takes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from . import keys, scripts
from .connection import Connection
from .errors import ValidationError
from .query import words

CODE_ITEM = "code_item"
REGISTER = "register"
_ACTIVE = ("running", "paused")
REGISTER_GRACE = 30.0  # seconds a registration may take before cleanup undoes it
CRASH_ERROR = (
    "the process died without reporting an outcome: its heartbeat expired (killed, "
    "out of memory or host lost); marked crashed by vault_cleanup"
)
ITEM_CRASH_ERROR = (
    "the process died while this code item was running: its heartbeat expired "
    "(killed, out of memory or host lost); closed by vault_cleanup"
)

_id_lock = threading.Lock()
_last_id = 0


def new_operation_id() -> str:
    """A fresh operation id: nanoseconds since the epoch, unique in this process and,
    through its last three digits (the PID's), across processes."""
    global _last_id
    with _id_lock:
        candidate = (time.time_ns() // 1000) * 1000 + os.getpid() % 1000
        if candidate <= _last_id:
            candidate = _last_id + 1000
        _last_id = candidate
        return str(candidate)


@dataclass(frozen=True)
class Operation:
    """A multi-step write in progress. Times are seconds since the epoch."""

    id: str
    kind: str
    process_name: str
    arguments: dict[str, Any]
    started_at: float
    updated_at: float

    @classmethod
    def from_json(cls, raw: str) -> Operation:
        data = json.loads(raw)
        return cls(
            id=str(data.get("id", "")),
            kind=str(data.get("kind", "")),
            process_name=str(data.get("process", "")),
            arguments=dict(data.get("args") or {}),
            started_at=float(data.get("started_at") or 0.0),
            updated_at=float(data.get("updated_at") or data.get("started_at") or 0.0),
        )

    def to_dict(self) -> dict[str, Any]:
        """The operation as a JSON-ready dict."""
        return asdict(self)


@dataclass
class CleanupReport:
    """What one :meth:`vault_cleanup` call did; lists of operation ids or process
    names. Only what this call changed is listed, so a second run reports nothing."""

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


def operation_json(
    op_id: str,
    kind: str,
    process: str,
    token: str,
    args: dict[str, Any],
    undo: dict[str, Any] | None = None,
) -> str:
    now = time.time()
    return json.dumps(
        {
            "id": op_id,
            "kind": kind,
            "process": process,
            "token": token,
            "args": args,
            "undo": undo or {},
            "started_at": now,
            "updated_at": now,
        },
        separators=(",", ":"),
    )


def code_member(process: str, index: int, start_position: int, run: int) -> str:
    """The word index member of one code item. The run is part of it: a run that died
    before its item was opened leaves an index a later run of the name may reuse."""
    return f"{process}\x1f{index}\x1f{start_position}\x1f{run}"


class CodeItemOp(NamedTuple):
    """The operation covering one code item: queue its ``op_begin`` (which indexes the
    item's words) before ``open_code``, and its ``op_end`` after ``close_code``."""

    id: str
    json: str
    words: list[str]
    member: str


def code_item_op(
    process: str, token: str, index: int, run: int, start_position: int, text: str
) -> CodeItemOp:
    op_id = new_operation_id()
    item_words = words(text)
    member = code_member(process, index, start_position, run)
    raw = operation_json(
        op_id,
        CODE_ITEM,
        process,
        token,
        {"index": index, "run": run, "start_position": start_position, "length": len(text)},
        {"words": item_words, "member": member},
    )
    return CodeItemOp(op_id, raw, item_words, member)


def begin(conn: Connection, ns: str, kind: str, process: str, token: str, args: dict) -> str:
    """Register an operation synchronously; returns its id."""
    op_id = new_operation_id()
    scripts.op_begin(conn, ns, op_id, operation_json(op_id, kind, process, token, args))
    return op_id


def end(conn: Connection, ns: str, op_id: str) -> None:
    """Mark an operation complete synchronously."""
    scripts.op_end(conn, ns, op_id)


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


class OperationsMixin:
    """``get_current_operations`` and ``vault_cleanup`` for :class:`VaultClient`."""

    _conn: Connection
    namespace: str

    def _operations_raw(self) -> dict[str, str]:
        with self._conn.translate():
            return self._conn.client.hgetall(keys.operations(self.namespace))

    def get_current_operations(self) -> list[Operation]:
        """The operations in progress, oldest first (open code items included)."""
        ops = []
        for raw in self._operations_raw().values():
            try:
                ops.append(Operation.from_json(raw))
            except (ValueError, TypeError, AttributeError):
                continue  # not ours to judge: cleanup leaves unreadable entries alone
        return sorted(ops, key=lambda op: int(op.id) if op.id.isdigit() else 0)

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
        if selected_timestamps is None:
            try:
                age = float(interval)
            except (TypeError, ValueError):
                raise ValidationError(f"interval must be seconds, got {interval!r}") from None
            if not age >= 0:
                raise ValidationError(f"interval must be >= 0 seconds, got {interval!r}")
            selected = None
        else:
            if isinstance(selected_timestamps, (str, bytes, int)):
                selected_timestamps = [selected_timestamps]  # type: ignore[list-item]
            selected = _parse_selected(selected_timestamps)
            age = 0.0
        ns = self.namespace
        report = CleanupReport()
        now = time.time()
        ops: dict[str, tuple[str, dict[str, Any]]] = {}
        for op_id, raw in self._operations_raw().items():
            try:
                data = json.loads(raw)
                updated = float(data.get("updated_at") or 0)
            except (ValueError, TypeError, AttributeError):
                continue  # not an operation this library wrote: leave it alone
            if selected is not None:
                if op_id in selected:
                    ops[op_id] = (raw, data)
            elif now - updated >= age:
                ops[op_id] = (raw, data)
        with self._conn.translate():
            if selected is None:
                names = set(self._conn.client.zrange(keys.processes(ns), 0, -1))
            else:
                names = set()
            names |= {str(d.get("process", "")) for _r, d in ops.values()} - {""}
            state = self._process_state(sorted(names))
            self._crash_dead(state, report)
            self._resolve(ops, state, report, interval_mode=selected is None)
        return report

    # -- helpers -------------------------------------------------------------------

    def _process_state(self, names: list[str]) -> dict[str, dict[str, Any]]:
        """status, code_count, alive token and request presence of each process."""
        ns = self.namespace
        pipe = self._conn.client.pipeline(transaction=False)
        for name in names:
            pipe.hmget(keys.proc(ns, name), "status", "code_count", "run", "heartbeat_token")
            pipe.get(keys.alive(ns, name))
            pipe.exists(keys.request(ns, name))
        replies = pipe.execute() if names else []
        state = {}
        for i, name in enumerate(names):
            (status, code_count, run, token), alive, request = replies[3 * i : 3 * i + 3]
            state[name] = {
                "status": status,
                "code_count": int(code_count or 0),
                "run": int(run or 0),
                "token": token,
                "alive": alive,
                "request": bool(request),
            }
        return state

    def _crash_dead(self, state: dict[str, dict[str, Any]], report: CleanupReport) -> None:
        ns = self.namespace
        now = time.time()
        cleared = [n for n, s in state.items() if s["alive"] is None and s["request"]]
        batch = scripts.Batch(self._conn)
        for name in cleared:
            scripts.clear_request(self._conn, ns, name, client=batch)
        for name, done in zip(cleared, batch.execute(), strict=True):
            if done:
                report.requests_cleared.append(name)
        dead = [n for n, s in state.items() if s["alive"] is None and s["status"] in _ACTIVE]
        for name in dead:
            scripts.finish(
                self._conn,
                ns,
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
                report.crashed.append(name)
                state[name]["status"] = "crashed"

    def _resolve(
        self,
        ops: dict[str, tuple[str, dict[str, Any]]],
        state: dict[str, dict[str, Any]],
        report: CleanupReport,
        interval_mode: bool,
    ) -> None:
        ns = self.namespace
        if interval_mode:
            # The open code item of a process found dead now was just closed: its
            # operation is over too, however young it is.
            crashed = set(report.crashed)
            for op_id, raw in self._operations_raw().items():
                if op_id in ops:
                    continue
                try:
                    data = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(data, dict):
                    continue
                if data.get("kind") == CODE_ITEM and data.get("process") in crashed:
                    ops[op_id] = (raw, data)
        for op_id in sorted(ops):
            raw, data = ops[op_id]
            name = str(data.get("process", ""))
            st = state.get(
                name, {"status": None, "code_count": 0, "run": 0, "token": None, "alive": None}
            )
            if st["alive"] is not None and st["alive"] == data.get("token"):
                report.skipped.append(op_id)
                continue
            kind = data.get("kind")
            args = data.get("args") or {}
            undo = data.get("undo") or {}
            if kind == CODE_ITEM:
                index = int(args.get("index", -1))
                op_run = int(args.get("run", 0))
                if self._item_opened(name, st, str(data.get("token") or ""), index):
                    # The item was opened: make sure it is closed, keep its index.
                    scripts.close_code(
                        self._conn,
                        ns,
                        name,
                        index=index,
                        run=op_run,
                        status="crashed",
                        error=ITEM_CRASH_ERROR,
                    )
                    mode, code_words = "complete", []
                else:
                    mode, code_words = "rollback", list(undo.get("words", []))
                member = str(undo.get("member", ""))
            elif kind == REGISTER:
                mode = self._resolve_register(name, args, float(data.get("updated_at") or 0))
                if mode == "skip":
                    report.skipped.append(op_id)
                    continue
                code_words, member = [], ""
            else:
                report.skipped.append(op_id)  # a kind this version does not know
                continue
            done = scripts.op_end(
                self._conn,
                ns,
                op_id,
                expected=raw,
                rollback=mode == "rollback",
                code_words=code_words,
                member=member,
            )
            if done:
                (report.completed if mode == "complete" else report.rolled_back).append(op_id)

    def _item_opened(self, name: str, st: dict[str, Any], token: str, index: int) -> bool:
        """Did the run with heartbeat ``token`` open code item ``index`` of ``name``?

        Each run numbers its items on from the count it started with, so for the
        current run the record's count says it; for an earlier run, the count in that
        run's snapshot (taken when the next run registered). A token found in neither
        is a run whose registration never completed: it opened nothing.
        """
        if token and token == st["token"]:
            return bool(st["code_count"] > index)
        for raw in self._conn.client.lrange(keys.runs(self.namespace, name), 0, -1):
            try:
                snap = json.loads(raw)
                if token and snap.get("heartbeat_token") == token:
                    return int(snap.get("code_count") or 0) > index
            except (ValueError, TypeError, AttributeError):
                continue
        return False

    def _resolve_register(self, name: str, args: dict[str, Any], updated_at: float) -> str:
        """Finish a registration whose record was written, or undo its index entries.

        A registration without a record yet is left alone for REGISTER_GRACE seconds:
        its process may be between two steps right now, and has no heartbeat to
        prove it is alive until the record is written.
        """
        ns = self.namespace
        client = self._conn.client
        parent = str(args.get("parent_process_name") or "")
        started = float(args.get("started_at") or time.time())
        recorded_parent = client.hget(keys.proc(ns, name), "parent_process_name")
        if recorded_parent is not None:
            client.zadd(keys.processes(ns), {name: started}, nx=True)
            if parent and recorded_parent == parent:
                client.zadd(keys.children(ns, parent), {name: started}, nx=True)
            return "complete"
        if time.time() - updated_at < REGISTER_GRACE:
            return "skip"
        client.zrem(keys.processes(ns), name)
        if parent:
            client.zrem(keys.children(ns, parent), name)
        now_started = client.hget(keys.proc(ns, name), "started_at")
        if now_started is not None:
            # A new registration of the name landed meanwhile: give its entry back.
            client.zadd(keys.processes(ns), {name: float(now_started or started)}, nx=True)
        return "rollback"
