"""The lean heartbeat (beat.py): the link's reader thread beats, the outbox thread
sleeps; whatever is not a plain ``beat`` goes back to the outbox's full path; the
signal fast path stays quiet for the beat's reply but not for a notification."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import wait_until

from tablevault_redis import Vault, keys, link_pool
from tablevault_redis.beat import pack


def _vault(url: str, namespace: str, name: str, **kw: Any) -> Vault:
    kw.setdefault("heartbeat_interval", 0.1)
    kw.setdefault("heartbeat_ttl", 3.0)
    return Vault("u", name, redis_url=url, namespace=namespace, **kw)


def _count_full_beats(vault: Vault) -> list[int]:
    """Count the outbox's own (full path) heartbeats from now on."""
    outbox, full = vault._outbox, [0]
    beat = outbox._beat

    def counted() -> None:
        full[0] += 1
        beat()

    outbox._beat = counted  # type: ignore[method-assign]
    return full


@pytest.fixture
def vault(redis_url: str, namespace: str) -> Iterator[Vault]:
    v = _vault(redis_url, namespace, "lean", fast_signals=False)
    yield v
    v.close()


def test_the_reader_thread_beats_and_the_outbox_thread_does_not(vault, client):
    full = _count_full_beats(vault)
    lean = vault._outbox.lean
    assert lean is not None and vault._outbox._leaned
    proc = keys.proc(client.namespace, "lean")
    wait_until(lambda: client.redis.hget(proc, "heartbeat_at"), 5, what="the first beat")
    sent, before = lean.sent, float(client.redis.hget(proc, "heartbeat_at"))
    wait_until(lambda: lean.sent >= sent + 5, 5, what="five lean beats")
    assert float(client.redis.hget(proc, "heartbeat_at")) > before
    assert client.redis.pttl(keys.alive(client.namespace, "lean")) > 2000
    assert full[0] == 0 and vault._outbox._leaned
    assert client.get_process("lean").alive


def test_a_deleted_record_is_put_back_by_the_outbox_and_the_reader_beats_again(vault, client):
    full = _count_full_beats(vault)
    lean, ns = vault._outbox.lean, client.namespace
    client.redis.delete(keys.proc(ns, "lean"), keys.alive(ns, "lean"))
    wait_until(lambda: client.redis.exists(keys.proc(ns, "lean")), 5, what="the record back")
    info = client.get_process("lean")
    assert info.status == "running" and info.alive and info.gaps == 1
    assert full[0] >= 1  # the full path revived it
    sent = lean.sent
    wait_until(lambda: vault._outbox._leaned and lean.sent >= sent + 3, 5, what="lean again")
    client.pause_execution("lean", wait=False)  # and it is still controllable
    wait_until(lambda: vault._control.pending == "pause", 5, what="the pause seen")


def test_a_request_missed_by_the_listener_is_applied_by_the_lean_beat(vault, client):
    """The heartbeat reads the request state too (the fallback when a notification
    is lost): here the listener no longer handles pushes at all."""
    vault._listener.close()
    client.pause_execution("lean", wait=False)
    wait_until(lambda: vault._control.pending == "pause", 5, what="the pause seen")
    assert vault._outbox._leaned


def test_a_reply_overdue_past_the_socket_timeout_restarts_the_connection(fresh_redis, namespace):
    v = _vault(fresh_redis.url + "?socket_timeout=0.5", namespace, "stuck", fast_signals=False)
    try:
        link, lean = v._conn.link, v._outbox.lean
        old = link._conn
        os.kill(fresh_redis.proc.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: link._conn is not old, 5, what="the link restarted")
        finally:
            os.kill(fresh_redis.proc.pid, signal.SIGCONT)
        sent = lean.sent
        wait_until(lambda: v._outbox._leaned and lean.sent >= sent + 3, 10, what="lean again")
        assert v._outbox.connected
    finally:
        v.close()


def test_a_beat_whose_reply_lost_its_slot_hands_back_and_the_run_stays_alive(
    fresh_redis, namespace
):
    """A parse interrupted right after it took the beat's slot (Ctrl-C in the thread
    taking a turn at reading) never fills it: once overdue, the link restarts and the
    outbox beats, so the record is never seen dead."""
    url = fresh_redis.url + "?socket_timeout=0.5"
    v = _vault(url, namespace, "lost", heartbeat_interval=0.2, heartbeat_ttl=1.5,
               fast_signals=False)  # fmt: skip
    link, lean, outbox = v._conn.link, v._outbox.lean, v._outbox
    try:
        # Between beats (the last one answered): a reply pending when this thread takes
        # the read lock would hold the reader thread at the lock, and no beat would come.
        def between_beats() -> bool:
            slot = lean._slot
            return outbox._leaned and slot is not None and slot.done.is_set()

        wait_until(between_beats, 5, what="a lean beat answered")
        with link._read_lock:  # this thread takes the turn at reading
            sent = lean.sent
            wait_until(lambda: lean.sent > sent and link._readable(0), 5, what="a reply")
            real = link._next_slot

            def interrupted() -> Any:
                real()
                raise KeyboardInterrupt  # after the slot left the queue, before its fill

            link._next_slot = interrupted  # type: ignore[method-assign]
            with pytest.raises(KeyboardInterrupt):
                link._read_one(1.0)
            link._next_slot = real  # type: ignore[method-assign]
        full = _count_full_beats(v)
        wait_until(lambda: full[0] >= 1, 5, what="the outbox beat")
        sent = lean.sent
        wait_until(lambda: outbox._leaned and lean.sent >= sent + 3, 5, what="lean again")
        alive = fresh_redis.client().exists(keys.alive(namespace, "lost"))
        assert alive and v.get_process("lost").status == "running"
    finally:
        v.close()


def test_the_fast_path_is_quiet_for_the_beats_reply_but_not_for_what_came_with_it(
    redis_url, namespace
):
    """While the beat's reply is awaited no signal comes; once it is parsed, bytes
    that came meanwhile (a notification) signal the main thread at once."""
    v = _vault(redis_url, namespace, "quiet", heartbeat_interval=30.0, heartbeat_ttl=90.0)
    fast, link = v._wakeup, v._conn.link
    if fast is None or not fast.armed:
        v.close()
        pytest.skip("no signal fast path here")
    try:
        with link._read_lock:  # the reader cannot parse: the bytes stay in the socket
            fast.quiet(True)
            signals = fast.signals
            (slot,) = link.send([pack(["PING"])], 1)
            wait_until(fast._unparsed, 5, what="the reply in the socket")
            time.sleep(0.05)  # a signal would have run the handler by now
            assert fast.signals == signals
            fast.quiet(False)  # bytes wait: the main thread is signalled now
            wait_until(lambda: fast.signals > signals, 5, what="the signal")
            assert fast.served >= 1
        assert link.wait(slot, 5) == "PONG"
        signals = fast.signals
        fast.quiet(True)
        fast.quiet(False)  # nothing waits: no signal
        time.sleep(0.05)
        assert fast.signals == signals
    finally:
        v.close()


def test_a_link_without_a_tick_has_no_lean_beat(redis_url):
    from tablevault_redis.connection import connect

    conn = link_pool.one_connection(connect(redis_url))
    try:
        assert conn.link is not None and conn.link.tick is None
        assert conn.link._until_tick() == 60.0
    finally:
        conn.close()


def test_an_idle_worker_sees_an_outage_and_beats_again_after_it(fresh_redis, namespace, caplog):
    """Through an outage the outbox beats, with its backoff and its log lines, as it
    writes; after it, a restart that lost the record, the reader beats again."""
    caplog.set_level(logging.INFO, logger="tablevault_redis.outbox")
    v = _vault(fresh_redis.url, namespace, "outage", fast_signals=False)
    try:
        lean = v._outbox.lean
        fresh_redis.stop()
        wait_until(lambda: not v._outbox.connected, 5, what="the outage seen")
        assert not v._outbox._leaned
        fresh_redis.restart()
        wait_until(lambda: v._outbox.connected and v._outbox._leaned, 10, what="lean again")
        sent = lean.sent
        wait_until(lambda: lean.sent >= sent + 3, 5, what="lean beats")
        admin = fresh_redis.client()
        try:
            assert admin.hget(keys.proc(namespace, "outage"), "status") == "running"
        finally:
            admin.close()
        assert "Redis unreachable" in caplog.text
    finally:
        v.close()


def test_bytes_another_thread_parsed_first_do_not_stall_the_reader(redis_url):
    """The reader polls outside the read lock: when another thread (a quick call,
    the signal handler) parsed what it saw before it got the lock, it must not wait
    in a read for bytes that will not come, and its ticks go on."""
    from tablevault_redis.connection import connect

    conn = link_pool.over_link(connect(redis_url), tick=0.02)
    link, ticks = conn.link, [0]

    def tick() -> None:
        ticks[0] += 1

    link.on_tick = tick
    try:
        with link._read_lock:  # the reader sees the reply but cannot read it
            (slot,) = link.send([pack(["PING"])], 1)
            wait_until(lambda: link._readable(0), 5, what="the reply")
            time.sleep(0.1)  # the reader's poll returned: it waits for the lock
            link._pump(1.0)  # this thread parses it first
        assert link.wait(slot, 1) == "PONG"
        seen = ticks[0]
        wait_until(lambda: ticks[0] >= seen + 10, 2, what="ticks going on")
    finally:
        conn.close()
