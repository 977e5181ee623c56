"""What ``ps``, ``show``, ``tree``, ``logs -f``, ``namespaces`` and the errors show, in
process (click's CliRunner) on records written through the script functions."""

from __future__ import annotations

import json
import threading
import time

import pytest
from clitools import Cli, fake_process, invoke, set_fields

from tablevault_redis import NotFoundError, VaultClient, keys, scripts
from tablevault_redis.connection import Connection
from tablevault_redis.models import ProcessInfo

HAS_PROGRESS = "records_written" in ProcessInfo.__dataclass_fields__


@pytest.fixture
def cli(redis_url: str, namespace: str) -> Cli:
    return Cli(redis_url, namespace)


def test_pending_request_and_heartbeat_ages(
    cli: Cli, conn: Connection, client: VaultClient, namespace: str
):
    fake_process(conn, namespace, "train")
    fake_process(conn, namespace, "child", parent="train")
    client.stop_execution("train")
    now = time.time()
    set_fields(conn, namespace, "train", interrupt_requested_at=now - 45, heartbeat_at=now - 3)

    table = cli.ok("ps")
    assert "stop pending 45 s: no checkpoint reached" in table, table
    assert "BEAT" in table and "3 s" in table
    shown = cli.ok("show", "train")
    assert "stop pending 45 s: no checkpoint reached" in shown
    assert "3 s ago" in shown and "heartbeat" in shown and "interrupt_requested_at" in shown
    drawn = cli.ok("tree")
    assert "[stop by client:" in drawn and "pending 45 s: no checkpoint reached" in drawn

    info = json.loads(cli.ok("show", "train", "--json"))["process"]
    assert info["interrupt_requested_at"] == pytest.approx(now - 45)
    assert info["paused_at"] is None


def test_paused_at_in_show(cli: Cli, conn: Connection, client: VaultClient, namespace: str):
    fake_process(conn, namespace, "w")
    seq = client.pause_execution("w")
    assert scripts.ack(conn, namespace, "w", kind="paused", seq=seq, now=time.time() - 125)
    info = client.get_process("w")
    assert info.status == "paused" and info.paused_at is not None
    shown = cli.ok("show", "w")
    assert "paused_at" in shown and "paused 2 min" in shown
    assert "paused 2 min" in cli.ok("ps")
    assert json.loads(cli.ok("show", "w", "--json"))["process"]["paused_at"] == info.paused_at


def test_a_stop_never_reached_and_gaps_are_shown(
    cli: Cli, conn: Connection, client: VaultClient, namespace: str
):
    fake_process(conn, namespace, "w")
    client.stop_execution("w")
    scripts.finish(conn, namespace, "w", status="completed", token="T-w")
    info = client.get_process("w")
    assert (info.status, info.unreached_action) == ("completed", "stop")
    words = "stop requested, never reached a checkpoint"
    assert words in cli.ok("ps", "--all")
    assert f"stop by {client.requester}" in cli.ok("ps", "--all")
    shown = cli.ok("show", "w")
    assert f"stop requested by {client.requester} at " in shown, shown
    assert "never reached a checkpoint" in shown and "unreached_by" in shown
    assert words in cli.ok("tree", "--all")
    followed = cli.ok("logs", "w", "-f")  # ended already: says how, and ends
    assert followed.splitlines()[-1].startswith("# ── process w completed (stop requested by")
    last = json.loads(cli.ok("logs", "w", "-f", "--json").splitlines()[-1])
    assert (last["status"], last["unreached"]) == ("completed", "stop")
    assert json.loads(cli.ok("show", "w", "--json"))["process"]["unreached_action"] == "stop"

    fake_process(conn, namespace, "g")
    now = time.time()
    set_fields(conn, namespace, "g", gaps=2, gap_from=now - 70, gap_to=now - 60)
    shown = cli.ok("show", "g")
    assert "out of reach 2 times; latest " in shown and "(10.0s)" in shown, shown
    assert "never reached" not in shown


@pytest.mark.skipif(not HAS_PROGRESS, reason="ProcessInfo has no record progress fields yet")
def test_records_written_and_last_record(cli: Cli, conn: Connection, namespace: str):
    fake_process(conn, namespace, "w")
    record = json.dumps({"epoch": 7, "loss": 0.25, "note": "x" * 300})
    set_fields(conn, namespace, "w", records_written=12, last_record=record[:200])
    set_fields(conn, namespace, "w", last_record_list="metrics", last_record_at=time.time())
    table = cli.ok("ps")
    assert " 12 " in table and 'metrics: {"epoch": 7, "loss": 0.25' in table
    shown = cli.ok("show", "w")
    assert "12 records written" in shown and '"epoch": 7' in shown
    assert "12 records" in cli.ok("tree")


def test_ps_fits_60_columns(redis_url: str, conn: Connection, namespace: str, client: VaultClient):
    fake_process(conn, namespace, "a-rather-long-process-name")
    fake_process(conn, namespace, "b")
    client.pause_execution("b")
    narrow = Cli(redis_url, namespace, width=60)
    for args in (("ps",), ("ps", "--all"), ("tree",), ("show", "b"), ("namespaces",)):
        out = narrow.ok(*args)
        assert all(len(line) <= 60 for line in out.splitlines()), (args, out)
    table = narrow.ok("ps")
    assert "a-rather-long-proc" in table and "pause pending" in table  # long names wrap
    assert "HOST" not in table  # the where-and-when columns wait for a wider screen


def test_ps_sort_and_status_filter(cli: Cli, conn: Connection, namespace: str, client: VaultClient):
    for name in ("c", "a", "b"):
        fake_process(conn, namespace, name)
    seq = client.pause_execution("b")
    scripts.ack(conn, namespace, "b", kind="paused", seq=seq)
    names = [p["name"] for p in json.loads(cli.ok("ps", "--json", "--sort", "name"))]
    assert names == ["a", "b", "c"]
    assert [p["name"] for p in json.loads(cli.ok("ps", "--json", "--status", "paused"))] == ["b"]
    # an ended status shows ended runs without --all; a status that is none is refused
    scripts.finish(conn, namespace, "c", status="stopped", token="T-c")
    assert [p["name"] for p in json.loads(cli.ok("ps", "--json", "--status", "stopped"))] == ["c"]
    assert "c" not in [p["name"] for p in json.loads(cli.ok("ps", "--json"))]
    for args in (("ps", "--status", "runing"), ("stop", "--status", "stopped", "--yes")):
        refused = cli(*args)
        assert refused.returncode == 2 and "'running'" in refused.stderr, (args, refused)


def test_default_views_keep_a_recent_crash(cli: Cli, conn: Connection, namespace: str):
    for name in ("live", "died", "died-long-ago", "done"):
        fake_process(conn, namespace, name)
    for name in ("died", "died-long-ago"):
        scripts.finish(conn, namespace, name, status="crashed", token=f"T-{name}")
    scripts.finish(conn, namespace, "done", status="completed", token="T-done")
    set_fields(conn, namespace, "died-long-ago", ended_at=time.time() - 2 * 3600)
    rows = {p["name"]: p["status"] for p in json.loads(cli.ok("ps", "--json"))}
    assert rows == {"live": "running", "died": "crashed"}
    assert "crashed" in cli.ok("ps")
    everything = json.loads(cli.ok("ps", "--all", "--json"))
    assert len(everything) == 4
    from tablevault_redis.cli.topview import shown

    procs = VaultClient(cli.url, namespace).list_processes()
    assert [p.name for p in shown(procs, "live", "name", "")] == ["died", "live"]


def test_namespaces_and_the_empty_namespace_hint(redis_url: str, conn: Connection, namespace: str):
    other = namespace + "o"
    fake_process(conn, namespace, "x")
    fake_process(conn, other, "y")
    fake_process(conn, other, "z")
    client = VaultClient(redis_url, namespace + "empty")
    try:
        found = client.list_namespaces()
    finally:
        client.close()
    assert found[namespace] == 1 and found[other] == 2
    listed = {
        r["namespace"]: r["processes"]
        for r in json.loads(invoke("namespaces", "--json", "--url", redis_url).stdout)
    }
    assert listed[namespace] == 1 and listed[other] == 2
    assert other in invoke("namespaces", "--url", redis_url).stdout

    empty = Cli(redis_url, namespace + "empty")("ps")
    first, hint = empty.stderr.strip().splitlines()
    assert empty.returncode == 0 and empty.stdout == "" and first == "no live processes"
    assert f"{other} (2)" in hint and f"{namespace} (1)" in hint and "--namespace" in hint


def test_did_you_mean(cli: Cli, conn: Connection, client: VaultClient, namespace: str):
    fake_process(conn, namespace, "trainer")
    with pytest.raises(NotFoundError, match="did you mean 'trainer'"):
        client.get_process("trainr")
    with pytest.raises(NotFoundError, match="did you mean 'trainer'"):
        client.stop_execution("traner")
    with pytest.raises(NotFoundError) as caught:
        client.get_process("zzz")
    assert "did you mean" not in str(caught.value)
    with pytest.raises(NotFoundError, match="did you mean 'trainer'"):
        client.withdraw_request("trainr")
    names = ("show", "stop", "pause", "resume", "withdraw", "logs", "tree")
    for args in ((command, "trainr") for command in names):
        result = cli(*args)
        assert result.returncode == 1 and "did you mean 'trainer'?" in result.stderr, args


def test_errors_under_json_are_json(cli: Cli, redis_url: str):
    refused = cli("show", "nope", "--json")
    assert refused.returncode == 1 and refused.stdout == ""
    error = json.loads(refused.stderr)
    assert error["code"] == 1 and "no process named 'nope'" in error["error"]
    usage = invoke("ps", "--json", "--namespace", "a{b}", "--url", redis_url)
    assert usage.returncode == 2 and json.loads(usage.stderr)["code"] == 2
    assert "--namespace" in json.loads(usage.stderr)["error"]
    plain = cli("show", "nope")
    assert plain.stderr.startswith("tablevault-redis: error: no process named 'nope'")


def test_cleanup_of_an_unknown_operation_says_so(cli: Cli):
    result = cli("cleanup", "--operation", "123")
    assert result.returncode == 1
    assert "no operation in progress with id 123" in result.stderr


def test_help_shows_boolean_options_as_flags():
    for command in ("ps", "stop", "logs", "show"):
        text = invoke(command, "--help").stdout
        assert "--json " in text and "--no-json" not in text, text


def test_completion_script_and_process_names(cli: Cli, conn: Connection, namespace: str):
    # (bash's script asks bash for its version: a subprocess, so zsh and fish here)
    for shell in ("zsh", "fish"):
        script = invoke("completion", shell)
        assert script.returncode == 0 and "_TABLEVAULT_REDIS_COMPLETE" in script.stdout
    fake_process(conn, namespace, "alpha")
    fake_process(conn, namespace, "beta")
    words = f"tablevault-redis show --url {cli.url} --namespace {namespace} al"
    env = {"_TABLEVAULT_REDIS_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": "6"}
    completed = invoke(env=env)
    assert "alpha" in completed.stdout and "beta" not in completed.stdout, completed


# --------------------------------------------------------------------------- logs -f


def test_follow_shows_status_changes_and_ends_with_the_process(
    cli: Cli, conn: Connection, client: VaultClient, namespace: str
):
    fake_process(conn, namespace, "w")

    def life() -> None:
        time.sleep(0.3)
        seq = client.pause_execution("w")
        scripts.ack(conn, namespace, "w", kind="paused", seq=seq)
        time.sleep(0.8)
        client.resume_execution("w")
        scripts.ack(conn, namespace, "w", kind="running", seq=seq + 1)
        time.sleep(0.8)
        scripts.finish(conn, namespace, "w", status="stopped", stopped_by="someone")

    thread = threading.Thread(target=life)
    thread.start()
    out = cli.ok("logs", "w", "-f")
    thread.join()
    lines = [line for line in out.splitlines() if line.startswith("# ── process w")]
    assert any("paused" in line for line in lines), out
    assert any("running (resumed)" in line for line in lines), out
    assert "stopped by someone" in lines[-1], out


def test_follow_ends_when_the_heartbeat_expires(cli: Cli, conn: Connection, namespace: str):
    fake_process(conn, namespace, "w", ttl=1.0)  # nobody beats: it is seen crashed
    started = time.monotonic()
    out = cli.ok("logs", "w", "-f", "--json")
    assert time.monotonic() - started < 10
    last = json.loads(out.splitlines()[-1])
    assert last["event"] == "status" and last["status"] == "crashed"
    assert not conn.client.exists(keys.alive(namespace, "w"))
