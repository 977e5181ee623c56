"""Redis Sentinel: a worker and its controllers follow the primary through a failover.

Real processes: a primary, a replica and three ``redis-server --sentinel`` with a
one-second ``down-after-milliseconds``; the worker is a subprocess.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from clitools import Cli
from ha_helpers import assert_records_arrived, control_after_failover, replicated
from helpers import wait_until
from servers import RedisSentinelServers, RedisServer

from tablevault_redis import ValidationError, VaultClient, keys
from tablevault_redis.urls import parse_sentinel_url

pytestmark = pytest.mark.slow

HEARTBEAT = {"TABLEVAULT_HEARTBEAT_INTERVAL": "0.5", "TABLEVAULT_HEARTBEAT_TTL": "5"}


@pytest.fixture
def sentinels() -> Iterator[RedisSentinelServers]:
    with RedisSentinelServers() as group:
        yield group


def _subscribers(group: RedisSentinelServers, channel: str) -> int:
    address = group.master_address()
    assert address is not None
    node = next(n for n in [group.master, *group.replicas] if n and n.port == address[1])
    client = node.client()
    try:
        return int(dict(client.pubsub_numsub(channel))[channel])
    finally:
        client.close()


def test_worker_and_client_follow_a_failover(sentinels, spawner, namespace):
    url = sentinels.url()
    worker = spawner.worker(url, namespace, "w", script="ha_worker.py", env=HEARTBEAT)
    worker.wait_ready().advancing()
    with VaultClient(url, namespace) as client:
        assert client._conn.sentinel is not None and not client._conn.cluster
        channel = keys.channel(namespace, "w")
        wait_until(lambda: _subscribers(sentinels, channel) == 1, what="listener subscribed")
        old = sentinels.master_address()
        assert sentinels.master is not None
        replicated(sentinels.master, keys.proc(namespace, "w"))
        sentinels.master.kill()
        killed = time.monotonic()
        wait_until(lambda: sentinels.master_address() != old, 20, 0.05, "promotion")
        promoted = time.monotonic()
        # The listener's pub/sub moved to the new primary too.
        wait_until(lambda: _subscribers(sentinels, channel) == 1, 15, what="resubscribed")
        accepted = control_after_failover(client, worker)
        assert_records_arrived(client, worker)
        assert accepted - killed < (promoted - killed) + 10
    # The command line takes the same URL and reaches the new primary.
    listing = json.loads(Cli(url, namespace).ok("ps", "--all", "--json"))
    assert [(p["name"], p["status"]) for p in listing] == [("w", "stopped")]


def test_forced_failover_demotes_the_old_primary(sentinels, spawner, namespace):
    """SENTINEL FAILOVER: the old primary lives on as a replica (it answers READONLY
    to writes); the worker and the client find the new one.

    Records are not compared here: until the Sentinels demote it, the old primary
    still takes writes that the new one never sees (Redis replication is
    asynchronous; see docs/deployment.md). The heartbeat TTL outlasts that window."""
    url = sentinels.url()
    env = {**HEARTBEAT, "TABLEVAULT_HEARTBEAT_TTL": "10"}
    worker = spawner.worker(url, namespace, "w", script="ha_worker.py", env=env)
    worker.wait_ready().advancing()
    with VaultClient(url, namespace) as client:
        old = sentinels.master_address()
        admin = sentinels.sentinels[0].client()
        try:
            admin.execute_command("SENTINEL", "FAILOVER", sentinels.service)
        finally:
            admin.close()
        wait_until(lambda: sentinels.master_address() != old, 20, 0.05, "promotion")
        assert sentinels.master is not None and sentinels.master.running
        control_after_failover(client, worker)


def test_sentinel_url_forms():
    target = parse_sentinel_url(
        "rediss+sentinel://bob:p%40ss@s1:1,[::1]:2,s3/svc/4?sentinel_password=sp&socket_timeout=3"
    )
    assert target.sentinels == [("s1", 1), ("::1", 2), ("s3", 26379)]
    assert (target.service, target.db, target.tls) == ("svc", 4, True)
    assert (target.username, target.password, target.sentinel_password) == ("bob", "p@ss", "sp")
    assert target.options == {"socket_timeout": 3.0}
    for bad, why in (
        ("redis+sentinel://s1:1", "path must be"),
        ("redis+sentinel://s1:1/svc/x", "database must be a number"),
        ("redis+sentinel://s1:port/svc", "not a number"),
        ("redis+sentinel:///svc", "no Sentinel host"),
        ("redis+sentinel://:pw@s1:1/svc?socket_timeout=soon", "socket_timeout"),
    ):
        with pytest.raises(ValidationError, match=why) as info:
            VaultClient(bad)
        assert "pw" not in str(info.value)


def test_sentinel_url_with_cluster_is_refused():
    with pytest.raises(ValidationError, match="Sentinel URL"):
        VaultClient("redis+sentinel://127.0.0.1:1/svc", cluster=True)


def test_readonly_reply_finds_the_moved_primary(spawner, namespace):
    """No Sentinel: a host name (here a proxy) moves to the promoted replica while
    the old primary turns replica. The READONLY replies that the old connections get
    make the worker and the client reconnect, and so reach the new primary."""
    from proxy import ReplyDroppingProxy

    with RedisServer() as old, RedisServer({"repl-diskless-sync-delay": "0"}) as new:
        admin_old, admin_new = old.client(), new.client()
        proxy = ReplyDroppingProxy(old.port, b"\x00never\x00")
        try:
            admin_new.replicaof(old.host, old.port)
            wait_until(lambda: admin_new.info("replication")["master_link_status"] == "up")
            worker = spawner.worker(proxy.url, namespace, "w", script="ha_worker.py", env=HEARTBEAT)
            worker.wait_ready().advancing()
            with VaultClient(proxy.url, namespace) as client:
                client.get_process("w")  # the client holds a connection to the old primary
                proxy.port = new.port
                # A coordinated failover (Redis >= 6.2): the old primary pauses writes
                # until the replica has them all, then the two swap roles, so no
                # acknowledged write is lost to the switch itself.
                admin_old.execute_command("FAILOVER", "TO", new.host, new.port)
                wait_until(lambda: admin_new.info("replication")["role"] == "master", 10)
                control_after_failover(client, worker)
                assert_records_arrived(client, worker)
        finally:
            proxy.close()
            admin_old.close()
            admin_new.close()
