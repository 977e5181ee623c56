"""One connection per worker (link.py): what the server sees, the announced requests
a checkpoint verifies, and one round trip per request."""

from __future__ import annotations

import json
import threading
import time

import psutil
import pytest
import redis
from helpers import wait_until

from tablevault_redis import VaultClient, keys, link_pool
from tablevault_redis.connection import connect


def _worker_connections(pid: int, port: int) -> int:
    """The TCP connections process ``pid`` holds to the server on ``port``."""
    conns = psutil.Process(pid).net_connections(kind="tcp")
    return sum(1 for c in conns if c.raddr and c.raddr.port == port and c.status == "ESTABLISHED")


@pytest.mark.slow
def test_each_live_worker_holds_exactly_one_connection(spawner, fresh_redis, namespace):
    url, port = fresh_redis.url, int(fresh_redis.url.rsplit(":", 1)[1].split("/")[0])
    workers = [spawner.worker(url, namespace, f"w{i}", script="link_worker.py") for i in range(3)]
    for w in workers:
        w.wait_ready()
        w.advancing()  # appending records and querying
    admin = fresh_redis.client()
    with VaultClient(url, namespace) as client:
        client.redis.ping()
        mine = {admin.client_id(), client.redis.client_id()}

        def check(live: list) -> None:
            others = [c for c in admin.client_list() if int(c["id"]) not in mine]
            assert len(others) == len(live), others
            assert [_worker_connections(w.pid, port) for w in live] == [1] * len(live)

        check(workers)
        client.pause_execution("w0", wait=True, timeout=10)
        check(workers)  # paused: the pause was verified over the same socket
        client.resume_execution("w0", wait=True, timeout=10)
        workers[0].advancing()
        check(workers)
        client.stop_execution("w1", wait=True, timeout=10)  # confirmed at a checkpoint
        assert workers[1].wait_exit() == 0
        check([workers[0], workers[2]])
        assert client.get_process("w1").status == "stopped"
    admin.close()


@pytest.mark.slow
@pytest.mark.parametrize("action", ["stop", "pause"])
def test_a_forged_notification_with_the_right_epoch_neither_stops_nor_pauses(
    spawner, redis_url, namespace, action
):
    """The forger knows the record's epoch and the next request number: the
    checkpoint's verification (and the read after the notification) still finds no
    such request, so the worker runs on and its record says nothing happened."""
    w = spawner.worker(redis_url, namespace, "target", "--busy").wait_ready()
    w.advancing()
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    epoch, seq = r.hmget(keys.proc(namespace, "target"), "epoch", "request_seq")
    forged = {"seq": int(seq or 0) + 1, "action": action, "by": "forger", "epoch": epoch}
    for _ in range(20):
        r.publish(keys.channel(namespace, "target"), json.dumps(forged))
        time.sleep(0.01)
    w.advancing()
    w.advancing()
    record = r.hgetall(keys.proc(namespace, "target"))
    assert record["status"] == "running" and not record.get("stopping_seq")
    assert w.proc.poll() is None
    with VaultClient(redis_url, namespace) as client:  # the real request still works
        client.stop_execution("target", wait=True, timeout=10)
    assert w.wait_exit() == 0
    r.close()


def test_a_request_is_one_round_trip(fresh_redis, namespace):
    """stop_execution() sends one EVALSHA, no SCRIPT EXISTS first; after the server
    lost its scripts it still works (the batch is sent again, loading them)."""
    with VaultClient(fresh_redis.url, namespace) as c:
        admin = fresh_redis.client()
        with pytest.raises(Exception):  # noqa: B017 (no such process: refused)
            c.stop_execution("nobody")
        admin.config_resetstat()
        with pytest.raises(Exception):  # noqa: B017
            c.stop_execution("nobody")
        stats = admin.info("commandstats")
        calls = {k: v["calls"] for k, v in stats.items()}
        # The request: one EVALSHA (a refusal's message then reads what it names).
        assert calls["cmdstat_evalsha"] == 1 and not any("script" in k for k in calls), calls
        admin.script_flush()
        with pytest.raises(Exception) as refused:  # noqa: B017
            c.stop_execution("nobody")
        assert "nobody" in str(refused.value)
        admin.close()


def test_replies_reach_their_callers_from_many_threads_with_pushes_between(redis_url, namespace):
    """Commands, pipelines and quick calls from several threads, while notifications
    arrive on the same connection: every caller gets its own reply."""
    conn = link_pool.one_connection(connect(redis_url))
    assert conn.link is not None
    pushes: list[list] = []
    conn.link.on_push = lambda message: pushes.append(message)  # type: ignore[assignment]
    channel = f"{namespace}:chan"
    conn.link.subscribe("SUBSCRIBE", channel, lambda error: None)
    quick = conn.quick(channel).client
    publisher = redis.Redis.from_url(redis_url)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(200):
                value = f"{i}-{j}"
                client = quick if j % 3 == 0 else conn.client
                assert client.echo(value) == value
                if j % 10 == 0:
                    pipe = conn.client.pipeline(transaction=j % 20 == 0)
                    pipe.echo(value).echo(value + "b").get(f"{namespace}:none")
                    assert pipe.execute() == [value, value + "b", None]
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for k in range(50):
        publisher.publish(channel, str(k))
    for t in threads:
        t.join(30)
    assert not errors, errors[0]
    wait_until(lambda: len([p for p in pushes if p[0] == "message"]) == 50, 5)
    publisher.close()
    conn.close()


def test_a_refused_subscription_leaves_the_replies_in_order(fresh_redis, namespace):
    """An error reply to SUBSCRIBE (an ACL without the channel) is not a push: it must
    not take another command's reply."""
    admin = fresh_redis.client()
    admin.execute_command("ACL", "SETUSER", "nochan", "on", ">pw", "~*", "resetchannels", "+@all")
    url = fresh_redis.url.replace("redis://", "redis://nochan:pw@")
    conn = link_pool.one_connection(connect(url))
    refused: list[object] = []
    conn.link.subscribe("SUBSCRIBE", f"{namespace}:chan", refused.append)
    assert conn.client.echo("after") == "after"
    assert isinstance(refused[0], redis.exceptions.NoPermissionError), refused
    conn.close()
    admin.close()


def test_the_listener_reads_with_evalsha_and_loads_a_script_the_server_lost(fresh_redis, namespace):
    """A notification's read is an EVALSHA (the script's 7 kB body is not sent each
    time); a server that lost its scripts answers NOSCRIPT and the read is sent
    again with the body, so the request still applies."""
    import hashlib

    from tablevault_redis import Vault, scripts

    body = scripts.source("request_state")
    sha = hashlib.sha1(body.encode()).hexdigest()
    admin = fresh_redis.client()
    watcher = redis.Redis.from_url(fresh_redis.url, socket_timeout=1.0, decode_responses=True)
    vault = Vault("tester", "w", redis_url=fresh_redis.url, namespace=namespace)
    try:
        with VaultClient(fresh_redis.url, namespace) as c, watcher.monitor() as monitor:
            wait_until(lambda: admin.pubsub_numsub(vault._process.channel)[0][1] == 1)
            c.pause_execution("w")
            wait_until(lambda: vault._control.held().action == "pause", 2.0, what="the read")
            admin.script_flush()
            c.resume_execution("w")
            wait_until(
                lambda: vault._control.held().action == "", 2.0, what="the read after NOSCRIPT"
            )
            assert vault._control.pending is None
            seen = []
            with pytest.raises(redis.exceptions.TimeoutError):
                while True:
                    seen.append(monitor.next_command()["command"])
        flush = seen.index("SCRIPT FLUSH")
        reads = [i for i, cmd in enumerate(seen) if cmd.startswith(f"EVALSHA {sha}")]
        loads = [
            i
            for i, cmd in enumerate(seen)
            if cmd.startswith("EVAL ") and "Read the request state" in cmd
        ]
        assert reads and reads[0] < flush, seen  # the pause's read: no body sent
        assert loads and all(i > flush for i in loads), seen  # only after the flush
    finally:
        vault.close()
        admin.close()
        watcher.close()


def test_a_deeply_nested_notification_costs_nothing(fresh_redis, namespace):
    """A payload nested past the JSON parser's recursion limit (anyone who may
    PUBLISH on the channel can send one) is dropped like any malformed notification:
    the worker's one connection stays up and requests still apply."""
    from tablevault_redis import Vault

    admin = fresh_redis.client()
    vault = Vault("tester", "w", redis_url=fresh_redis.url, namespace=namespace)
    try:
        with VaultClient(fresh_redis.url, namespace) as c:
            wait_until(lambda: admin.pubsub_numsub(vault._process.channel)[0][1] == 1)
            c.redis.ping()
            before = admin.info("stats")["total_connections_received"]
            for _ in range(3):
                admin.publish(vault._process.channel, "[" * 5000 + "]" * 5000)
            c.pause_execution("w")
            wait_until(lambda: vault._control.held().action == "pause", 2.0, what="the read")
            assert admin.info("stats")["total_connections_received"] == before
    finally:
        vault.close()
        admin.close()
