"""What a process's life looks like from outside and on its own stderr, with real
worker processes: a kill -9 seen as crashed without a cleanup, a closed terminal
(SIGHUP) as a stop, the one-line notices, withdrawing a request and recording one
that no checkpoint reached, a stop in a thread, and Vault() in spawned children."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
from helpers import SCRIPTS, child_env, wait_judgeable, wait_until
from test_cli import Cli

from tablevault_redis import ConflictError, ValidationError, VaultClient, keys
from tablevault_redis.events import code_items
from tablevault_redis.models import ITEM_DIED_ERROR

pytestmark = pytest.mark.slow  # every test here starts subprocesses

FAST_HB = ("--heartbeat", "0.2", "0.8")


@pytest.fixture
def cli(redis_url: str, namespace: str) -> Cli:
    return Cli(redis_url, namespace)


def scenario(spawner, redis_url, namespace, name, mode):
    return spawner.worker(redis_url, namespace, name, mode, script="scenario.py").wait_ready()


# --------------------------------------------------------------------------- crashes


def test_kill_9_reads_as_crashed_everywhere_without_a_cleanup(
    spawner, client: VaultClient, cli: Cli, redis_url, namespace
):
    w = spawner.worker(redis_url, namespace, "w", *FAST_HB).wait_ready()
    w.advancing()
    w.kill()
    killed_at = time.time()
    info = wait_until(
        lambda: (p := client.get_process("w")).status == "crashed" and p,
        timeout=0.8 + 3,
        what="the heartbeat to expire",
    )
    # Ended when it was last seen alive, not when someone looked.
    last_seen = info.heartbeat_at or info.started_at  # no beat yet: claiming the name
    assert info.ended_at == last_seen and info.ended_at <= killed_at
    [item] = client.get_code_items("w")
    assert (item.status, item.error, item.ended_at) == ("crashed", ITEM_DIED_ERROR, info.ended_at)
    assert client.query_item_content("w", 0)["status"] == "crashed"
    assert client.query_item_list("w")["status"] == "crashed"
    assert [i.status for i in code_items(client.code_events("w"), info)] == ["crashed"]
    [listed] = [p for p in client.list_processes() if p.name == "w"]
    assert listed.status == "crashed" and listed.ended_at == info.ended_at
    assert [p["status"] for p in cli.json("ps", "--all")] == ["crashed"]
    assert [p["status"] for p in cli.json("ps")] == ["crashed"]  # a recent crash shows
    shown = cli.json("show", "w")
    assert shown["process"]["status"] == "crashed"
    assert shown["code_items"][0]["status"] == "crashed"
    assert "crashed" in cli.ok("logs", "w")
    time.sleep(0.3)  # the end time does not move while time passes
    assert client.get_process("w").ended_at == info.ended_at
    # A cleanup later writes the same status and end time into the record.
    wait_judgeable(client, ttl=0.8, interval=0.2)
    assert client.vault_cleanup(interval=0).crashed == ["w"]
    after = client.get_process("w")
    assert (after.status, after.ended_at) == ("crashed", info.ended_at)
    assert client.get_code_items("w")[0].ended_at == info.ended_at


# --------------------------------------------------------------------------- SIGHUP


def test_sighup_is_a_stop_with_finally_blocks(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "w").wait_ready()
    w.advancing()
    w.signal(signal.SIGHUP)
    assert w.wait_exit() == 128 + signal.SIGHUP
    info = client.get_process("w")
    assert (info.status, info.stopped_by) == ("stopped", "SIGHUP")
    assert w.markers()[-2:] == ["finally", "atexit"]
    assert "tablevault-redis: SIGHUP received; stopping" in w.output()


def test_a_second_hangup_does_not_break_off_the_finally_block(
    spawner, client, redis_url, namespace
):
    w = scenario(spawner, redis_url, namespace, "w", "linger")
    w.signal(signal.SIGHUP)
    wait_until(lambda: "finally" in w.markers(), what="the stop to reach the finally block")
    w.signal(signal.SIGHUP)  # pending before the release below can be seen: handled first
    w.release()
    assert w.wait_exit() == 128 + signal.SIGHUP
    assert w.markers()[-2:] == ["finally", "released"]
    assert "SIGHUP received while stopping for SIGHUP; ignored" in w.output()
    info = client.get_process("w")
    assert (info.status, info.stopped_by) == ("stopped", "SIGHUP")


def test_own_sighup_handler_is_left_alone(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "w", "--own-sighup").wait_ready()
    w.signal(signal.SIGHUP)
    assert w.wait_exit() == 7
    assert "own-handler" in w.markers()
    assert client.get_process("w").status == "completed"


def test_closing_the_terminal_stops_the_program(client, redis_url, namespace, tmp_path):
    """A real terminal: the program is the session leader on a pty, which is closed."""
    workdir = tmp_path / "w"
    workdir.mkdir()
    term = pexpect.spawn(
        sys.executable,
        [str(SCRIPTS / "worker.py"), "tty", str(workdir)],
        env=child_env(redis_url, namespace),
        timeout=30,
    )
    try:
        wait_until(lambda: (workdir / "progress").exists(), timeout=20, what="the worker")
        # Closing the terminal hangs it up: the kernel sends SIGHUP. (pexpect's close()
        # would follow up with SIGINT and SIGKILL after 0.1 s: too soon under load.)
        term.ptyproc.fileobj.close()
        term.ptyproc.closed = True
        wait_until(lambda: not term.isalive(), timeout=20, what="the program to exit")
        assert term.signalstatus is None and term.exitstatus == 128 + signal.SIGHUP
        info = client.get_process("tty")
        assert (info.status, info.stopped_by) == ("stopped", "SIGHUP")
        assert "finally" in (workdir / "markers").read_text().split()
    finally:
        if term.isalive():
            term.terminate(force=True)


# --------------------------------------------------------------------------- notices


def test_pause_resume_and_stop_say_so_on_stderr(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "w").wait_ready()
    w.advancing()
    client.pause_execution("w", wait=True, timeout=5)
    client.resume_execution("w", wait=True, timeout=5)
    client.stop_execution("w", wait=True, timeout=5)
    assert w.wait_exit() == 0
    me = client.requester
    lines = [line for line in w.output().splitlines() if line.startswith("tablevault-redis:")]
    assert lines == [
        f"tablevault-redis: paused by {me} at a checkpoint; waiting for resume",
        "tablevault-redis: resumed; running again",
        f"tablevault-redis: stopped by {me} at a checkpoint; the program ends "
        "(finally blocks and atexit handlers run)",
    ]


# --------------------------------------------------------------------------- requests


def test_a_stop_no_checkpoint_reached_is_recorded(spawner, client, redis_url, namespace):
    w = scenario(spawner, redis_url, namespace, "w", "no-checkpoint")
    client.stop_execution("w")
    w.release()
    assert w.wait_exit() == 0
    info = client.get_process("w")
    assert (info.status, info.stopped_by) == ("completed", None)
    assert (info.unreached_action, info.unreached_by) == ("stop", client.requester)
    assert info.unreached_at and info.started_at < info.unreached_at <= info.ended_at


def test_withdraw_a_pending_stop(spawner, client, cli: Cli, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "w", "--hold").wait_ready()  # no checkpoint yet
    client.stop_execution("w")
    done = client.withdraw_request("w")
    assert (done.action, done.by) == ("stop", client.requester)
    with pytest.raises(ValidationError, match="nothing to withdraw: no stop or pause"):
        client.withdraw_request("w")
    client.pause_execution("w")
    out = cli.ok("withdraw", "w")
    assert out.startswith("withdrew the pause request for process 'w' (from client:")
    refused = cli("withdraw", "w")
    assert refused.returncode == 1 and "nothing to withdraw" in refused.stderr
    assert "Traceback" not in refused.stderr
    w.release()
    w.advancing()  # neither the stop nor the pause is left: checkpoints let it run
    info = client.get_process("w")
    assert (info.status, info.interrupt_action) == ("running", None)
    client.pause_execution("w", wait=True, timeout=5)
    with pytest.raises(ConflictError, match="already acted on it and is paused"):
        client.withdraw_request("w")
    client.resume_execution("w", wait=True, timeout=5)
    w.advancing()


def test_a_stop_acted_on_cannot_be_withdrawn(spawner, client, redis_url, namespace):
    w = scenario(spawner, redis_url, namespace, "w", "linger")
    client.stop_execution("w")
    wait_until(lambda: "finally" in w.markers(), what="the stop to be raised")

    # The checkpoint's "stopping" acknowledgement is written in the background.
    wait_until(
        lambda: client.redis.hget(keys.proc(namespace, "w"), "stopping_seq") == "1",
        what="the stop to be acknowledged",
    )
    with pytest.raises(ConflictError, match="already acted on it and is stopping"):
        client.withdraw_request("w")
    w.release()
    assert w.wait_exit() == 0
    info = client.get_process("w")
    assert (info.status, info.unreached_action) == ("stopped", None)
    with pytest.raises(ValidationError, match="has ended"):
        client.withdraw_request("w")


def test_stop_wait_in_the_cli_says_what_happened(spawner, cli: Cli, redis_url, namespace):
    spawner.worker(redis_url, namespace, "w").wait_ready()
    out = cli.ok("stop", "w", "--wait", "--timeout", "10")
    assert "acted on request 1; it stopped (stopped by client:" in out


# --------------------------------------------------------------------------- threads


def test_a_stop_in_a_thread_is_one_line(spawner, client, redis_url, namespace):
    w = scenario(spawner, redis_url, namespace, "w", "thread")
    client.stop_execution("w")
    assert w.wait_exit(20) == 0
    out = w.output()
    assert "Exception in thread" not in out and "Traceback" not in out
    assert "in thread 'looper'; this thread ends" in out
    assert "thread-ended" in w.markers()  # then the main thread's checkpoint stopped it
    assert client.get_process("w").status == "stopped"


# --------------------------------------------------------------------------- spawn


def test_an_unguarded_vault_in_a_spawned_child_fails_once(spawner, client, redis_url, namespace):
    w = scenario(spawner, redis_url, namespace, "w", "spawn")
    w.release()
    assert w.wait_exit(60) == 0
    assert "child-exit=1" in w.markers()
    out = w.output()
    assert "Traceback" not in out
    [line] = [ln for ln in out.splitlines() if ln.strip()]
    assert "multiprocessing child" in line and "if __name__ == '__main__':" in line
    assert client.get_process("w").status == "completed"  # the parent's name was not touched


def test_a_guarded_vault_in_a_spawned_child_works(client, redis_url, namespace, tmp_path):
    script = tmp_path / "guarded.py"
    script.write_text(
        "import multiprocessing, os\n"
        "from tablevault_redis import Vault\n"
        "NS = os.environ['TEST_NAMESPACE']\n"
        "def work():\n"
        "    Vault('tester', 'child', namespace=NS).close()\n"
        "if __name__ == '__main__':\n"
        "    vault = Vault('tester', 'parent', namespace=NS)\n"
        "    p = multiprocessing.get_context('spawn').Process(target=work)\n"
        "    p.start(); p.join(60)\n"
        "    print('child exit', p.exitcode)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        env=child_env(redis_url, namespace),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert "child exit 0" in done.stdout
    assert client.get_process("child").status == "completed"
    assert client.get_process("child").parent_process_name == "parent"
