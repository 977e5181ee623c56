"""The redis-py internals the package relies on still exist and still behave.

If one of these fails after a redis-py upgrade, fix ``tablevault_redis/_redis_compat.py``
(the only place that touches them): the listener would otherwise lose either its fast
notification reads or its prompt shutdown.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis
from redis._parsers import _HiredisParser
from redis._parsers.base import _RESPBase
from redis.utils import HIREDIS_AVAILABLE

from tablevault_redis import _redis_compat


def _parser_of(client: redis.Redis) -> object:
    conn = client.connection_pool.get_connection()
    try:
        return conn._parser
    finally:
        client.connection_pool.release(conn)


@pytest.mark.parametrize("protocol", [None, 2, 3])
def test_pure_python_parser_is_usable_as_parser_class(redis_url, protocol):
    kwargs = {} if protocol is None else {"protocol": protocol}
    client = redis.Redis.from_url(
        redis_url, parser_class=_redis_compat.PURE_PYTHON_PARSER, **kwargs
    )
    default = redis.Redis.from_url(redis_url, **kwargs)
    try:
        assert client.ping() is True and client.set("tv-compat-k", "v")
        assert client.get("tv-compat-k") == b"v"
        parser = _parser_of(client)
        # A pure-Python parser (the RESP2 one or its RESP3 twin), never hiredis.
        assert isinstance(parser, _RESPBase), type(parser)
        assert not isinstance(parser, _HiredisParser)
        if HIREDIS_AVAILABLE:  # the choice matters: the default would be hiredis
            assert isinstance(_parser_of(default), _HiredisParser)
    finally:
        client.delete("tv-compat-k")
        client.close()
        default.close()


def test_shutting_down_a_pubsub_socket_wakes_a_blocked_read(redis_url):
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()
    assert _redis_compat.shutdown_pubsub_socket(pubsub) is False  # not connected yet
    pubsub.subscribe("tv-compat-test")
    assert pubsub.get_message(timeout=5)["type"] == "subscribe"
    sock = pubsub.connection._sock
    assert sock is not None and callable(sock.shutdown)

    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(pubsub.get_message(timeout=30))
        except Exception as e:  # a closed socket may also surface as an error
            outcome.append(e)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.2)  # let the reader block in its read: what is measured is the wake-up
    started = time.monotonic()
    assert _redis_compat.shutdown_pubsub_socket(pubsub) is True
    reader.join(10)
    assert not reader.is_alive() and time.monotonic() - started < 5, outcome
    pubsub.close()
    client.close()


@pytest.mark.parametrize("parser", ["hiredis", "python"])
@pytest.mark.parametrize("protocol", [2, 3])
def test_read_replies_reads_in_order_with_errors_in_place(redis_url, parser, protocol):
    """Many replies, some larger than one socket read, an error among them: all in
    order, the error returned; the connection is in step afterwards."""
    options = {"decode_responses": True, "protocol": protocol}
    if parser == "python":
        options["parser_class"] = _redis_compat.PURE_PYTHON_PARSER
    elif not HIREDIS_AVAILABLE:
        pytest.skip("hiredis is not installed")
    client = redis.Redis.from_url(redis_url, **options)
    big = "x" * 100_000
    client.set("tv-compat-big", big)
    client.set("tv-compat-str", "s")
    conn = _redis_compat.take_connection(client.connection_pool)
    try:
        commands = [("GET", "tv-compat-big"), ("HGET", "tv-compat-str", "f")] * 50
        commands.append(("MGET", "tv-compat-str", "tv-compat-none"))
        conn.send_packed_command(conn.pack_commands(commands))
        replies = _redis_compat.read_replies(conn, len(commands))
        assert replies[0:-1:2] == [big] * 50 and replies[-1] == ["s", None]
        errors = replies[1:-1:2]
        assert all(isinstance(e, redis.exceptions.ResponseError) for e in errors)
        assert str(errors[0]).startswith("WRONGTYPE")
        assert (parser == "hiredis") == isinstance(conn._parser, _HiredisParser)
        conn.send_command("PING")
        assert conn.read_response() in ("PONG", True)
    finally:
        client.connection_pool.release(conn)
        client.delete("tv-compat-big", "tv-compat-str")
        client.close()
