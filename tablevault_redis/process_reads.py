"""Reading many process records at once: ``list_processes`` over 10,000 processes.

Only the fields :class:`ProcessInfo` shows are read, with the heartbeat check, by the
``read_processes`` script, 1,000 processes per call, the calls pipelined: a few
replies that the client parses in C, instead of two replies per process. A cluster
spreads the records over many slots, which one script call cannot cross, so there the
same reads go as a pipeline of ``HMGET`` and ``EXISTS`` per process; so they do for a
named ACL user, who may not be allowed to run scripts (a read-only observer): trying
would leave a denial in the server's ACL log on every listing.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import redis.exceptions

from . import keys, scripts
from .models import ProcessInfo

if TYPE_CHECKING:
    from .connection import Connection

#: The record fields a ProcessInfo is built from (each attribute is its own field,
#: except ``alive``, which is the heartbeat key's presence).
FIELDS = tuple(f.name for f in dataclasses.fields(ProcessInfo) if f.name != "alive")
_CHUNK = 1000  # processes per script call: a few milliseconds of server time

_WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def read_rows(conn: Connection, ns: str, names: list[str]) -> list[Any]:
    """One row per name: ``[value or None per FIELDS, alive]`` (every value None: no
    record), or a WRONGTYPE ``ResponseError`` when the record is not a hash."""
    if not names:
        return []
    if conn.cluster or conn.acl_user != "default":
        return _pipelined(conn, ns, names)
    batch = scripts.Batch(conn)
    for i in range(0, len(names), _CHUNK):
        scripts.read_processes(conn, ns, names[i : i + _CHUNK], FIELDS, client=batch)
    try:
        rows = [row for chunk in batch.execute() for row in chunk]
    except redis.exceptions.NoPermissionError:
        return _pipelined(conn, ns, names)
    return [redis.exceptions.ResponseError(_WRONGTYPE) if row == [-1] else row for row in rows]


def _pipelined(conn: Connection, ns: str, names: list[str]) -> list[Any]:
    pipe = conn.client.pipeline(transaction=False)
    for name in names:
        pipe.hmget(keys.proc(ns, name), FIELDS)
        pipe.exists(keys.alive(ns, name))
    replies = pipe.execute(raise_on_error=False)
    rows: list[Any] = []
    for values, alive in zip(replies[::2], replies[1::2], strict=True):
        if isinstance(values, Exception) or isinstance(alive, Exception):
            rows.append(values if isinstance(values, Exception) else alive)
        else:
            rows.append([*values, alive])
    return rows


def to_info(row: list[Any]) -> ProcessInfo | None:
    """The ProcessInfo of a row of :func:`read_rows` (None: no record)."""
    fields = {k: v for k, v in zip(FIELDS, row, strict=False) if v is not None}
    return ProcessInfo.from_record(fields, bool(row[-1])) if fields else None
