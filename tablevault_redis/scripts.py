"""The Lua scripts, and one typed function per script: the only way to run one.

Every atomic step of the library is one script, ``lua/<name>.lua``, whose header
names its KEYS, ARGV and return value. The function of the same name here repeats
that contract, builds the KEYS (always from :mod:`keys`, never inside Lua, so the
schema lives in one place and Redis Cluster can route each call) and ARGV lists and
returns a typed reply. No other module builds those lists.

The text of each script (behind its prelude) comes from :mod:`lua_source`.
Calls can be batched with :class:`Batch`: one round trip on a standalone server, one
call at a time on a cluster (each key's own node).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from redis.commands.core import Script

from . import keys, replies
from .lua_source import names, source
from .replies import Appended, Finished, Heartbeat, Registered, RequestReply, RequestState, flag

if TYPE_CHECKING:
    from .connection import Connection

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# script name -> its function; a test checks it matches lua/*.lua exactly.
WRAPPERS: dict[str, Callable[..., Any]] = {}


class Scripts:
    """The registered scripts of one client.

    redis-py's :class:`Script` sends EVALSHA and falls back to EVAL after a
    NOSCRIPT reply, so a restarted server or a failover needs no special care.
    """

    def __init__(self, client: Any) -> None:
        self._scripts: dict[str, Script] = {
            name: client.register_script(source(name)) for name in names()
        }

    def run(self, name: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
        """Run script ``name`` (optionally on ``client``, e.g. a pipeline); the raw reply."""
        return self._scripts[name](keys=keys, args=args, client=client)


class Batch:
    """Script calls sent together: pass it as ``client=`` to the functions below (the
    call is queued and returns None), then :meth:`execute` returns the typed replies
    in order. Pipelined on a standalone server; on a cluster each call goes on its
    own, to its own key's node."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._calls: list[tuple[str, list[str], list[Any], Callable[[Any], Any]]] = []

    def execute(self) -> list[Any]:
        calls, self._calls = self._calls, []
        if not calls:
            return []
        scripts = self._conn.scripts
        if self._conn.cluster:
            return [parse(scripts.run(name, k, a)) for name, k, a, parse in calls]
        pipe = self._conn.client.pipeline(transaction=False)
        for name, k, a, _parse in calls:
            scripts.run(name, k, a, client=pipe)
        return [c[3](reply) for c, reply in zip(calls, pipe.execute(), strict=True)]


def _run(
    conn: Connection,
    name: str,
    k: list[str],
    args: list[Any],
    parse: Callable[[Any], T],
    client: Batch | None = None,
) -> T:
    if client is not None:
        client._calls.append((name, k, args, parse))
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
def heartbeat(
    conn: Connection,
    ns: str,
    name: str,
    *,
    token: str,
    ttl: float,
    listener_at: float,
    held: replies.Held,
    fresh_epoch: str,
) -> Heartbeat:
    """Refresh this run's heartbeat, check the request state it ``held`` is still on
    the server (else start over in ``fresh_epoch``), read it. KEYS alive, proc,
    request; ARGV token, TTL ms, now, listener_at, epoch, seq, pending action, by,
    fresh epoch. ``outcome`` beat, missing, crashed, ended or taken."""
    k = [keys.alive(ns, name), keys.proc(ns, name), keys.request(ns, name)]
    args = [token, _ms(ttl), repr(time.time()), repr(listener_at), *held, fresh_epoch]
    return _run(conn, "heartbeat", k, args, Heartbeat.parse)


@_script
def revive(conn: Connection, ns: str, name: str, *, token: str, r: replies.Revival) -> Heartbeat:
    """A live run (``token``) puts back its vanished record or revives the one a
    cleaner marked crashed, compare-and-set on its token, and records the gap (see
    :class:`replies.Revival`). KEYS proc, alive, request, code; ARGV token, TTL ms,
    now, epoch, status, pending action, by, open item, last beat, field/value pairs.
    ``outcome`` restored, revived, kept, ended or taken."""
    k = [keys.proc(ns, name), keys.alive(ns, name), keys.request(ns, name), keys.code(ns, name)]
    args = [token, _ms(r.ttl), repr(time.time()), r.epoch, r.status, r.held.action, r.held.by]
    args += [r.open_code, repr(r.last_beat)]
    for field, value in r.fields.items():
        args += [field, value]
    return _run(conn, "revive", k, args, Heartbeat.parse)


@_script
def request_state(conn: Connection, ns: str, name: str) -> RequestState:
    """Read the epoch, ``request_seq`` and the well-formed pending request atomically
    (the listener's read). KEYS proc, request."""
    k = [keys.proc(ns, name), keys.request(ns, name)]
    return _run(conn, "request_state", k, [], RequestState.parse)


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
    conn: Connection, ns: str, name: str, *, action: str, by: str, request_id: str
) -> RequestReply:
    """Write a stop, pause or resume request and announce it, atomically. KEYS proc,
    request, alive, control channel; ARGV action, who asks, now, PUBLISH or SPUBLISH,
    ``request_id`` (unique per call: a retry after a lost reply gets the first
    attempt's answer instead of a second request)."""
    k = [keys.proc(ns, name), keys.request(ns, name), keys.alive(ns, name)]
    k.append(keys.channel(ns, name))
    args = [action, by, repr(time.time()), conn.publish_command, request_id]
    return _run(conn, "request", k, args, RequestReply.parse)


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
    """The target acted on request ``seq``: ``kind`` paused | running |
    stop_consumed (a stop that ended a notebook cell; ``by`` who asked). KEYS proc,
    request; ARGV kind, seq, now, by. Returns the status after the step."""
    k = [keys.proc(ns, name), keys.request(ns, name)]
    return _run(conn, "ack", k, [kind, seq, _now(now), by], str)


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


@_script
def record_append(
    conn: Connection,
    ns: str,
    list_name: str,
    *,
    columns: list[str],
    record: str,
    create: bool,
    lineage: str = "{}",
    index: int | None = None,
    process: str = "",
    process_index: int | None = None,
    inputs: Sequence[tuple[str, str, int, int]] = (),
) -> Appended:
    """Append ``record`` (JSON, or "" to only create; at ``index`` to replace) to a
    record list, checking its columns, with its ``lineage`` JSON beside it, the
    writer in its writes hash, ``inputs`` (collection, item, start, end) in their
    dependents lists; with ``create`` make the list when missing. KEYS list meta,
    records, names, lineage, writes, dependents...; ARGV see record_append.lua."""
    k = [keys.record_list_meta(ns, list_name), keys.records(ns, list_name)]
    k += [keys.record_lists(ns), keys.record_meta(ns, list_name)]
    k.append(keys.process_writes(ns, process))
    k += [keys.dependents(ns, item) for _kind, item, _s, _e in inputs]
    args: list[Any] = [list_name, json.dumps(columns), json.dumps(sorted(columns)), record]
    args += [repr(time.time()), "1" if create else "0", lineage]
    args += ["" if index is None else str(index), process]
    args.append("" if process_index is None else str(process_index))
    for kind, item, start, end in inputs:
        args += [kind, item, str(start), str(end)]
    return _run(conn, "record_append", k, args, Appended.parse)


@_script
def record_progress(
    conn: Connection,
    ns: str,
    name: str,
    *,
    token: str,
    count: int,
    last_record: str,
    list_name: str,
    now: float | None = None,
) -> bool:
    """Set a run's progress fields (``count`` is the run's own, so a retry writes the
    same). KEYS proc; ARGV token, count, last record, list, now. False: not its run."""
    args = [token, str(count), last_record, list_name, _now(now)]
    return _run(conn, "record_progress", [keys.proc(ns, name)], args, flag)


@_script
def describe(
    conn: Connection,
    ns: str,
    item: str,
    *,
    description_name: str,
    current: str,
    new: str,
    old_words: Sequence[str],
    new_words: Sequence[str],
) -> bool:
    """Write description ``description_name`` of ``item`` and move its word index
    entries, by compare-and-set on ``current`` (the JSON read, or ""). KEYS
    descriptions hash, old word sets, new word sets; ARGV name, current, new,
    member, number of old sets. False when it changed meanwhile (read again)."""
    k = [keys.descriptions(ns, item), *(keys.description_word(ns, w) for w in old_words)]
    k += [keys.description_word(ns, w) for w in new_words]
    member = f"{item}\x1f{description_name}"
    args = [description_name, current, new, member, len(old_words)]
    return _run(conn, "describe", k, args, flag)
