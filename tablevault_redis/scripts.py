"""The Lua scripts, and one typed function per script: the only way to run one.

Every atomic step of the library is one script, ``lua/<name>.lua``, whose header
names its KEYS, ARGV and return value. The function of the same name here repeats
that header, builds the KEYS (from :mod:`keys` only) and ARGV lists, and types the
reply; no other module builds them (the record, description, retention and bulk
request scripts' functions are in :mod:`item_scripts`). :class:`Batch` sends several
calls in one round trip on a standalone server."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import redis.exceptions

from . import keys, replies
from .lua_source import names, source  # noqa: F401 (both read as scripts.names, scripts.source)
from .replies import Finished, Heartbeat, Registered, RequestReply, RequestState, flag

if TYPE_CHECKING:
    from .connection import Connection

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# script name -> its function; a test checks it matches lua/*.lua exactly.
WRAPPERS: dict[str, Callable[..., Any]] = {}


class Batch:
    """Script calls sent together: pass it as ``client=`` to the functions below (the
    call is queued, returns None), then :meth:`execute` returns the typed replies in
    order. Every call must be safe to run twice: see :meth:`_replies`."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._calls: list[tuple[str, list[str], list[Any], Callable[[Any], Any]]] = []

    def __len__(self) -> int:
        return len(self._calls)

    def queue(self, name: str, k: list[str], args: list[Any], parse: Callable[[Any], Any]) -> None:
        """Queue one call of script ``name`` (what the functions below do with it)."""
        self._calls.append((name, k, args, parse))

    def execute_each(self) -> list[Any]:
        """Like :meth:`execute`, but a refused call gives its error in its place."""
        calls, self._calls = self._calls, []
        return [
            reply if isinstance(reply, Exception) else c[3](reply)
            for c, reply in zip(calls, self._replies(calls), strict=True)
        ]

    def execute(self) -> list[Any]:
        calls, self._calls = self._calls, []
        replies = self._replies(calls)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [c[3](reply) for c, reply in zip(calls, replies, strict=True)]

    def _replies(self, calls: list[Any]) -> list[Any]:
        """The raw replies (an error reply in its call's place) in one round trip,
        without the SCRIPT EXISTS a redis-py pipeline of scripts sends first. A server
        lacking a script (restarted) gets the batch again the way that loads it."""
        if not calls:
            return []
        scripts = self._conn.scripts
        if self._conn.cluster:  # each call to its own key's node
            out: list[Any] = []
            for name, k, a, _parse in calls:
                try:
                    out.append(scripts.run(name, k, a))
                except redis.exceptions.ResponseError as e:
                    out.append(e)
            return out
        if len(calls) == 1 and scripts.direct:  # one round trip anyway: no pipeline
            name, k, a, _parse = calls[0]
            return [scripts.call(name, k, a)]
        pipe = self._conn.client.pipeline(transaction=False)
        for name, k, a, _parse in calls:
            pipe.evalsha(scripts.sha(name), len(k), *k, *a)
        replies = pipe.execute(raise_on_error=False)
        if not any(isinstance(r, redis.exceptions.NoScriptError) for r in replies):
            return list(replies)
        pipe = self._conn.client.pipeline(transaction=False)
        for name, k, a, _parse in calls:
            scripts.run(name, k, a, client=pipe)
        return list(pipe.execute(raise_on_error=False))


def _run(
    conn: Connection,
    name: str,
    k: list[str],
    args: list[Any],
    parse: Callable[[Any], T],
    client: Batch | None = None,
) -> T:
    if client is not None:
        client.queue(name, k, args, parse)
        return cast(T, None)
    return parse(conn.scripts.run(name, k, args))


def _script(fn: F) -> F:
    WRAPPERS[fn.__name__] = fn
    return fn


def _now(now: float | None) -> str:
    return repr(time.time() if now is None else now)


def _ms(seconds: float) -> str:
    return str(int(seconds * 1000))


@_script
def register(
    conn: Connection,
    ns: str,
    name: str,
    *,
    token: str,
    ttl: float,
    dead_holder: str,
    now: float,
    fields: dict[str, str],
    client: Batch | None = None,
) -> Registered:
    """Claim process ``name`` for a new run with heartbeat ``token`` (expiring after
    ``ttl`` s) and write its record ``fields``. KEYS proc, alive, request, runs, code;
    ARGV token, TTL ms, ``dead_holder`` (the token of a holder the caller verified
    dead: same host and PID namespace, PID gone; only it may be taken over, or ""),
    now, then field/value pairs. A previous run that never ended is snapshotted as
    crashed. Returns ``held_by`` set when a live run holds the name."""
    k = [keys.proc(ns, name), keys.alive(ns, name), keys.request(ns, name)]
    k += [keys.runs(ns, name), keys.code(ns, name)]
    args = [token, _ms(ttl), dead_holder, repr(now)]
    for field, value in fields.items():
        args += [field, value]
    return _run(conn, "register", k, args, Registered.parse, client)


@_script
def heartbeat(conn: Connection, ns: str, name: str, **kw: Any) -> Heartbeat:
    """Refresh this run's heartbeat, check the request state it ``held`` is still on
    the server (else start over in ``fresh_epoch``), read it. KEYS alive, proc,
    request; ARGV token, TTL ms, now, listener_at, epoch, seq, pending action, by,
    fresh epoch, the run's number and start (``kw``: :func:`heartbeat_args`). ``outcome`` beat,
    missing (also: a stale copy of an earlier run's record), crashed, ended or taken."""
    return _run(conn, "heartbeat", *heartbeat_args(ns, name, **kw), Heartbeat.parse)


def heartbeat_args(
    ns: str,
    name: str,
    *,
    token: str,
    ttl: float,
    listener_at: float,
    held: replies.Held,
    fresh_epoch: str,
    run: int,
    started: float,
) -> tuple[list[str], list[str]]:
    """The KEYS and ARGV of ``heartbeat`` (the lean heartbeat, :mod:`beat`, sends them);
    ``run`` and ``started`` (its ``started_at``) tell an earlier run's record restored
    from an older copy from a later one (numbers start over after data loss)."""
    k = [keys.alive(ns, name), keys.proc(ns, name), keys.request(ns, name)]
    args = [token, _ms(ttl), repr(time.time()), repr(listener_at), *map(str, held)]
    return k, [*args, fresh_epoch, str(run), repr(started)]


@_script
def revive(conn: Connection, ns: str, name: str, *, token: str, r: replies.Revival) -> Heartbeat:
    """A live run (``token``) puts back its vanished record (or a stale copy of an
    earlier run's, kept in ``runs``) or revives the one a cleaner marked crashed,
    compare-and-set on its token, and records the gap (see :class:`replies.Revival`).
    KEYS proc, alive, request, code, runs; ARGV token, TTL ms, now, epoch, status,
    pending action, by, open item, last beat, its fields' ``run`` and ``started_at``
    (compared with a stale copy's), field/value pairs. ``outcome`` restored, revived,
    kept, ended or taken."""
    k = [keys.proc(ns, name), keys.alive(ns, name), keys.request(ns, name), keys.code(ns, name)]
    k.append(keys.runs(ns, name))
    args = [token, _ms(r.ttl), repr(time.time()), r.epoch, r.status, r.held.action, r.held.by]
    since = [r.fields.get("run", ""), r.fields.get("started_at", "")]
    args += [r.open_code, repr(r.last_beat), *since]
    for field, value in r.fields.items():
        args += [field, value]
    return _run(conn, "revive", k, args, Heartbeat.parse)


@_script
def request_state(
    conn: Connection, ns: str, name: str, client: Batch | None = None
) -> RequestState:
    """Read the epoch, ``request_seq`` and the well-formed pending request atomically
    (the listener's read, the signal fast path). KEYS proc, request."""
    k = [keys.proc(ns, name), keys.request(ns, name)]
    return _run(conn, "request_state", k, [], RequestState.parse, client)


@_script
def finish(
    conn: Connection,
    ns: str,
    name: str,
    *,
    status: str,
    error: str = "",
    stopped_by: str = "",
    token: str = "",
    only_if_expired: bool = False,
    item_status: str | None = None,
    item_error: str | None = None,
    now: float | None = None,
    client: Batch | None = None,
) -> Finished:
    """Write final ``status`` by compare-and-set (a final status is never
    overwritten); close the open code item with ``item_status``/``item_error``
    (default: the same as the process's), clear the request, drop the heartbeat of
    the run ``token`` ("" when a cleaner ends a dead process). KEYS proc, request,
    alive, code; ARGV status, now, error, stopped_by, token, "1" if only_if_expired,
    item status, item error."""
    k = [keys.proc(ns, name), keys.request(ns, name), keys.alive(ns, name), keys.code(ns, name)]
    args = [status, _now(now), error, stopped_by, token, "1" if only_if_expired else "0"]
    args += [item_status or status, error if item_error is None else item_error]
    return _run(conn, "finish", k, args, Finished.parse, client)


@_script
def request(
    conn: Connection,
    ns: str,
    name: str,
    *,
    action: str,
    by: str,
    request_id: str,
    client: Batch | None = None,
) -> RequestReply:
    """Write a stop, pause or resume request and announce it, atomically. KEYS proc,
    request, alive, channel, history; ARGV action, who asks, now, PUBLISH or SPUBLISH,
    a ``request_id`` unique per call (a retry after a lost reply gets the first answer)."""
    k = [keys.proc(ns, name), keys.request(ns, name), keys.alive(ns, name), keys.channel(ns, name)]
    k.append(keys.requests(ns, name))
    args = [action, by, repr(time.time()), conn.publish_command, request_id]
    return _run(conn, "request", k, args, RequestReply.parse, client)


@_script
def ack(
    conn: Connection,
    ns: str,
    name: str,
    *,
    kind: str,
    seq: int,
    by: str = "",
    now: float | None = None,
) -> str:
    """The target acted on request ``seq``: ``kind`` paused | running | stopping (a
    checkpoint raised for the stop) | stop_consumed (a stop ended a notebook cell;
    ``by`` who asked). KEYS proc, request, history; ARGV kind, seq, now, by. The new
    status ("superseded" / "unchanged": a stopping / paused step not recorded)."""
    k = [keys.proc(ns, name), keys.request(ns, name), keys.requests(ns, name)]
    return _run(conn, "ack", k, [kind, seq, _now(now), by], str)


@_script
def withdraw(conn: Connection, ns: str, name: str, *, by: str) -> replies.Withdrawn:
    """Withdraw the pending stop or pause the target has not acted on, announcing a
    new ``request_seq``. KEYS proc, request, channel, history; ARGV who, now,
    (S)PUBLISH."""
    k = [keys.proc(ns, name), keys.request(ns, name), keys.channel(ns, name)]
    k.append(keys.requests(ns, name))
    args = [by, _now(None), conn.publish_command]
    return _run(conn, "withdraw", k, args, replies.Withdrawn.parse)


@_script
def clear_request(conn: Connection, ns: str, name: str, *, client: Batch | None = None) -> bool:
    """Clear the request addressed to a process that is not alive. KEYS proc,
    request, alive. True when a request was cleared."""
    k = [keys.proc(ns, name), keys.request(ns, name), keys.alive(ns, name)]
    return _run(conn, "clear_request", k, [], flag, client)


@_script
def open_code(
    conn: Connection,
    ns: str,
    name: str,
    *,
    index: int,
    run: int,
    text: str,
    start_position: int,
    now: float | None = None,
    client: Batch | None = None,
) -> bool:
    """Open code item ``index`` of ``run`` (idempotent). KEYS proc, code; ARGV index,
    run, text, start_position, code length after it, started_at. True when
    written, False when it was there already."""
    k = [keys.proc(ns, name), keys.code(ns, name)]
    args = [index, run, text, start_position, start_position + len(text), _now(now)]
    return _run(conn, "open_code", k, args, flag, client)


@_script
def close_code(
    conn: Connection,
    ns: str,
    name: str,
    *,
    index: int,
    run: int,
    status: str,
    error: str = "",
    now: float | None = None,
    client: Batch | None = None,
) -> bool:
    """Close code item ``index`` with its outcome, only if it is the open item of
    ``run``. KEYS proc, code; ARGV index, status, error, ended_at, run. True when
    written."""
    k = [keys.proc(ns, name), keys.code(ns, name)]
    args = [index, status, error, _now(now), run]
    return _run(conn, "close_code", k, args, flag, client)


@_script
def op_begin(
    conn: Connection,
    ns: str,
    op_id: str,
    op_json: str,
    *,
    code_words: Sequence[str] = (),
    member: str = "",
    client: Batch | None = None,
) -> None:
    """Register (or update) operation ``op_id`` and add ``member`` to the code word
    sets of ``code_words`` in the same step. KEYS operations, word sets; ARGV id,
    JSON, member."""
    k = [keys.operations(ns), *(keys.code_word(ns, w) for w in code_words)]
    _run(conn, "op_begin", k, [op_id, op_json, member], lambda r: None, client)


@_script
def op_end(
    conn: Connection,
    ns: str,
    op_id: str,
    *,
    expected: str = "",
    rollback: bool = False,
    code_words: Sequence[str] = (),
    member: str = "",
    client: Batch | None = None,
) -> bool:
    """End operation ``op_id``: complete, or roll back (remove ``member`` from the
    sets of ``code_words``). With ``expected`` (its JSON) a compare-and-set. KEYS
    operations, word sets; ARGV id, expected, complete | rollback, member. True when
    this call ended it."""
    k = [keys.operations(ns), *(keys.code_word(ns, w) for w in code_words)]
    args = [op_id, expected, "rollback" if rollback else "complete", member]
    return _run(conn, "op_end", k, args, flag, client)


# The record-list, description and retention scripts (defined there, exported here).
from .item_scripts import (  # noqa: E402
    StreamedBatch,
    describe,
    prune_index,
    prune_process,
    record_append,
    record_append_many,
    record_progress,
    request_many,
    trim_records,
)

__all__ = [
    "describe",
    "prune_index",
    "prune_process",
    "record_append",
    "record_append_many",
    "record_progress",
    "request_many",
    "StreamedBatch",
    "trim_records",
]
