"""One script call sent straight on a pooled connection (direct.py): what redis-py's
command layers did for it still holds, on a plain connection and over the link."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tablevault_redis import direct, keys, link_pool, scripts
from tablevault_redis.connection import Connection, connect


@pytest.fixture(params=["pooled", "link"])
def any_conn(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Connection]:
    """A library connection to the session server, plain or moved onto a link."""
    c = connect(redis_url)
    if request.param == "link":
        c = link_pool.over_link(c)
    yield c
    c.close()


def _server(conn: Connection) -> redis.Redis:
    kwargs = conn.client.connection_pool.connection_kwargs
    return redis.Redis(host=kwargs["host"], port=kwargs["port"])


def _state(conn: Connection, ns: str) -> object:
    return scripts.request_state(conn, ns, "w")


def test_scripts_alone_take_the_direct_path_and_a_pipeline_does_not(any_conn):
    assert any_conn.scripts.direct
    assert not direct.usable(any_conn.client.pipeline())
    assert not direct.usable(object())


def test_a_script_the_server_lost_is_sent_with_its_text(any_conn, namespace):
    """A restarted or failed-over server lacks the script: the call still runs once,
    and the server has it cached afterwards."""
    admin = _server(any_conn)
    try:
        admin.script_flush()
        before = _state(any_conn, namespace)
        assert admin.script_exists(any_conn.scripts.sha("request_state")) == [True]
        assert _state(any_conn, namespace) == before
    finally:
        admin.close()


def test_an_error_reply_is_raised_by_run_and_returned_by_call(any_conn, namespace):
    k = [keys.proc(namespace, "w"), *(f"{namespace}:unused:{i}" for i in range(4))]
    args = ["bogus", "test", "0", "PUBLISH", "id"]  # request.lua: "unknown action bogus"
    bad = any_conn.scripts.call("request", k, args)
    assert isinstance(bad, redis.exceptions.ResponseError) and "bogus" in str(bad)
    with pytest.raises(redis.exceptions.ResponseError, match="unknown action bogus"):
        any_conn.scripts.run("request", k, args)
    assert any_conn.client.ping()  # the connection is still in step


def test_a_dropped_connection_is_reconnected_by_its_retry(redis_url, namespace):
    conn = connect(redis_url)
    admin = _server(conn)
    try:
        before = _state(conn, namespace)
        admin.client_kill_filter(_id=conn.client.client_id())
        assert _state(conn, namespace) == before
    finally:
        admin.close()
        conn.close()
