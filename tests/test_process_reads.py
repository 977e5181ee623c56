"""Reading many process records (process_reads): the packed HMGET/MGET chunks read
the same as a record read whole, on RESP2 and RESP3, with hiredis and the pure-Python
parser, over several chunks, with missing and unreadable records among them; the
connection stays usable; a heartbeat that appears between the reads counts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import redis

from tablevault_redis import keys, process_reads, scripts
from tablevault_redis._redis_compat import PURE_PYTHON_PARSER
from tablevault_redis.connection import Connection
from tablevault_redis.models import ProcessInfo


def _register(conn: Connection, ns: str, name: str, **fields: str) -> None:
    record = {"name": name, "heartbeat_token": "T", "epoch": "E1", "status": "running"}
    record.update(pid="42", started_at="1700000000.5", **fields)
    scripts.register(conn, ns, name, token="T", ttl=60, dead_holder="", now=1.0, fields=record)


def _whole(conn: Connection, ns: str, name: str) -> ProcessInfo | None:
    """The record read whole, as list_processes read it before process_reads."""
    fields = conn.client.hgetall(keys.proc(ns, name))
    alive = bool(conn.client.exists(keys.alive(ns, name)))
    return ProcessInfo.from_record(fields, alive) if fields else None


NAMES = ["live", "dead", "ended", "missing", "bad", "héllo wörld", "odd\r\nname", "last"]


@pytest.fixture
def records(conn: Connection, namespace: str) -> list[str]:
    for name in NAMES:
        if name != "missing":
            _register(conn, namespace, name, error="line 1\r\nline 2")
    conn.client.delete(keys.alive(namespace, "dead"))  # its heartbeat expired
    scripts.finish(conn, namespace, "ended", status="completed", token="T")
    conn.client.delete(keys.proc(namespace, "bad"))
    conn.client.set(keys.proc(namespace, "bad"), "not a hash")
    conn.client.hset(keys.proc(namespace, "last"), mapping={"run": "x", "gap_from": "soon"})
    return NAMES


@pytest.fixture(params=["resp2-hiredis", "resp3-hiredis", "resp2-python", "resp3-python"])
def reader(
    request: pytest.FixtureRequest, conn: Connection, redis_url: str
) -> Iterator[Connection]:
    """The library connection with a client of the given protocol and parser."""
    protocol, parser = request.param.split("-")
    options: dict[str, object] = {"decode_responses": True, "protocol": int(protocol[-1])}
    if parser == "python":
        options["parser_class"] = PURE_PYTHON_PARSER
    client = redis.Redis.from_url(redis_url, **options)
    yield dataclasses.replace(conn, client=client)
    client.close()


@pytest.mark.parametrize("chunk", [1, 3, 1000])
def test_rows_read_as_the_whole_record(
    reader: Connection,
    records: list[str],
    namespace: str,
    chunk: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(process_reads, "_CHUNK", chunk)
    before = reader.client.client_id()
    rows, alive = process_reads.read(reader, namespace, records)
    bad = records.index("bad")
    assert isinstance(rows[bad], redis.exceptions.ResponseError)
    assert str(rows[bad]).startswith("WRONGTYPE")
    rows[bad] = [None] * len(process_reads.FIELDS)
    got = process_reads.build(rows, alive)
    want = [None if n == "bad" else _whole(reader, namespace, n) for n in records]
    assert got == want
    assert [p.status if p else None for p in got] == [
        "running", "crashed", "completed", None, None, "running", "running", "running",
    ]  # fmt: skip
    assert reader.client.ping() is True  # no reply left behind on the pooled connection
    assert reader.client.client_id() == before


def test_nothing_to_read(conn: Connection, namespace: str) -> None:
    assert process_reads.read(conn, namespace, []) == ([], [])
    assert process_reads.build([], []) == []


def test_a_heartbeat_found_on_the_second_look_counts(conn: Connection, namespace: str) -> None:
    """A new run of the name registered between the heartbeat read and the record
    read: its record says running, the first look found no heartbeat."""
    _register(conn, namespace, "again")
    names = ["again", "gone"]
    rows: list[object] = [["again", "running"], ["gone", "running"]]
    alive = [False, False]
    process_reads._read_alive_again(conn, namespace, names, rows, alive, 1)
    assert alive == [True, False]


def test_a_refused_read_drops_the_connection(
    conn: Connection, redis_url: str, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error for the whole read (an unknown command stands in for any) raises and
    drops the connection, whose other replies were never read."""
    _register(conn, namespace, "w")
    original = process_reads._pack

    def bad_pack(ns: str, chunk: list[str], head: bytes, tail: bytes) -> bytes:
        return original(ns, chunk, head, tail).replace(b"MGET", b"MGOT", 1)

    monkeypatch.setattr(process_reads, "_pack", bad_pack)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        before = client.client_id()
        with pytest.raises(redis.exceptions.ResponseError, match="MGOT"):
            process_reads.read(dataclasses.replace(conn, client=client), namespace, ["w"])
        assert client.get(keys.alive(namespace, "w")) == "T"  # in sync again
        assert client.client_id() != before
    finally:
        client.close()
