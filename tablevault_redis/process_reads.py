"""Reading many process records at once: ``list_processes`` over 10,000 processes.

Per 500 processes: one ``MGET`` of their heartbeat keys, one ``HMGET`` per record
of the fields :class:`ProcessInfo` shows, and the same ``MGET`` again, packed here
into one buffer and sent on one connection. A few chunks are on the wire while one
chunk's replies are read and built, so the server works while the client builds.
Plain commands, not a script: the server spends less per record (no conversion to
and from Lua), other clients are served between them (a script would hold the
server for a whole chunk), and a read-only ACL user may run them. A cluster
spreads the records over many slots, so there the same three reads per process go
as a pipeline (``EXISTS``, ``HMGET``, ``EXISTS``).

A process counts as alive when either heartbeat read found its key: a run that
finishes between the reads shows its final status (which wins), never a crash, and
a new run of the name started between them is not shown crashed either.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import keys
from ._redis_compat import read_replies
from .direct import on_connection
from .models import FINAL_STATUSES, ProcessInfo

if TYPE_CHECKING:
    from .connection import Connection

_ATTRS = tuple(f.name for f in dataclasses.fields(ProcessInfo))
_TYPES = {f.name: str(f.type) for f in dataclasses.fields(ProcessInfo)}
#: The record fields a ProcessInfo is built from (each attribute is its own field,
#: except ``alive``, which is the heartbeat key's presence).
FIELDS = tuple(name for name in _ATTRS if name != "alive")
_CHUNK = 500  # processes per MGET and per buffer sent
_AHEAD = 3  # chunks sent beyond the one being read: the server never waits for the client

#: Per name: its ProcessInfo, None (no record), or the error the server replied for
#: its record (a key of another type).
Read = list[ProcessInfo | Exception | None]


def read(conn: Connection, ns: str, names: Sequence[str], fields: Sequence[str] = FIELDS) -> Read:
    """The records of ``names``, of which only ``fields`` are read (the others keep
    what :meth:`ProcessInfo.from_record` gives an absent field); see the module doc."""
    if not names:
        return []
    if conn.cluster:
        return _pipelined(conn, ns, names, tuple(fields))
    return on_connection(conn.client, lambda c: _packed(c, ns, names, tuple(fields)))


def _packed(connection: Any, ns: str, names: Sequence[str], fields: tuple[str, ...]) -> Read:
    """The chunks' commands packed by hand: redis-py's own packing of 32 arguments
    per command costs more than the server's work."""
    chunks = [names[i : i + _CHUNK] for i in range(0, len(names), _CHUNK)]
    tail = b"".join(_bulk(f) for f in fields)
    head = b"*%d\r\n$5\r\nHMGET\r\n" % (len(fields) + 2)
    out: Read = []
    sent = 0
    for i, chunk in enumerate(chunks):
        while sent < min(len(chunks), i + 1 + _AHEAD):
            packed = _pack(ns, chunks[sent], head, tail)
            if hasattr(connection, "expect_replies"):  # the one shared link (link_pool.py)
                connection.expect_replies(len(chunks[sent]) + 2)
            connection.send_packed_command([packed], check_health=sent == 0)
            sent += 1
        replies = read_replies(connection, len(chunk) + 2)
        before, rows, after = replies[0], replies[1:-1], replies[-1]
        for reply in (before, after):
            if isinstance(reply, Exception):
                raise reply
        beats = [b is not None or a is not None for b, a in zip(before, after, strict=True)]
        out += build(rows, beats, fields)
    return out


def _pack(ns: str, chunk: Sequence[str], head: bytes, tail: bytes) -> bytes:
    alive = [keys.alive(ns, name) for name in chunk]
    procs = [keys.proc(ns, name) for name in chunk]
    text = "".join(f"${len(k)}\r\n{k}\r\n" for k in alive)
    if not text.isascii():  # a length above counted characters, not bytes
        return _pack_bytes(alive, procs, head, tail)
    mget = b"*%d\r\n$4\r\nMGET\r\n%s" % (len(chunk) + 1, text.encode())
    hmgets = [head + f"${len(k)}\r\n{k}\r\n".encode() + tail for k in procs]
    return b"".join([mget, *hmgets, mget])


def _pack_bytes(alive: list[str], procs: list[str], head: bytes, tail: bytes) -> bytes:
    mget = b"".join([b"*%d\r\n$4\r\nMGET\r\n" % (len(alive) + 1), *map(_bulk, alive)])
    return b"".join([mget, *(head + _bulk(key) + tail for key in procs), mget])


def _bulk(text: str) -> bytes:
    data = text.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _pipelined(conn: Connection, ns: str, names: Sequence[str], fields: tuple[str, ...]) -> Read:
    pipe = conn.client.pipeline(transaction=False)
    for name in names:
        pipe.exists(keys.alive(ns, name))
        pipe.hmget(keys.proc(ns, name), list(fields))
        pipe.exists(keys.alive(ns, name))
    replies = pipe.execute(raise_on_error=False)
    beats = []
    for before, after in zip(replies[::3], replies[2::3], strict=True):
        for reply in (before, after):
            if isinstance(reply, Exception):
                raise reply
        beats.append(bool(before) or bool(after))
    return build(replies[1::3], beats, fields)


# --------------------------------------------------------------------------- building


def build(rows: list[Any], alive: list[bool], fields: Sequence[str] = FIELDS) -> Read:
    """The ProcessInfo of each row of ``fields`` values, exactly as
    :meth:`ProcessInfo.from_record` builds it; None for a row without any value (no
    record); an error reply stays in its place."""
    convert = _converter(tuple(fields))
    width = len(fields)
    new, setattr_ = object.__new__, object.__setattr__
    out: Read = []
    for row, beat in zip(rows, alive, strict=True):
        if isinstance(row, Exception) or row.count(None) == width:
            out.append(row if isinstance(row, Exception) else None)
            continue
        try:
            values = convert(row, beat)
        except ValueError:  # a number that does not parse: from_record drops it
            record = {k: v for k, v in zip(fields, row, strict=True) if v is not None}
            out.append(ProcessInfo.from_record(record, beat))
            continue
        if values["status"] in FINAL_STATUSES:
            values["alive"] = False
        elif not beat:  # from_record's rule: seen dead, ended when last seen alive
            values["status"] = "crashed"
            values["ended_at"] = values["heartbeat_at"] or values["started_at"]
        info = new(ProcessInfo)
        # What the frozen dataclass's __init__ stores, without its 39 calls of
        # object.__setattr__ (most of the cost of building one).
        setattr_(info, "__dict__", values)
        out.append(info)
    return out


# How from_record turns an absent or empty field into each type, and a present one.
_EMPTY = {"str": "''", "str | None": "None", "int": "0", "float | None": "None"}
_PRESENT = {"str": "{v} or ''", "str | None": "{v} or None", "int": "int({v}) if {v} else 0"}
_PRESENT["float | None"] = "float({v}) if {v} else None"


@functools.lru_cache(maxsize=8)
def _converter(fields: tuple[str, ...]) -> Callable[[list[Any], bool], dict[str, Any]]:
    """A function of a row of ``fields`` values and the heartbeat, returning the
    attributes of its ProcessInfo before the crash rule, as from_record converts
    them, in one dict display (a call per field would cost more than the read);
    ValueError for a number that does not parse. Generated, like a dataclass's own
    ``__init__``, from the field types."""
    at = {name: i for i, name in enumerate(fields)}
    parts = []
    for name in _ATTRS:
        kind = _TYPES[name]
        if name == "alive":
            expr = "alive"
        elif name in at:
            expr = _PRESENT[kind].format(v=f"r[{at[name]}]")
        else:
            expr = _EMPTY[kind]
        parts.append(f"{name!r}: {expr}")
    scope: dict[str, Any] = {}
    exec(f"def convert(r, alive):\n    return {{{', '.join(parts)}}}\n", scope)
    convert: Callable[[list[Any], bool], dict[str, Any]] = scope["convert"]
    return convert
