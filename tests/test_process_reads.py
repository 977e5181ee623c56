"""Reading many process records (process_reads): the packed HMGET/MGET chunks read
the same as a record read whole, on RESP2 and RESP3, with hiredis and the pure-Python
parser, over several chunks, with missing and unreadable records among them; the
connection stays usable; a heartbeat that appears between the reads counts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import redis

from tablevault_redis import keys, link_pool, process_reads, scripts
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


@pytest.fixture(params=["resp2-hiredis", "resp3-hiredis", "resp2-python", "resp3-python", "link"])
def reader(
    request: pytest.FixtureRequest, conn: Connection, redis_url: str
) -> Iterator[Connection]:
    """The library connection with a client of the given protocol and parser, or a
    worker's one shared connection (link_pool.py), whose packed sends say how many
    replies they hold."""
    if request.param == "link":
        linked = link_pool.over_link(
            dataclasses.replace(conn, client=redis.Redis.from_url(redis_url, decode_responses=True))
        )
        yield linked
        linked.client.connection_pool.link.close()
        return
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
    got = process_reads.read(reader, namespace, records)
    bad = records.index("bad")
    assert isinstance(got[bad], redis.exceptions.ResponseError)
    assert str(got[bad]).startswith("WRONGTYPE")
    got[bad] = None
    want = [None if n == "bad" else _whole(reader, namespace, n) for n in records]
    assert got == want
    assert [p.status if isinstance(p, ProcessInfo) else None for p in got] == [
        "running", "crashed", "completed", None, None, "running", "running", "running",
    ]  # fmt: skip
    assert reader.client.ping() is True  # no reply left behind on the pooled connection
    assert reader.client.client_id() == before


def test_nothing_to_read(conn: Connection, namespace: str) -> None:
    assert process_reads.read(conn, namespace, []) == []
    assert process_reads.build([], []) == []


def _between_the_reads(monkeypatch: pytest.MonkeyPatch, *command: str) -> None:
    """Run ``command`` after the records are read and before the heartbeats are read
    again, its reply suppressed (``CLIENT REPLY SKIP``), as another client might."""
    original = process_reads._pack
    skip = b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n"
    injected = skip + b"*%d\r\n" % len(command) + b"".join(map(process_reads._bulk, command))

    def pack(ns: str, chunk: list[str], head: bytes, tail: bytes) -> bytes:
        packed = original(ns, chunk, head, tail)
        at = packed.rindex(b"$4\r\nMGET\r\n")
        at = packed.rindex(b"*", 0, at)
        return packed[:at] + injected + packed[at:]

    monkeypatch.setattr(process_reads, "_pack", pack)


def test_a_new_run_started_between_the_reads_is_not_crashed(
    conn: Connection, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first heartbeat read finds none (the old run died), the record read says
    running (the new run's): the second heartbeat read finds the new run's."""
    _register(conn, namespace, "again")
    conn.client.delete(keys.alive(namespace, "again"))
    _between_the_reads(monkeypatch, "SET", keys.alive(namespace, "again"), "T2")
    [info] = process_reads.read(conn, namespace, ["again"])
    assert isinstance(info, ProcessInfo) and (info.status, info.alive) == ("running", True)


def test_a_heartbeat_expiring_between_the_reads_still_counts(
    conn: Connection, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(conn, namespace, "w")
    _between_the_reads(monkeypatch, "DEL", keys.alive(namespace, "w"))
    [info] = process_reads.read(conn, namespace, ["w"])
    assert isinstance(info, ProcessInfo) and (info.status, info.alive) == ("running", True)


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
