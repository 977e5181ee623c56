"""Stop, pause and resume of real worker processes."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading

import pytest
from helpers import child_env, pause_resume_stop, run_python, wait_until

from tablevault_redis import (
    ConflictError,
    NotFoundError,
    ValidationError,
    VaultClient,
    WaitTimeoutError,
    keys,
    scripts,
)

pytestmark = pytest.mark.slow  # every test here starts subprocesses

FAST_HB = ("--heartbeat", "0.2", "0.8")


def test_pause_freezes_resume_continues_stop_ends(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "w", *FAST_HB).wait_ready()
    w.advancing()
    client.pause_execution("w", wait=True, timeout=5)
    info = client.get_process("w")
    assert info.status == "paused" and info.alive
    assert info.interrupt_action == "pause" and info.interrupt_request == client.requester
    frozen = w.progress()
    # Several heartbeat intervals pass: the worker stays put and stays alive.
    ttl_before = client.redis.pttl(f"{namespace}:{{{namespace}:w}}:alive")
    wait_until(
        lambda: client.redis.pttl(f"{namespace}:{{{namespace}:w}}:alive") > ttl_before,
        what="a heartbeat while paused",
    )
    assert w.progress() == frozen
    info = client.get_process("w")
    assert info.alive and info.heartbeat_at and info.listener_at
    assert info.listener_at > info.started_at

    client.resume_execution("w", wait=True, timeout=5)
    assert client.get_process("w").status == "running"
    w.advancing()

    client.stop_execution("w", wait=True, timeout=5)
    assert w.wait_exit() == 0
    info = client.get_process("w")
    assert info.status == "stopped" and not info.alive
    assert info.stopped_by == client.requester
    assert info.ended_at and info.ended_at >= info.started_at
    stopped_at = client.redis.hget(keys.proc(namespace, "w"), "stopped_at")
    assert float(stopped_at) == info.ended_at
    assert w.markers() == ["ready", "finally", "atexit"]
    items = client.get_code_items("w")
    assert [(i.index, i.status) for i in items] == [(0, "stopped")]
    assert "checkpoint_execution" in items[0].text


def test_stop_while_paused_runs_finally_and_atexit(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "w").wait_ready()
    client.pause_execution("w", wait=True, timeout=5)
    client.stop_execution("w", wait=True, timeout=5)  # stop overrides a pause
    assert w.wait_exit() == 0
    assert client.get_process("w").status == "stopped"
    assert "swallowed" not in w.markers()
    assert w.markers()[-2:] == ["finally", "atexit"]


def test_completed_and_failed_scripts(spawner, client, redis_url, namespace):
    ok = spawner.worker(redis_url, namespace, "ok", "--iterations", "3")
    bad = spawner.worker(redis_url, namespace, "bad", "--fail-after", "2")
    assert ok.wait_exit() == 0
    assert bad.wait_exit() == 1
    assert client.get_process("ok").status == "completed"
    info = client.get_process("bad")
    assert info.status == "failed"
    assert "RuntimeError: boom at iteration 2" in (info.error or "")
    (item,) = client.get_code_items("bad")
    assert item.status == "failed" and "Traceback" in item.error


def test_sigterm_is_recorded_as_stopped(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "w").wait_ready()
    w.advancing()
    w.signal(signal.SIGTERM)
    assert w.wait_exit() == 128 + signal.SIGTERM
    info = client.get_process("w")
    assert info.status == "stopped" and info.stopped_by == "SIGTERM"
    assert w.markers()[-2:] == ["finally", "atexit"]


def test_own_sigterm_handler_is_left_alone(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "w", "--own-sigterm").wait_ready()
    w.signal(signal.SIGTERM)
    assert w.wait_exit() == 7
    assert "own-handler" in w.markers()
    assert client.get_process("w").status == "completed"


def test_kill_9_is_seen_as_crashed_once_ttl_passes(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "w", *FAST_HB).wait_ready()
    assert client.get_process("w").alive
    w.kill()
    info = wait_until(
        lambda: (p := client.get_process("w")).status == "crashed" and p,
        timeout=5,
        what="the heartbeat to expire",
    )
    assert not info.alive
    with pytest.raises(ValidationError, match="not alive"):
        client.stop_execution("w")


def test_request_rules(spawner, client, redis_url, namespace):
    with pytest.raises(NotFoundError, match="nobody"):
        client.stop_execution("nobody")
    w = spawner.worker(redis_url, namespace, "w", "--hold").wait_ready()
    with pytest.raises(ValidationError, match="neither paused nor asked to pause"):
        client.resume_execution("w")
    other = VaultClient(redis_url, namespace)
    other.requester = "controller-two"
    try:
        client.pause_execution("w")
        with pytest.raises(ConflictError, match=re.escape(client.requester)):
            other.pause_execution("w")
        # Resuming before the worker reached a checkpoint cancels the pause.
        other.resume_execution("w")
        info = client.get_process("w")
        assert info.interrupt_action is None and info.status == "running"
        w.release()
        w.advancing()
        assert client.get_process("w").status == "running"
        # A pending stop blocks another stop and a resume; stop overrides a pause.
        # (w2 holds before its first checkpoint, so the requests stay pending.)
        w2 = spawner.worker(redis_url, namespace, "w2", "--hold").wait_ready()
        client.pause_execution("w2")
        other.stop_execution("w2")
        with pytest.raises(ConflictError, match="controller-two"):
            client.stop_execution("w2")
        with pytest.raises(ConflictError, match="stop"):
            client.resume_execution("w2")
        w2.release()
        assert w2.wait_exit() == 0
        info = client.get_process("w2")
        assert info.status == "stopped" and info.stopped_by == "controller-two"
        with pytest.raises(ValidationError, match="has ended"):
            client.pause_execution("w2")
        client.stop_execution("w", wait=True, timeout=5)
    finally:
        other.close()


def test_wait_times_out_when_no_checkpoint_comes(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "w", "--hold").wait_ready()
    with pytest.raises(WaitTimeoutError, match="'w'"):
        client.pause_execution("w", wait=True, timeout=0.2)
    assert client.get_process("w").interrupt_action == "pause"
    w.release()
    wait_until(lambda: client.get_process("w").status == "paused", what="the pause")


def test_eight_racing_controllers_one_wins(spawner, client, redis_url, namespace, tmp_path):
    spawner.worker(redis_url, namespace, "w", "--hold").wait_ready()
    go = tmp_path / "race-go"
    code = (
        "import os, sys, time\n"
        "from tablevault_redis import VaultClient, ConflictError\n"
        "c = VaultClient(namespace=os.environ['TEST_NAMESPACE'])\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.001)\n"
        "try:\n"
        "    c.pause_execution('w'); print('WON')\n"
        "except ConflictError as e: print('LOST', e)\n"
    )
    procs = [
        spawner.run([sys.executable, "-c", code], env=child_env(redis_url, namespace))
        for _ in range(8)
    ]
    go.write_text("go")
    outputs = [p.communicate(timeout=30)[0] for p in procs]
    assert sum(o.startswith("WON") for o in outputs) == 1, outputs
    assert sum(o.startswith("LOST") for o in outputs) == 7, outputs
    assert client.redis.hget(f"{namespace}:{{{namespace}:w}}:proc", "request_seq") == "1"


def test_worker_on_another_host_in_its_own_pid_namespace(spawner, client, redis_url, namespace):
    """A worker with its own host name and PID namespace (as in another container) is
    paused, resumed and stopped; its name cannot be taken from here while it lives."""
    probe = subprocess.run(
        ["unshare", "--pid", "--fork", "--uts", "--mount-proc", "true"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"unshare is not permitted here: {probe.stderr!r}")
    prefix = ["unshare", "--pid", "--fork", "--uts", "--mount-proc",
              "sh", "-c", 'hostname worker-host && exec "$0" "$@"']  # fmt: skip
    w = spawner.worker(redis_url, namespace, "w", prefix=prefix).wait_ready()
    info = client.get_process("w")
    assert info.host == "worker-host"
    assert info.pid != w.pid  # its own PID namespace: PID 1 or close to it
    # Same PID number or not, a holder in another PID namespace is never judged dead.
    code = (
        "import os\nfrom tablevault_redis import Vault\n"
        "Vault('u', 'w', namespace=os.environ['TEST_NAMESPACE'])\n"
    )
    r = run_python(code, redis_url, namespace)
    assert r.returncode == 1 and "host worker-host" in r.stderr
    pause_resume_stop(client, w)


def test_requests_from_threads_of_one_controller(spawner, client, redis_url, namespace):
    """Requests are safe from many threads; exactly one pause wins here too."""
    spawner.worker(redis_url, namespace, "w", "--hold").wait_ready()
    results: list[str] = []
    barrier = threading.Barrier(6)

    def attempt() -> None:
        barrier.wait()
        try:
            client.pause_execution("w")
            results.append("won")
        except ConflictError:
            results.append("lost")

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == ["lost"] * 5 + ["won"]


def test_control_over_a_unix_socket(spawner, tmp_path, namespace):
    from servers import RedisServer

    sock = tmp_path / "r.sock"
    with RedisServer({"unixsocket": str(sock), "unixsocketperm": "700"}) as server:
        url = f"unix://{sock}"
        w = spawner.worker(url, namespace, "w").wait_ready()
        with VaultClient(url, namespace) as c:
            pause_resume_stop(c, w)
        assert server.running


def test_pause_wait_returns_only_for_its_own_pause(spawner, client, redis_url, namespace):
    """pause(wait) never returns on the record of an earlier pause, and a second resume
    sent before the first is acknowledged is not an error."""
    w = spawner.worker(redis_url, namespace, "w", "--busy").wait_ready()
    for _ in range(15):
        seq = client.pause_execution("w", wait=True, timeout=10)
        raw = client.redis.hmget(keys.proc(namespace, "w"), "status", "paused_seq")
        assert raw == ["paused", str(seq)]
        frozen = w.progress()
        client.resume_execution("w")
        try:
            client.resume_execution("w")  # fine while the first is not acknowledged yet
        except ValidationError as e:  # and refused once it is: the process is running
            assert "it is running" in str(e)
        wait_until(lambda f=frozen: w.progress() > f, what="progress after resume")
    client.stop_execution("w", wait=True, timeout=10)
    assert w.wait_exit() == 0


def test_a_retried_request_is_answered_not_applied_twice(spawner, client, redis_url, namespace):
    """The request script is idempotent per call id: what a retry after a lost reply
    sends gets the first attempt's sequence number, and no second request."""
    spawner.worker(redis_url, namespace, "w", "--hold").wait_ready()
    conn = client._conn
    first = scripts.request(conn, namespace, "w", action="pause", by="ctl", request_id="call-1")
    again = scripts.request(conn, namespace, "w", action="pause", by="ctl", request_id="call-1")
    assert (first.refused, first.seq) == (again.refused, again.seq) == ("", 1)
    other = scripts.request(conn, namespace, "w", action="pause", by="ctl", request_id="call-2")
    assert other.refused == "conflict"
    assert client.redis.hget(keys.proc(namespace, "w"), "request_seq") == "1"


def test_a_lost_reply_is_retried_without_a_conflict(spawner, redis_server, client, namespace):
    from proxy import ReplyDroppingProxy

    spawner.worker(redis_server.url, namespace, "w", "--hold").wait_ready()
    proxy = ReplyDroppingProxy(redis_server.port, marker=b"PUBLISH")
    try:
        with VaultClient(proxy.url, namespace) as via_proxy:
            assert via_proxy.pause_execution("w") == 1
        assert proxy.fired.is_set()
        assert client.redis.hget(keys.proc(namespace, "w"), "request_seq") == "1"
        assert client.get_process("w").interrupt_action == "pause"
    finally:
        proxy.close()
