"""The typed functions of the record-list, description and retention scripts, and of
the bulk request.

Part of :mod:`scripts` (which exports them; see its docstring for the contract every
function here follows): split out only to keep each module small.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import redis.exceptions

from . import direct, keys
from ._redis_compat import read_replies, take_connection
from .replies import Appended, Pruned, RequestReply, flag
from .scripts import Batch, _now, _run, _script

if TYPE_CHECKING:
    from .connection import Connection


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
    writer: str = "",
    seq: int = 0,
    client: Batch | None = None,
) -> Appended:
    """Append ``record`` (JSON, or "" to only create; at ``index`` to replace) to a
    record list, checking its columns, with its ``lineage`` JSON beside it, the
    writer in its writes hash, ``inputs`` (collection, item, start, end) in their
    dependents lists; with ``create`` make the list when missing. ``writer`` and
    ``seq`` make a retry idempotent: a writer's write numbered at or below the last
    one applied to this list is skipped (reply ``dup``). KEYS list meta, records,
    names, lineage, writes, dependents...; ARGV see record_append.lua."""
    k = [keys.record_list_meta(ns, list_name), keys.records(ns, list_name)]
    k += [keys.record_lists(ns), keys.record_meta(ns, list_name)]
    k.append(keys.process_writes(ns, process))
    k += [keys.dependents(ns, item) for _kind, item, _s, _e in inputs]
    args: list[Any] = [list_name, *_columns_json(tuple(columns)), record]
    args += [repr(time.time()), "1" if create else "0", lineage]
    args += ["" if index is None else str(index), process]
    args.append("" if process_index is None else str(process_index))
    args += [writer, str(seq)]
    for kind, item, start, end in inputs:
        args += [kind, item, str(start), str(end)]
    return _run(conn, "record_append", k, args, Appended.parse, client)


@_script
def record_append_many(
    conn: Connection,
    ns: str,
    list_name: str,
    *,
    columns: list[str],
    entries: Sequence[tuple[int, str, str]],
    writer: str,
    process: str = "",
    process_index: int | None = None,
    client: Batch | None = None,
) -> Appended:
    """Append ``entries`` (the writer's sequence number, record JSON, lineage JSON;
    numbers increasing) to a record list in one call, creating it when missing, as
    :func:`record_append` would one by one; entries numbered at or below ``writer``'s
    last applied one are skipped. Reply ``ok`` (``index``: the first one written,
    ``count``: how many) or ``columns``. KEYS list meta, records, names, lineage,
    writes; ARGV see record_append_many.lua."""
    k = [keys.record_list_meta(ns, list_name), keys.records(ns, list_name)]
    k += [keys.record_lists(ns), keys.record_meta(ns, list_name)]
    k.append(keys.process_writes(ns, process))
    args: list[Any] = [list_name, *_columns_json(tuple(columns)), repr(time.time()), process]
    args += ["" if process_index is None else str(process_index), writer]
    for seq, record, lineage in entries:
        args += [str(seq), record, lineage]
    return _run(conn, "record_append_many", k, args, Appended.parse, client)


@functools.lru_cache(maxsize=256)
def _columns_json(columns: tuple[str, ...]) -> tuple[str, str]:
    """A list's columns as JSON, in order and sorted (appends repeat the same ones)."""
    return json.dumps(list(columns)), json.dumps(sorted(columns))


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
    client: Batch | None = None,
) -> bool:
    """Set a run's progress fields (``count`` is the run's own, so a retry writes the
    same). KEYS proc; ARGV token, count, last record, list, now. False: not its run."""
    args = [token, str(count), last_record, list_name, _now(now)]
    return _run(conn, "record_progress", [keys.proc(ns, name)], args, flag, client)


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


@_script
def prune_process(
    conn: Connection, ns: str, name: str, *, cutoff: float, started_at: str, dry_run: bool
) -> Pruned:
    """Delete the keys of ended process ``name`` if it ended before ``cutoff`` and is
    not alive, by compare-and-set on its status, heartbeat and ``started_at`` (the run
    read). KEYS proc, alive, request, code, runs, children, request history; ARGV
    cutoff, started_at, "1" for a dry run."""
    k = [keys.proc(ns, name), keys.alive(ns, name), keys.request(ns, name)]
    k += [keys.code(ns, name), keys.runs(ns, name), keys.children(ns, name)]
    k.append(keys.requests(ns, name))
    args = [repr(cutoff), started_at, "1" if dry_run else "0"]
    return _run(conn, "prune_process", k, args, Pruned.parse)


@_script
def prune_index(
    conn: Connection,
    ns: str,
    name: str,
    *,
    started_at: str,
    members: Sequence[tuple[str, str]],
) -> bool:
    """Remove pruned process ``name`` from the processes index, delete its
    descriptions, writes and dependents keys, and remove each (word index key,
    member) of ``members``, while the index still holds the run started at
    ``started_at``. KEYS processes, descriptions, wrote, dependents, word sets...;
    ARGV name, started_at, members. False: a newer run holds the name."""
    k = [keys.processes(ns), keys.descriptions(ns, name), keys.process_writes(ns, name)]
    k.append(keys.dependents(ns, name))
    k += [key for key, _member in members]
    args = [name, started_at, *(member for _key, member in members)]
    return _run(conn, "prune_index", k, args, flag)


@_script
def trim_records(
    conn: Connection,
    ns: str,
    list_name: str,
    *,
    keep_last: int | None,
    cutoff: float | None,
    most: int,
) -> int:
    """Remove up to ``most`` of the oldest records of a list: those before the last
    ``keep_last``, and those whose lineage time is before ``cutoff``. KEYS list meta,
    records, lineage; ARGV keep_last, cutoff, most. The number removed, -1 when the
    list does not exist."""
    k = [keys.record_list_meta(ns, list_name), keys.records(ns, list_name)]
    k.append(keys.record_meta(ns, list_name))
    args = ["" if keep_last is None else str(keep_last), "" if cutoff is None else repr(cutoff)]
    return _run(conn, "trim_records", k, [*args, str(most)], int)


@_script
def request_many(
    conn: Connection,
    ns: str,
    names: Sequence[str],
    *,
    action: str,
    by: str,
    request_ids: Sequence[str],
    client: Batch | None = None,
) -> list[RequestReply]:
    """:func:`scripts.request` for each of ``names`` (one ``request_id`` each) in one
    call; one reply per name, in order. Standalone servers only (the keys span many
    slots). KEYS proc, request, alive, channel, history of each name; ARGV action,
    who asks, now, PUBLISH or SPUBLISH, the request ids."""
    k: list[str] = []
    for name in names:
        k += [keys.proc(ns, name), keys.request(ns, name), keys.alive(ns, name)]
        k += [keys.channel(ns, name), keys.requests(ns, name)]
    args = [action, by, repr(time.time()), conn.publish_command, *request_ids]
    return _run(conn, "request_many", k, args, _request_replies, client)


def _request_replies(reply: list[Any]) -> list[RequestReply]:
    return [RequestReply.parse(entry) for entry in reply]


class StreamedBatch(Batch):
    """A :class:`Batch` whose calls go out as they are queued, on one connection of a
    standalone server (elsewhere, or for a script the server lacks, it is a plain
    Batch): the server works on the first call of :func:`request_many` while the
    client builds the next (building and packing 10,000 names takes the client tens of
    milliseconds, which a pipeline would spend before sending anything)."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self._streams = direct.usable(conn.client) and not conn.cluster
        self._connection: Any = None
        self._sent = 0

    def queue(self, name: str, k: list[str], args: list[Any], parse: Callable[[Any], Any]) -> None:
        super().queue(name, k, args, parse)
        if not self._streams:
            return
        try:
            if self._connection is None:
                self._connection = take_connection(self._conn.client.connection_pool)
            c, sha = self._connection, self._conn.scripts.sha(name)
            c.send_packed_command(c.pack_command("EVALSHA", sha, len(k), *k, *args))
            self._sent += 1
        except BaseException:
            self._done(failed=True)
            raise

    def _replies(self, calls: list[Any]) -> list[Any]:
        if self._connection is None or self._sent != len(calls):
            return super()._replies(calls)
        try:
            replies = read_replies(self._connection, self._sent)
        except BaseException:
            self._done(failed=True)
            raise
        self._done(failed=False)
        if any(isinstance(r, redis.exceptions.NoScriptError) for r in replies):
            return super()._replies(calls)  # the way that loads the script (ids: once)
        return replies

    def _done(self, failed: bool) -> None:
        """Give the connection back (dropped when replies may be left unread on it)."""
        connection, self._connection, self._sent = self._connection, None, 0
        if connection is not None:
            if failed:
                connection.disconnect()
            self._conn.client.connection_pool.release(connection)
