"""The operation log: multi-step writes registered while they run.

A write that needs more than one atomic step (a code item: index its words, then
open it; a registration: index the name, claim it, link it to its parent) first
stores an *operation* in the namespace's ``operations`` hash and removes it when the
last step is done. An operation that stays behind tells ``vault_cleanup`` (see
:mod:`.cleanup`) what to finish or undo, so a process killed between two steps never
leaves the data half-written. An open code item is an operation until it is
closed: its process may die while it runs.

Operation ids are timestamps: nanoseconds since the epoch, whose last three digits
are taken from the PID so that two processes starting an operation in the same
microsecond still get different ids. They are what ``selected_timestamps`` takes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from . import keys, scripts
from .connection import Connection
from .text import words

CODE_ITEM = "code_item"
REGISTER = "register"

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


@dataclass(frozen=True)
class LogEntry:
    """One entry of the log as cleanup reads it. ``raw`` is its JSON as stored:
    ending it is a compare-and-set against it, so a concurrent update wins."""

    id: str
    raw: str
    data: dict[str, Any]

    @classmethod
    def parse(cls, op_id: str, raw: str) -> LogEntry | None:
        """None for an entry this library did not write: cleanup leaves it alone."""
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        return cls(op_id, raw, data) if isinstance(data, dict) else None

    @property
    def process(self) -> str:
        return str(self.data.get("process", ""))

    @property
    def kind(self) -> Any:
        return self.data.get("kind")

    @property
    def token(self) -> str:
        return str(self.data.get("token") or "")

    @property
    def args(self) -> dict[str, Any]:
        return self.data.get("args") or {}

    @property
    def undo(self) -> dict[str, Any]:
        return self.data.get("undo") or {}

    def updated_at(self) -> float | None:
        """Seconds since the epoch; None when the entry's time is unreadable."""
        try:
            return float(self.data.get("updated_at") or 0)
        except (TypeError, ValueError):
            return None


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


def read_log(conn: Connection, ns: str) -> dict[str, str]:
    """Every operation in the log, as stored: id -> JSON."""
    with conn.translate():
        return conn.client.hgetall(keys.operations(ns))


def log_entries(conn: Connection, ns: str) -> list[LogEntry]:
    """The readable entries of the log (an entry this library did not write is left
    out)."""
    raw = read_log(conn, ns)
    return [op for i, r in raw.items() if (op := LogEntry.parse(i, r)) is not None]


class OperationsMixin:
    """``get_current_operations`` for :class:`VaultClient`."""

    _conn: Connection
    namespace: str

    def get_current_operations(self) -> list[Operation]:
        """The operations in progress, oldest first (open code items included)."""
        ops = []
        for raw in read_log(self._conn, self.namespace).values():
            try:
                ops.append(Operation.from_json(raw))
            except (ValueError, TypeError, AttributeError):
                continue  # not ours to judge: cleanup leaves unreadable entries alone
        return sorted(ops, key=lambda op: int(op.id) if op.id.isdigit() else 0)
