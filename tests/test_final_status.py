"""The final status at exit when the record was lost or given up for dead meanwhile,
and an exit during an outage that filled the outbox: the run's outcome is written
when Redis answers, no heartbeat follows it, and the exit never waits for room."""

from __future__ import annotations

import functools
import json
import threading
import time

from tablevault_redis import Vault, VaultClient, keys, scripts, vault

# A beat far away: nothing but the exit itself can put the record back.
SLOW_BEAT = {"heartbeat_interval": 5.0, "heartbeat_ttl": 15.0}


def _status(url: str, ns: str, name: str) -> str | None:
    with VaultClient(url, ns) as c:
        return c.redis.hget(keys.proc(ns, name), "status")


def test_a_record_lost_before_the_exit_gets_its_outcome(fresh_redis, namespace):
    v = Vault("u", "lost", redis_url=fresh_redis.url, namespace=namespace, **SLOW_BEAT)
    fresh_redis.client().flushall()  # a restart without persistence, say
    v.close()
    with VaultClient(fresh_redis.url, namespace) as c:
        info = c.get_process("lost")
        assert (info.status, info.alive, info.gaps) == ("completed", False, 1)
        assert not c.redis.exists(keys.alive(namespace, "lost"))


def test_a_run_given_up_for_dead_while_out_of_reach_gets_its_outcome(fresh_redis, namespace):
    v = Vault("u", "gone", redis_url=fresh_redis.url, namespace=namespace, **SLOW_BEAT)
    # A partition outlived the TTL and a cleaner marked the run crashed.
    fresh_redis.client().delete(keys.alive(namespace, "gone"))
    crashed = scripts.finish(v._conn, namespace, "gone", status="crashed", only_if_expired=True)
    assert crashed.outcome == "set"
    v.close()
    assert _status(fresh_redis.url, namespace, "gone") == "completed"
    with VaultClient(fresh_redis.url, namespace) as c:  # its script item ends as it did
        assert [(i.index, i.status) for i in c.get_code_items("gone")] == [(0, "completed")]


def test_no_heartbeat_puts_the_record_back_once_the_final_status_is_queued(fresh_redis, namespace):
    """A beat due while the program ends (the outbox's, or the reader thread's handed
    back) must not make a record the final status found gone running again; the
    final status puts it back itself."""
    v = Vault("u", "hb", redis_url=fresh_redis.url, namespace=namespace, **SLOW_BEAT)
    try:
        v._process.finish("completed", "", "")
        assert v._outbox.flush(5)
        fresh_redis.client().delete(keys.proc(namespace, "hb"), keys.alive(namespace, "hb"))
        v._process.heartbeat(time.time())
        assert not fresh_redis.client().exists(keys.proc(namespace, "hb"))
    finally:
        v.close()


def test_an_earlier_runs_copy_restored_before_the_exit_gets_this_runs_outcome(
    fresh_redis, namespace
):
    Vault("u", "st", redis_url=fresh_redis.url, namespace=namespace).close()
    admin = fresh_redis.client()
    earlier = admin.hgetall(keys.proc(namespace, "st"))
    v = Vault("u", "st", redis_url=fresh_redis.url, namespace=namespace, **SLOW_BEAT)
    with admin.pipeline() as pipe:  # the server comes back with a copy from before it
        pipe.delete(keys.proc(namespace, "st"), keys.alive(namespace, "st"))
        pipe.hset(keys.proc(namespace, "st"), mapping=earlier)
        pipe.execute()
    v.close()
    record = admin.hgetall(keys.proc(namespace, "st"))
    assert (record["run"], record["status"]) == (str(v._process.run), "completed")
    assert record["heartbeat_token"] == v._process.token
    assert [json.loads(r)["run"] for r in admin.lrange(keys.runs(namespace, "st"), 0, -1)] == [
        earlier["run"]
    ]


def test_an_exit_with_a_full_outbox_during_an_outage_does_not_hang(
    fresh_redis, namespace, monkeypatch
):
    monkeypatch.setattr(vault, "_EXIT_FLUSH_TIMEOUT", 1.0)
    v = Vault("u", "full", redis_url=fresh_redis.url, namespace=namespace, max_buffered_writes=3)
    fresh_redis.stop()
    for i in range(3):  # the bound: any other write now waits for room
        v._outbox.submit(f"filler {i}", functools.partial(v._conn.client.ping))
    closer = threading.Thread(target=v.close, daemon=True)
    t0 = time.monotonic()
    closer.start()
    closer.join(8)
    assert not closer.is_alive(), "close() waited for room in the outbox"
    assert time.monotonic() - t0 < 3.0


def test_the_outcome_lands_when_a_lost_record_meets_a_due_beat(fresh_redis, namespace):
    """The record vanishes and the program ends as a beat falls due: the record ends
    with the run's outcome and stays ended (no beat puts it back as running)."""
    interval = 0.3
    v = Vault(
        "u",
        "due",
        redis_url=fresh_redis.url,
        namespace=namespace,
        heartbeat_interval=interval,
        heartbeat_ttl=interval * 4,
    )
    fresh_redis.client().flushall()
    v.close()
    assert _status(fresh_redis.url, namespace, "due") == "completed"
    end = time.monotonic() + interval * 3  # several intervals: any stray beat lands
    while time.monotonic() < end:
        assert _status(fresh_redis.url, namespace, "due") == "completed"
        assert not fresh_redis.client().exists(keys.alive(namespace, "due"))
        time.sleep(interval / 3)


def test_a_run_that_took_the_name_after_data_loss_keeps_its_record(fresh_redis, namespace):
    """Run numbers start over after data loss: a run registered meanwhile (numbered 1,
    started later) that has ended is not an earlier run's copy, so the exiting run's
    outcome is not written over it."""
    Vault("u", "re", redis_url=fresh_redis.url, namespace=namespace).close()
    v = Vault("u", "re", redis_url=fresh_redis.url, namespace=namespace, **SLOW_BEAT)
    assert v._process.run == 2
    fresh_redis.client().flushall()
    now = time.time()
    fields = {"name": "re", "heartbeat_token": "B", "epoch": "EB", "started_at": repr(now)}
    other = scripts.register(
        v._conn, namespace, "re", token="B", ttl=30, dead_holder="", now=now, fields=fields
    )
    assert other.run == 1
    assert scripts.finish(v._conn, namespace, "re", status="completed", token="B").outcome == "set"
    v.close()
    record = fresh_redis.client().hgetall(keys.proc(namespace, "re"))
    assert (record["heartbeat_token"], record["run"], record["status"]) == ("B", "1", "completed")
