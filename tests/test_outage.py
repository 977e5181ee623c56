"""Records written through a Redis outage: none lost, none twice, in order, and the
writing loop never waits on Redis (tests/scripts/outage_appender.py)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from helpers import run_python, wait_until

from tablevault_redis import Vault, VaultClient

pytestmark = pytest.mark.slow  # every test here starts a worker subprocess

# A loop that waited on the unreachable server would stall for seconds (connect
# timeout, backoff); the 10 ms target itself is measured by benchmarks/bench_records.py,
# where the machine's load is known. Here the bound only has to tell the two apart
# on a loaded CI machine.
SLOWEST_ITERATION_S = 0.1


def _result(worker) -> dict:
    return json.loads((worker.workdir / "result.json").read_text())


def _seqs(url: str, namespace: str, list_name: str) -> list[int]:
    with VaultClient(url, namespace) as c:
        return [r["seq"] for r in c.get_records(list_name)]


def test_records_survive_an_outage_exactly_once_in_order(spawner, durable_redis, namespace):
    w = spawner.worker(durable_redis.url, namespace, "a", script="outage_appender.py")
    w.wait_ready()
    w.advancing()
    durable_redis.kill()
    down = time.monotonic()
    w.advancing()  # the loop goes on while Redis is down
    wait_until(lambda: time.monotonic() - down > 2.0, timeout=5, interval=0.05)
    w.advancing()
    durable_redis.restart()
    up = time.monotonic()
    w.advancing()
    (w.workdir / "quit").write_text("")
    assert w.wait_exit(30) == 0, w.output()
    result = _result(w)
    assert result["errors"] == 0
    assert _seqs(durable_redis.url, namespace, "a-log") == list(range(-1, result["count"]))
    during = [took for end, took in result["iterations"] if down <= end <= up]
    assert max(during, default=0) < SLOWEST_ITERATION_S, sorted(during)[-5:]


def test_a_dropped_connection_does_not_duplicate(spawner, fresh_redis, namespace):
    """Connections killed mid-batch: replies lost, writes retried, each applied once."""
    w = spawner.worker(fresh_redis.url, namespace, "d", "--sleep", "0", script="outage_appender.py")
    w.wait_ready()
    admin = fresh_redis.client()
    try:
        for _ in range(10):
            w.advancing()
            admin.client_kill_filter(_type="normal", skipme=True)
        (w.workdir / "quit").write_text("")
        assert w.wait_exit(30) == 0, w.output()
    finally:
        admin.close()
    count = _result(w)["count"]
    assert _seqs(fresh_redis.url, namespace, "d-log") == list(range(-1, count))


def test_a_full_buffer_waits_loudly_and_loses_nothing(spawner, durable_redis, namespace):
    w = spawner.worker(
        durable_redis.url,
        namespace,
        "b",
        "--hold",
        "--count",
        "120",
        "--sleep",
        "0",
        "--max-buffered",
        "50",
        script="outage_appender.py",
    )
    w.wait_ready()
    durable_redis.kill()
    w.release()
    # The loop stops at the bound (50 queued records) instead of dropping any.
    wait_until(lambda: w.progress() >= 40, timeout=10, what="the buffer to fill")
    assert w.progress() < 120 and w.proc.poll() is None
    durable_redis.restart()
    assert w.wait_exit(30) == 0
    assert "max_buffered_writes" in w.output()
    assert _seqs(durable_redis.url, namespace, "b-log") == list(range(-1, 120))


def test_queued_appends_refused_when_written_are_counted_and_logged(redis_url, namespace):
    """Appends queued against cached columns that another client changed meanwhile:
    each is refused when written (logged, counted in write_errors), nothing written;
    those in between to another list all arrive, in order."""
    code = """
import os
from tablevault_redis import Vault, VaultClient
ns = os.environ['TEST_NAMESPACE']
vault = Vault('u', 'w', namespace=ns)
vault.append_record('L', {'a': 0})
assert vault.flush_writes(10)
with VaultClient(os.environ['TABLEVAULT_REDIS_URL'], ns) as other:
    other.redis.delete(*other.redis.keys(ns + ':*:L'))
    other.append_record('L', {'b': 1})
for i in range(50):
    vault.append_record('L', {'a': i})  # the cache still says ['a']: queued
for i in range(300):
    vault.append_record('M', {'i': i})
assert vault.flush_writes(10)
print('errors', vault.write_errors, 'pending', vault.pending_writes)
vault.close()
"""
    r = run_python(code, redis_url, namespace)
    assert r.returncode == 0, r.stderr
    assert "errors 50 pending 0" in r.stdout
    assert r.stderr.count("was refused when written") == 50
    assert "the list has columns ['b'], not ['a']" in r.stderr
    with VaultClient(redis_url, namespace) as c:
        assert c.get_records("L") == [{"b": 1}]
        assert [r["i"] for r in c.get_records("M")] == list(range(300))


def test_a_checkpoints_report_is_queued_past_a_full_outbox(redis_url, namespace):
    """A checkpoint reports (paused, running, stopping) holding the control state's
    lock, which the heartbeat needs too: it must never wait for room, or a full
    outbox would stall both. Other writes still wait at the bound."""
    v = Vault("u", "fullreport", redis_url=redis_url, namespace=namespace, max_buffered_writes=3)
    outbox, started, release = v._outbox, threading.Event(), threading.Event()
    waiter = threading.Thread(target=outbox.submit, args=("waits", lambda: None))
    try:
        # The writer is busy with the first job (it stays queued until written).
        outbox.submit("held", lambda: (started.set(), release.wait(10)))
        assert started.wait(5)
        for i in range(2):
            outbox.submit(f"filler {i}", lambda: None)
        waiter.start()
        waiter.join(0.2)  # the chance to queue past the bound, which it must not take
        assert waiter.is_alive() and outbox.pending() == 3
        with v._control._cond:  # as a checkpoint in a pause holds it
            v._process._report("running", v._control.seq, "")
        assert outbox.pending() == 4
    finally:
        release.set()
        if waiter.is_alive() or waiter.ident:
            waiter.join(10)
        v.close()
