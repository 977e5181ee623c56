"""A live process is never orphaned: real workers through data loss, outages and a
network partition, each followed by a request the worker must obey.

Workers beat every ``INTERVAL`` s (TTL ``TTL`` s). A lost record is put back by the
worker's next heartbeat; after a restart the worker first has to reconnect (its
backoff is at most 1 s), so those cases allow one interval plus the reconnection.
"""

from __future__ import annotations

import json
import time

import pytest
import redis
from helpers import Worker, pause_resume_stop, wait_judgeable, wait_until
from proxy import PartitionProxy
from servers import RedisServer

from tablevault_redis import ValidationError, VaultClient, keys

pytestmark = pytest.mark.slow

INTERVAL, TTL = 0.3, 1.2
HB = ("--heartbeat", str(INTERVAL), str(TTL))
RECONNECT = 1.5  # seconds: the worker's reconnection backoff after a restart, at most


def start(spawner, url: str, namespace: str, name: str = "w") -> Worker:
    return spawner.worker(url, namespace, name, *HB).wait_ready()


def controlled_before(client: VaultClient, w: Worker) -> None:
    """Some requests before the loss, so the worker's sequence numbers are ahead of a
    counter that starts over: later requests must still count as new."""
    w.advancing()
    client.pause_execution(w.name, wait=True, timeout=5)
    client.resume_execution(w.name, wait=True, timeout=5)
    w.advancing()


def record_back(client: VaultClient, name: str, within: float) -> float:
    """Wait until the worker's record is back, alive; seconds it took."""
    t0 = time.monotonic()

    def back() -> bool:
        try:
            return client.get_process(name).alive
        except Exception:  # NotFoundError, or the server still starting
            return False

    wait_until(back, within, interval=0.02, what=f"{name}'s record to come back")
    return time.monotonic() - t0


def stops(client: VaultClient, w: Worker) -> None:
    client.stop_execution(w.name, wait=True, timeout=5)
    assert w.wait_exit() == 0
    assert client.get_process(w.name).status == "stopped"


@pytest.mark.parametrize(
    "loss",
    ["FLUSHALL", "DEL proc", "DEL alive", "DEL request", "DEL code", "DEL runs", "DEL all"],
)
def test_deleted_keys_are_put_back_within_one_interval(spawner, fresh_redis, namespace, loss):
    client = VaultClient(fresh_redis.url, namespace)
    w = start(spawner, fresh_redis.url, namespace)
    controlled_before(client, w)
    r = client.redis
    per_process = {s: getattr(keys, s)(namespace, "w") for s in ("proc", "alive", "request")}
    per_process |= {s: getattr(keys, s)(namespace, "w") for s in ("code", "runs")}
    if loss == "FLUSHALL":
        r.flushall()
    elif loss == "DEL all":
        r.delete(*per_process.values(), keys.processes(namespace))
    else:
        r.delete(per_process[loss.split()[1]])
    took = record_back(client, "w", INTERVAL + 0.7)
    assert took <= INTERVAL + 0.7
    if loss in ("FLUSHALL", "DEL all", "DEL proc"):
        info = client.get_process("w")
        assert info.gaps == 1 and info.gap_to is not None and info.gap_from is not None
        # Listed again: a command of its own after the revive script.
        wait_until(lambda: [p.name for p in client.list_processes()] == ["w"], 2, what="listed")
    pause_resume_stop(client, w)
    client.close()


@pytest.mark.parametrize("how", ["restart", "kill -9 and restart"])
def test_a_restart_without_persistence(spawner, fresh_redis, namespace, how):
    client = VaultClient(fresh_redis.url, namespace)
    w = start(spawner, fresh_redis.url, namespace)
    controlled_before(client, w)
    if how == "restart":
        fresh_redis.restart()
    else:
        fresh_redis.kill()
        fresh_redis.restart()
    record_back(client, "w", INTERVAL + RECONNECT)
    assert client.get_process("w").gaps == 1
    stops(client, w)
    client.close()


def test_kill_9_and_restart_with_aof(spawner, durable_redis, namespace):
    client = VaultClient(durable_redis.url, namespace)
    w = start(spawner, durable_redis.url, namespace)
    controlled_before(client, w)
    durable_redis.kill()
    durable_redis.restart()
    record_back(client, "w", INTERVAL + RECONNECT)
    assert client.get_process("w").gaps == 0  # nothing was lost: nothing to put back
    stops(client, w)
    client.close()


def test_a_pause_whose_request_vanished_can_still_be_resumed(spawner, fresh_redis, namespace):
    client = VaultClient(fresh_redis.url, namespace)
    w = start(spawner, fresh_redis.url, namespace)
    w.advancing()
    client.pause_execution("w", wait=True, timeout=5)
    client.redis.flushall()
    record_back(client, "w", INTERVAL + 0.7)
    info = client.get_process("w")
    assert (info.status, info.interrupt_action) == ("paused", "pause")  # as it is
    frozen = w.progress()
    client.resume_execution("w", wait=True, timeout=5)
    wait_until(lambda: w.progress() > frozen, what="the worker to go on")
    stops(client, w)
    client.close()


def test_cleanup_right_after_an_outage_spares_a_live_process(spawner, durable_redis, namespace):
    """The heartbeats expired while the server was down (AOF keeps their deadlines):
    a cleanup just after the restart must not mark the live worker crashed."""
    client = VaultClient(durable_redis.url, namespace)
    w = start(spawner, durable_redis.url, namespace)
    w.advancing()
    durable_redis.stop()
    time.sleep(TTL + 0.5)  # the outage itself: longer than the TTL
    durable_redis.restart()
    report = client.vault_cleanup(interval=0)
    assert report.crashed == [] and "w" in report.skipped
    record_back(client, "w", INTERVAL + RECONNECT)
    assert client.get_process("w").status == "running"
    stops(client, w)
    client.close()


def test_a_process_presumed_crashed_in_a_partition_comes_back(spawner, fresh_redis, namespace):
    """Cut off past its TTL while the server stays up, the worker is marked crashed by
    cleanup (nobody can tell it from a dead one); when it gets through again it
    revives its record: running, controllable, and the gap is in its history."""
    proxy = PartitionProxy(fresh_redis.port)
    client = VaultClient(fresh_redis.url, namespace)
    w = start(spawner, proxy.url, namespace)
    w.advancing()
    wait_judgeable(client, TTL, INTERVAL)
    proxy.cut()
    wait_until(lambda: not client.get_process("w").alive, TTL + 2, what="the heartbeat to lapse")
    report = client.vault_cleanup(interval=0)
    assert report.crashed == ["w"]
    with pytest.raises(ValidationError, match="has ended"):
        client.stop_execution("w")
    assert client.get_code_items("w")[0].status == "crashed"
    proxy.restore()
    wait_until(
        lambda: client.get_process("w").status == "running",
        INTERVAL + RECONNECT,
        what="the worker to revive its record",
    )
    info = client.get_process("w")
    assert info.alive and info.gaps == 1 and info.error is None and info.ended_at is None
    assert info.gap_from is not None and info.gap_to is not None
    assert info.gap_to - info.gap_from >= TTL
    events = client.code_events("w")
    assert [e.event for e in events] == ["open", "close", "status"]
    assert events[-1].fields["status"] == "revived"
    assert client.get_code_items("w")[0].status == "open"  # it ran on
    pause_resume_stop(client, w)
    assert client.get_code_items("w")[0].status == "stopped"
    proxy.close()
    client.close()


@pytest.mark.parametrize("how", ["record replaced", "restart from an RDB snapshot"])
def test_an_earlier_runs_record_restored_over_a_live_run_is_put_back(
    spawner, fresh_redis, namespace, how
):
    """The name was reused, then the server went back to a copy taken before the live
    run registered (an RDB snapshot, a replica that missed the registration): the
    earlier run's final record under another token, no heartbeat. The live run puts
    its own record back, keeps the earlier one in the runs list, and obeys a stop."""
    client = VaultClient(fresh_redis.url, namespace)
    r = client.redis
    proc, alive, runs = (getattr(keys, s)(namespace, "w") for s in ("proc", "alive", "runs"))
    stops(client, start(spawner, fresh_redis.url, namespace))  # run 1
    copy = r.hgetall(proc)
    if how == "restart from an RDB snapshot":
        r.save()
    w = start(spawner, fresh_redis.url, namespace)  # run 2
    token = r.hget(proc, "heartbeat_token")
    assert r.hget(proc, "run") == "2" and token != copy["heartbeat_token"]
    if how == "record replaced":
        with r.pipeline() as pipe:  # one MULTI: no heartbeat in between
            pipe.delete(proc, alive, runs).hset(proc, mapping=copy).execute()
    else:
        fresh_redis.kill()
        fresh_redis.restart()

    def back() -> bool:
        try:
            return r.hget(proc, "heartbeat_token") == token
        except redis.RedisError:  # the server still starting
            return False

    wait_until(back, 3 * INTERVAL + RECONNECT, interval=0.02, what="run 2's record to come back")
    info = client.get_process("w")
    assert (info.status, info.alive, info.run, info.gaps) == ("running", True, 2, 1)
    assert [json.loads(raw)["run"] for raw in r.lrange(runs, 0, -1)] == ["1"]
    stops(client, w)
    assert "belongs to another run" not in w.output()
    client.close()


FORGED = [
    {"seq": 1_000_000_000_000_000, "action": "resume"},
    {"seq": 1.5, "action": "bogus"},
    {"action": "stop", "by": "mallory"},
    {"seq": 99, "action": "stop", "by": "mallory", "epoch": "x"},
    {"seq": 2, "action": "pause", "by": "mallory"},
]


def test_forged_notifications_change_nothing(spawner, redis_url, namespace):
    client = VaultClient(redis_url, namespace)
    w = start(spawner, redis_url, namespace)
    w.advancing()
    channel = keys.channel(namespace, "w")
    for payload in FORGED:
        client.redis.publish(channel, json.dumps(payload))
    for raw in ("garbage{", "", "[]", "null", "\x00" * 10):
        client.redis.publish(channel, raw)
    w.advancing()  # not stopped, not paused
    info = client.get_process("w")
    assert (info.status, info.interrupt_action, info.stopped_by) == ("running", None, None)
    pause_resume_stop(client, w)  # control intact
    assert client.get_process("w").stopped_by.startswith("client:")
    client.close()


def test_a_flood_of_notifications_leaves_control_working(spawner, redis_url, namespace):
    client = VaultClient(redis_url, namespace)
    w = start(spawner, redis_url, namespace)
    w.advancing()
    pipe = client.redis.pipeline(transaction=False)
    for i in range(5000):
        pipe.publish(keys.channel(namespace, "w"), json.dumps({"seq": i, "action": "stop"}))
    pipe.execute()
    w.advancing()
    stops(client, w)
    client.close()


def test_a_server_that_stays_down_long_is_waited_out(spawner, fresh_redis: RedisServer, namespace):
    """A worker started before a long outage of a server without persistence is
    controllable again once the server is back."""
    client = VaultClient(fresh_redis.url, namespace)
    w = start(spawner, fresh_redis.url, namespace)
    w.advancing()
    fresh_redis.stop()
    time.sleep(3 * TTL)
    fresh_redis.restart()
    record_back(client, "w", INTERVAL + RECONNECT)
    stops(client, w)
    client.close()
