"""Reading many process records at once: ``list_processes`` over 10,000 processes.

Per 1,000 processes, one ``MGET`` of their heartbeat keys and one ``HMGET`` of the
fields :class:`ProcessInfo` shows per record, packed here into one buffer and sent
on one connection; the next chunk is on the wire while this one's replies are read,
so the server works while the client builds. Plain commands, not a script: the
server spends less per record (no conversion to and from Lua), other clients are
served between them (a script would hold the server for every 1,000 records), and a
read-only ACL user may run them. A cluster spreads the records over many slots, so
there they go as a pipeline of ``EXISTS`` and ``HMGET`` per process.

The heartbeat is read before the record: a run that finishes in between shows its
final status (which wins), never a crash. A record that looks crashed (active status,
no heartbeat) has its heartbeat read once more afterwards, so a new run of the name
started in between is not shown crashed either.

The rows are turned into ProcessInfo column by column (:func:`build`), with the
conversions of :meth:`ProcessInfo.from_record`, which per row would cost more than
the read itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis.exceptions

from . import keys
from .models import FINAL_STATUSES, ProcessInfo, _int, parse_float

if TYPE_CHECKING:
    from .connection import Connection

_ATTRS = tuple(f.name for f in dataclasses.fields(ProcessInfo))
_TYPES = {f.name: str(f.type) for f in dataclasses.fields(ProcessInfo)}
#: The record fields a ProcessInfo is built from (each attribute is its own field,
#: except ``alive``, which is the heartbeat key's presence).
FIELDS = tuple(name for name in _ATTRS if name != "alive")
_CHUNK = 1000  # processes per MGET and per buffer sent

# One read: per name, the values of the fields (None: absent) or the error the
# server replied for that record; and per name, whether its heartbeat is there.
Rows = tuple[list[Any], list[bool]]


def read(conn: Connection, ns: str, names: Sequence[str], fields: Sequence[str] = FIELDS) -> Rows:
    """The ``fields`` of each record of ``names`` and its heartbeat (see module doc)."""
    if not names:
        return [], []
    if conn.cluster:
        records, alive = _pipelined(conn, ns, names, fields)
    else:
        records, alive = _packed(conn.client, ns, names, fields)
    if "status" in fields:
        _read_alive_again(conn, ns, names, records, alive, fields.index("status"))
    return records, alive


def _packed(client: Any, ns: str, names: Sequence[str], fields: Sequence[str]) -> Rows:
    """One connection, the chunks' commands packed by hand (redis-py's own packing
    of 32 arguments per command costs more than the server's work)."""
    pool = client.connection_pool
    conn = _take(pool)
    try:
        rows: Rows = conn.retry.call_with_retry(
            lambda: _send_and_read(conn, ns, names, fields), lambda _e: conn.disconnect()
        )
        return rows
    except BaseException:
        conn.disconnect()  # replies may be left unread: never reuse the connection
        raise
    finally:
        pool.release(conn)


def _send_and_read(conn: Any, ns: str, names: Sequence[str], fields: Sequence[str]) -> Rows:
    chunks = [names[i : i + _CHUNK] for i in range(0, len(names), _CHUNK)]
    tail = b"".join(_bulk(f) for f in fields)
    head = b"*%d\r\n$5\r\nHMGET\r\n" % (len(fields) + 2)
    records: list[Any] = []
    alive: list[bool] = []
    conn.send_packed_command([_pack(ns, chunks[0], head, tail)])
    for i, chunk in enumerate(chunks):
        if i + 1 < len(chunks):
            conn.send_packed_command([_pack(ns, chunks[i + 1], head, tail)], check_health=False)
        alive += [value is not None for value in conn.read_response()]
        records += [_reply(conn) for _ in chunk]
    return records, alive


def _pack(ns: str, chunk: Sequence[str], head: bytes, tail: bytes) -> bytes:
    alive = [keys.alive(ns, name) for name in chunk]
    procs = [keys.proc(ns, name) for name in chunk]
    text = "".join(f"${len(k)}\r\n{k}\r\n" for k in alive)
    if not text.isascii():  # a length above counted characters, not bytes
        return _pack_bytes(alive, procs, head, tail)
    out = [b"*%d\r\n$4\r\nMGET\r\n" % (len(chunk) + 1), text.encode()]
    out += [head + f"${len(k)}\r\n{k}\r\n".encode() + tail for k in procs]
    return b"".join(out)


def _pack_bytes(alive: list[str], procs: list[str], head: bytes, tail: bytes) -> bytes:
    out = [b"*%d\r\n$4\r\nMGET\r\n" % (len(alive) + 1), *map(_bulk, alive)]
    for key in procs:
        out += (head, _bulk(key), tail)
    return b"".join(out)


def _bulk(text: str) -> bytes:
    data = text.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _reply(conn: Any) -> Any:
    """The next reply; an error reply is returned, not raised (one bad record)."""
    try:
        return conn.read_response()
    except redis.exceptions.ResponseError as e:
        return e


def _take(pool: Any) -> Any:
    try:
        return pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        return pool.get_connection("HMGET")


def _pipelined(conn: Connection, ns: str, names: Sequence[str], fields: Sequence[str]) -> Rows:
    pipe = conn.client.pipeline(transaction=False)
    for name in names:
        pipe.exists(keys.alive(ns, name))
        pipe.hmget(keys.proc(ns, name), list(fields))
    replies = pipe.execute(raise_on_error=False)
    for reply in replies[::2]:
        if isinstance(reply, Exception):
            raise reply
    return list(replies[1::2]), [bool(n) for n in replies[::2]]


def _read_alive_again(
    conn: Connection, ns: str, names: Sequence[str], records: list[Any], alive: list[bool], at: int
) -> None:
    again = [
        i
        for i, (row, beat) in enumerate(zip(records, alive, strict=True))
        if not beat
        and isinstance(row, list)
        and row[at] is not None
        and row[at] not in FINAL_STATUSES
    ]
    if not again:
        return
    names_again = [keys.alive(ns, names[i]) for i in again]
    if conn.cluster:
        pipe = conn.client.pipeline(transaction=False)
        for key in names_again:
            pipe.exists(key)
        beats = [bool(n) for n in pipe.execute()]
    else:
        beats = [v is not None for v in conn.client.mget(names_again)]
    for i, beat in zip(again, beats, strict=True):
        alive[i] = beat


# --------------------------------------------------------------------------- building


def _floats(col: list[Any]) -> list[Any]:
    if not any(col):
        return [None] * len(col)
    try:
        return [float(v) if v else None for v in col]
    except ValueError:
        return [parse_float(v) for v in col]


def _ints(col: list[Any]) -> list[Any]:
    if not any(col):
        return [0] * len(col)
    try:
        return [int(v) if v else 0 for v in col]
    except ValueError:
        return [_int(v) for v in col]


def _optional(col: list[Any]) -> list[Any]:
    return [v or None for v in col]


def _text(col: list[Any]) -> list[Any]:
    return [v or "" for v in col] if None in col else col


# Each field's conversion, by its type in ProcessInfo: as from_record converts it.
_CONVERT = {"float | None": _floats, "int": _ints, "str | None": _optional, "str": _text}
_EMPTY = {"float | None": None, "int": 0, "str | None": None, "str": ""}


def build(rows: list[list[Any]], alive: list[bool], fields: Sequence[str] = FIELDS) -> list[Any]:
    """The ProcessInfo of each row of ``fields`` values, exactly as
    :meth:`ProcessInfo.from_record` builds it (None for a row without any value: no
    record), converted a column at a time."""
    width = len(fields)
    kept = [i for i, row in enumerate(rows) if row.count(None) != width]
    n = len(kept)
    present = rows if n == len(rows) else [rows[i] for i in kept]
    given = dict(zip(fields, zip(*present, strict=True), strict=False))
    cols: dict[str, list[Any]] = {}
    for name in FIELDS:
        kind = _TYPES[name]
        col = given.get(name)
        cols[name] = [_EMPTY[kind]] * n if col is None else _CONVERT[kind](list(col))
    live = [alive[i] for i in kept]
    _crashed(cols, live)
    cols["alive"] = live
    out: list[Any] = [None] * len(rows)
    new = object.__new__
    for i, values in zip(kept, zip(*[cols[a] for a in _ATTRS], strict=True), strict=True):
        # What the frozen dataclass's __init__ stores, without its 39 object.__setattr__
        # calls (most of the cost of building one).
        info = new(ProcessInfo)
        info.__dict__.update(zip(_ATTRS, values, strict=True))
        out[i] = info
    return out


def _crashed(cols: dict[str, list[Any]], live: list[bool]) -> None:
    """from_record's rule: an active status without a heartbeat is ``crashed``,
    ended at the last heartbeat (or the start); only an active process is alive."""
    status, ended = cols["status"], cols["ended_at"]
    beat, started = cols["heartbeat_at"], cols["started_at"]
    for i, s in enumerate(status):
        if s in FINAL_STATUSES:
            live[i] = False
        elif not live[i]:
            status[i] = "crashed"
            ended[i] = beat[i] or started[i]
