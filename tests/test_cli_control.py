"""``stop``, ``pause`` and ``resume`` on several processes: names, filters, the
confirmation, one pipeline (``VaultClient.request_many``) and what is printed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from clitools import Cli, fake_process
from helpers import Spawner

from tablevault_redis import ConflictError, NotFoundError, ValidationError, VaultClient, keys
from tablevault_redis import client as client_module
from tablevault_redis.connection import Connection


@pytest.fixture
def cli(redis_url: str, namespace: str) -> Cli:
    return Cli(redis_url, namespace)


def pending(client: VaultClient) -> dict[str, str | None]:
    return {p.name: p.interrupt_action for p in client.list_processes()}


def test_request_many_answers_per_name(client: VaultClient, conn: Connection, namespace: str):
    fake_process(conn, namespace, "a")
    fake_process(conn, namespace, "b")
    client.stop_execution("b")
    a, b, nope = client.request_many("stop", ["a", "b", "nope"])
    assert isinstance(a, int) and a >= 1
    assert isinstance(b, ConflictError) and isinstance(nope, NotFoundError)
    assert pending(client) == {"a": "stop", "b": "stop"}
    assert client.request_many("pause", []) == []
    with pytest.raises(ValidationError, match="action must be one of"):
        client.request_many("kill", ["a"])
    with pytest.raises(ValidationError, match="not a string"):
        client.request_many("stop", "a")
    with pytest.raises(ValidationError):
        client.request_many("stop", ["a{b}"])


def test_request_many_in_bulk_calls_answers_per_name(
    client: VaultClient, conn: Connection, namespace: str, monkeypatch: pytest.MonkeyPatch
):
    """Names go out in script calls of ``_BULK`` each; every name gets its own answer,
    in order, whichever call it was in."""
    monkeypatch.setattr(client_module, "_BULK", 2)
    for name in ("a", "b", "c", "d"):
        fake_process(conn, namespace, name)
    client.stop_execution("b")
    conn.client.hset(keys.proc(namespace, "c"), "status", "completed")
    conn.client.delete(keys.alive(namespace, "d"))
    a, b, nope, c, d, a_again = client.request_many("stop", ["a", "b", "nope", "c", "d", "a"])
    assert a == 1
    assert isinstance(b, ConflictError) and isinstance(nope, NotFoundError)
    assert isinstance(c, ValidationError) and "ended (status completed)" in str(c)
    assert isinstance(d, ValidationError) and "not alive" in str(d)
    assert isinstance(a_again, ConflictError)  # asked earlier in the same call
    assert pending(client) == {"a": "stop", "b": "stop", "c": None, "d": None}


def test_request_many_in_bulk_loads_the_script_on_a_server_without_it(
    client: VaultClient, conn: Connection, namespace: str, monkeypatch: pytest.MonkeyPatch
):
    """The bulk calls are streamed by SHA; a server that lost its scripts (restarted,
    flushed) gets them again, and every name still gets one request."""
    monkeypatch.setattr(client_module, "_BULK", 2)
    for name in ("a", "b", "c"):
        fake_process(conn, namespace, name)
    conn.client.script_flush()
    assert client.request_many("pause", ["a", "b", "c"]) == [1, 1, 1]
    assert client.request_many("stop", ["a", "b", "c"]) == [2, 2, 2]  # the script is back
    assert pending(client) == {"a": "stop", "b": "stop", "c": "stop"}


def test_request_many_retried_after_a_lost_reply(
    redis_server: Any, client: VaultClient, conn: Connection, namespace: str
):
    """The bulk call's reply is lost with its connection: the retry, with the same
    request ids, gets the first answers instead of conflicts with itself."""
    from proxy import ReplyDroppingProxy

    for name in ("a", "b"):
        fake_process(conn, namespace, name)
    proxy = ReplyDroppingProxy(redis_server.port, marker=b"PUBLISH")
    try:
        with VaultClient(proxy.url, namespace) as via_proxy:
            assert via_proxy.request_many("pause", ["a", "b"]) == [1, 1]
        assert proxy.fired.is_set()
    finally:
        proxy.close()
    assert pending(client) == {"a": "pause", "b": "pause"}
    assert conn.client.llen(keys.requests(namespace, "a")) == 1


def test_several_names(cli: Cli, conn: Connection, client: VaultClient, namespace: str):
    for name in ("a", "b", "c"):
        fake_process(conn, namespace, name)
    out = cli.ok("pause", "a", "b")
    assert "pause requested for process 'a'" in out and "process 'b'" in out
    assert pending(client) == {"a": "pause", "b": "pause", "c": None}
    rows = json.loads(cli.ok("resume", "a", "b", "--json"))
    assert [(r["process"], r["status"]) for r in rows] == [("a", "running"), ("b", "running")]
    refused = cli("stop", "c", "nope")
    assert refused.returncode == 1 and "process 'c'" in refused.stdout
    assert "no process named 'nope'" in refused.stderr
    assert pending(client)["c"] == "stop"


def test_filters_select_live_processes_it_applies_to(
    cli: Cli, conn: Connection, client: VaultClient, namespace: str
):
    fake_process(conn, namespace, "root", user_id="ann")
    fake_process(conn, namespace, "kid1", parent="root", user_id="bob")
    fake_process(conn, namespace, "kid2", parent="root", user_id="ann")
    fake_process(conn, namespace, "other", user_id="bob")
    rows = json.loads(cli.ok("pause", "--parent", "root", "--user", "bob", "--yes", "--json"))
    assert [r["process"] for r in rows] == ["kid1"]
    rows = json.loads(cli.ok("pause", "--user", "ann", "--yes", "--json"))
    assert [r["process"] for r in rows] == ["root", "kid2"]
    # resume selects the processes that are paused or asked to pause
    rows = json.loads(cli.ok("resume", "--all", "--yes", "--json"))
    assert sorted(r["process"] for r in rows) == ["kid1", "kid2", "root"]
    assert set(pending(client).values()) == {None}
    assert json.loads(cli.ok("stop", "--status", "paused", "--yes", "--json")) == []


def test_all_asks_first(cli: Cli, conn: Connection, client: VaultClient, namespace: str):
    fake_process(conn, namespace, "a")
    fake_process(conn, namespace, "b")
    declined = cli("stop", "--all", input="n\n")
    assert declined.returncode == 1 and "stop 2 processes (a, b)?" in declined.stderr
    assert "nothing sent" in declined.stderr and "--yes" in declined.stderr
    no_terminal = cli("stop", "--all")  # nobody to ask: nothing is sent
    assert no_terminal.returncode == 1 and "nothing sent" in no_terminal.stderr
    assert set(pending(client).values()) == {None}
    cli.ok("stop", "--all", input="y\n")
    assert pending(client) == {"a": "stop", "b": "stop"}


def test_names_and_filters_do_not_mix(cli: Cli, conn: Connection, namespace: str):
    fake_process(conn, namespace, "a")
    mixed = cli("stop", "a", "--user", "u")
    assert mixed.returncode == 2 and "not both" in mixed.stderr
    nothing = cli("stop")
    assert nothing.returncode == 2 and "--all" in nothing.stderr
    assert cli("stop", "a{b}").returncode == 2


@pytest.mark.slow
def test_stop_all_waits_for_real_workers(
    spawner: Spawner, cli: Cli, client: VaultClient, redis_url: str, namespace: str
):
    workers = [spawner.worker(redis_url, namespace, f"w{i}").wait_ready() for i in range(3)]
    rows = json.loads(cli.ok("stop", "--all", "--yes", "--wait", "--timeout", "20", "--json"))
    assert sorted((r["process"], r["status"], r["waited"]) for r in rows) == [
        (f"w{i}", "stopped", True) for i in range(3)
    ]
    assert all(w.wait_exit() == 0 for w in workers)
    assert {p.status for p in client.list_processes()} == {"stopped"}
