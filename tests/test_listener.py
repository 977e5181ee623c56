"""The listener thread survives dropped connections and server restarts."""

from __future__ import annotations

import signal

import pytest
from helpers import pause_resume_stop, wait_until

from tablevault_redis import VaultClient

pytestmark = pytest.mark.slow  # every test here starts subprocesses

FAST_HB = ("--heartbeat", "0.2", "3")


def test_listener_recovers_after_client_kill(spawner, fresh_redis, namespace):
    w = spawner.worker(fresh_redis.url, namespace, "w", *FAST_HB).wait_ready()
    admin = fresh_redis.client()
    killed = admin.client_kill_filter(_type="pubsub") + admin.client_kill_filter(
        _type="normal", skipme=True
    )
    assert killed >= 1  # the worker's one connection (link.py)
    # The listener resubscribes; a request sent afterwards takes effect.
    wait_until(
        lambda: admin.pubsub_numsub(f"{namespace}:{{{namespace}:w}}:ctl")[0][1] == 1,
        what="the listener to resubscribe",
    )
    with VaultClient(fresh_redis.url, namespace) as c:
        pause_resume_stop(c, w)
    admin.close()


def test_listener_recovers_after_server_restart(spawner, durable_redis, namespace):
    fresh_redis = durable_redis
    w = spawner.worker(fresh_redis.url, namespace, "w", *FAST_HB).wait_ready()
    fresh_redis.kill()
    # The worker's loop keeps running while Redis is down.
    w.advancing()
    w.advancing()
    fresh_redis.restart()
    with VaultClient(fresh_redis.url, namespace) as c:
        wait_until(lambda: c.get_process("w").alive, what="the heartbeat to come back")
        c.stop_execution("w", wait=True, timeout=10)
        assert w.wait_exit() == 0
        assert c.get_process("w").status == "stopped"


def test_request_missed_while_disconnected_is_not_lost(spawner, fresh_redis, namespace):
    """A request written while the listener is cut off arrives through the resync."""
    w = spawner.worker(fresh_redis.url, namespace, "w", *FAST_HB).wait_ready()
    admin = fresh_redis.client()
    channel = f"{namespace}:{{{namespace}:w}}:ctl"
    # Write the request key and seq directly, without publishing: only a re-read finds it.
    proc = f"{namespace}:{{{namespace}:w}}:proc"
    seq = admin.hincrby(proc, "request_seq", 1)
    admin.set(
        f"{namespace}:{{{namespace}:w}}:request",
        f'{{"seq": {seq}, "action": "stop", "by": "silent"}}',
    )
    admin.client_kill_filter(_type="pubsub")
    assert w.wait_exit(timeout=10) == 0
    with VaultClient(fresh_redis.url, namespace) as c:
        info = c.get_process("w")
        assert info.status == "stopped" and info.stopped_by == "silent"
    assert admin.pubsub_numsub(channel)[0][1] == 0
    admin.close()


def test_code_written_during_outage_lands_afterwards(spawner, durable_redis, namespace):
    fresh_redis = durable_redis
    """The outbox keeps the final write and retries it until the server is back."""
    w = spawner.worker(fresh_redis.url, namespace, "w", "--hold", *FAST_HB).wait_ready()
    fresh_redis.kill()
    w.release()
    w.advancing()
    # The worker is told to stop through SIGTERM while Redis is down, then Redis
    # comes back within the exit flush window: the outcome still lands.
    w.signal(signal.SIGTERM)
    fresh_redis.restart()
    assert w.wait_exit(timeout=20) == 128 + signal.SIGTERM
    with VaultClient(fresh_redis.url, namespace) as c:
        info = c.get_process("w")
        assert info.status == "stopped"
        assert [i.status for i in c.get_code_items("w")] == ["stopped"]


def test_cells_run_during_an_outage_are_recorded_afterwards(spawner, durable_redis, namespace):
    """Cells never wait for Redis; their code items are written once it is back."""
    w = spawner.worker(durable_redis.url, namespace, "nb", script="cell_runner.py").wait_ready()
    durable_redis.kill()
    w.run_cell(0, "a = 1")
    w.run_cell(1, "raise ValueError('during the outage')")
    w.run_cell(2, "vault.checkpoint_execution()\nb = 2")
    wait_until(lambda: "ran-2" in w.markers(), timeout=10, what="cells to run while Redis is down")
    durable_redis.restart()
    with VaultClient(durable_redis.url, namespace) as c:

        def recorded() -> list:
            items = c.get_code_items("nb")
            return [(i.index, i.text, i.status) for i in items if i.status != "open"]

        wait_until(lambda: len(recorded()) == 3, timeout=15, what="the queued code items")
        assert recorded() == [
            (0, "a = 1", "completed"),
            (1, "raise ValueError('during the outage')", "failed"),
            (2, "vault.checkpoint_execution()\nb = 2", "completed"),
        ]
        assert "ValueError: during the outage" in c.get_code_items("nb")[1].error
    (w.workdir / "quit").write_text("")
    assert w.wait_exit(20) == 0


def test_writes_wait_out_a_failover(spawner, fresh_redis, namespace):
    """READONLY replies (a primary demoted mid-failover) are retried, not dropped."""
    w = spawner.worker(fresh_redis.url, namespace, "w", "--hold", "--iterations", "3")
    w.wait_ready()
    admin = fresh_redis.client()
    try:
        admin.execute_command("REPLICAOF", "127.0.0.1", "1")  # read-only, never syncs
        errors_before = admin.info("stats")["total_error_replies"]
        w.release()

        wait_until(
            lambda: admin.info("stats")["total_error_replies"] > errors_before,
            timeout=10,
            what="the exit writes to be refused",
        )
        admin.execute_command("REPLICAOF", "NO", "ONE")
        assert w.wait_exit(20) == 0
        assert "dropped write" not in w.output()
        with VaultClient(fresh_redis.url, namespace) as c:
            assert c.get_process("w").status == "completed"
            assert [i.status for i in c.get_code_items("w")] == ["completed"]
    finally:
        admin.close()
