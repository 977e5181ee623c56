"""The test servers themselves: start, kill, restart, cluster, credentials."""

from __future__ import annotations

import os

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from servers import RedisClusterServers, RedisServer


def test_session_server_answers(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/0"
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping()
    finally:
        client.close()


def test_namespace_is_unique(namespace: str) -> None:
    assert namespace.startswith("t") and len(namespace) == 11


def test_clean_env_removes_variables(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.setenv("TABLEVAULT_REDIS_URL", "redis://nowhere:1/0")
    request.getfixturevalue("clean_env")
    assert not [k for k in os.environ if k.startswith("TABLEVAULT_")]


def test_kill_and_restart_keep_port_and_data(fresh_redis: RedisServer) -> None:
    port = fresh_redis.port
    client = fresh_redis.client()
    client.set("k", "v")
    client.close()
    fresh_redis.kill()
    assert not fresh_redis.running
    with pytest.raises(redis.ConnectionError):
        fresh_redis.client(socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)).ping()
    fresh_redis.restart()
    assert fresh_redis.running and fresh_redis.port == port
    client = fresh_redis.client()
    try:
        assert client.ping()
        assert client.get("k") is None  # no persistence by default
    finally:
        client.close()


def test_appendonly_survives_stop() -> None:
    with RedisServer({"appendonly": "yes", "appendfsync": "always"}) as server:
        client = server.client()
        client.set("kept", "1")
        client.close()
        server.stop()
        assert not server.running
        server.restart()
        client = server.client()
        try:
            assert client.get("kept") == "1"
        finally:
            client.close()


def test_password_and_acl_user() -> None:
    options = {
        "requirepass": "s3cret",
        "user": ["alice on >pw ~* &* +@all"],
    }
    with RedisServer(options) as server:
        assert server.url == f"redis://:s3cret@127.0.0.1:{server.port}/0"
        assert redis.Redis.from_url(server.url).ping()
        alice = f"redis://alice:pw@127.0.0.1:{server.port}/0"
        assert redis.Redis.from_url(alice).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=server.port, retry=Retry(NoBackoff(), 0)).ping()


def test_unix_socket(tmp_path_factory: pytest.TempPathFactory) -> None:
    sock = str(tmp_path_factory.mktemp("sock") / "r.sock")
    with RedisServer({"unixsocket": sock, "unixsocketperm": "700"}) as server:
        assert server.unix_socket == sock
        client = redis.Redis.from_url(f"unix://{sock}")
        try:
            assert client.ping()
        finally:
            client.close()


def test_process_ends_on_close() -> None:
    server = RedisServer()
    proc = server.proc
    assert proc is not None and proc.poll() is None
    server.close()
    assert proc.poll() is not None
    assert not server.dir.exists()


def test_cluster_state_ok_and_roundtrip(redis_cluster: RedisClusterServers) -> None:
    assert len(redis_cluster.urls) == 3
    for node in redis_cluster.nodes:
        client = node.client()
        try:
            info = client.cluster("INFO")
        finally:
            client.close()
        state = info.get("cluster_state") if isinstance(info, dict) else info
        assert "ok" in str(state)
    cluster = redis_cluster.client()
    try:
        for i in range(20):  # keys spread over several slots, hence nodes
            cluster.set(f"key:{i}", str(i))
        assert [cluster.get(f"key:{i}") for i in range(20)] == [str(i) for i in range(20)]
    finally:
        cluster.close()
    entry = redis.RedisCluster.from_url(redis_cluster.urls[-1], decode_responses=True)
    try:
        assert entry.get("key:7") == "7"
    finally:
        entry.close()
