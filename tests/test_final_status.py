"""The final status at exit when the record was lost or given up for dead meanwhile,
and an exit during an outage that filled the outbox: the run's outcome is written
when Redis answers, no heartbeat follows it, and the exit never waits for room."""

from __future__ import annotations

import functools
import threading
import time

from helpers import wait_until

from tablevault_redis import Vault, VaultClient, keys, scripts, vault
from tablevault_redis.outbox import Outbox

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


def test_no_heartbeat_follows_the_final_status(fresh_redis, namespace):
    """A beat due while the final status is written must not run after it: it would
    put a record the final status found gone back as running."""
    beats: list[float] = []
    v = Vault("u", "hb", redis_url=fresh_redis.url, namespace=namespace)
    outbox = Outbox(v._conn, lambda: beats.append(time.monotonic()), interval=0.02)
    try:
        outbox.start()
        wait_until(lambda: len(beats) >= 2, timeout=5, what="the outbox to beat")
        outbox.end_beats()
        ended = len(beats)
        for i in range(20):  # the writer goes round its loop, past many due beats
            outbox.submit(f"write {i}", functools.partial(time.sleep, 0.01))
        assert outbox.flush(5)
        assert len(beats) == ended
    finally:
        outbox.stop(2)
        v.close()


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
