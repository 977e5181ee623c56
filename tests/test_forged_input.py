"""Property tests (hypothesis) of what any client holding a namespace's keys could
send or write: notification payloads, request-key contents, corrupt records. Nothing
but the library's errors is raised, and control is never lost. In-process, against
the session server: a real Listener and ControlState, the real scripts."""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tablevault_redis import CorruptDataError, TableVaultError, VaultClient, keys, scripts
from tablevault_redis.connection import Connection
from tablevault_redis.control import ControlState
from tablevault_redis.listener import Listener

FIXTURES_OK = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
seqs = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.none()
    | st.booleans()
)
actions = st.sampled_from(["stop", "pause", "resume", "bogus", "", "STOP"]) | st.text(max_size=8)
requests_like = st.fixed_dictionaries(
    {"seq": seqs, "action": actions},
    optional={"by": json_values, "epoch": st.sampled_from(["E1", "", "other"]) | json_values},
)
payloads = (
    requests_like.map(json.dumps)
    | json_values.map(json.dumps)
    | st.text(max_size=60)
    | st.binary(max_size=60)
)


def register(conn: Connection, ns: str, name: str) -> int:
    token = uuid.uuid4().hex
    fields = {"name": name, "heartbeat_token": token, "epoch": "E1", "status": "running"}
    reply = scripts.register(
        conn, ns, name, token=token, ttl=60, dead_holder="", now=1.0, fields=fields
    )
    conn.client.zadd(keys.processes(ns), {name: 1.0})
    return reply.request_seq


@pytest.fixture
def listened(conn: Connection, namespace: str) -> Iterator[tuple[ControlState, Listener]]:
    """A registered process ``p`` with a real listener on its channel."""
    seq = register(conn, namespace, "p")
    state = ControlState(seq, lambda *_: None, epoch="E1")

    def resync() -> None:
        got = scripts.request_state(conn, namespace, "p")
        state.apply_stored(got.request_seq, got.request, got.epoch)

    listener = Listener(conn, keys.channel(namespace, "p"), state, resync, 1.0)
    listener.start()
    assert listener.subscribed.wait(5)
    yield state, listener
    listener.close()


@FIXTURES_OK
@given(payload=payloads)
def test_a_notification_alone_changes_nothing(
    listened: tuple[ControlState, Listener], conn: Connection, namespace: str, payload: Any
) -> None:
    state, _listener = listened
    before = state.held()
    conn.client.publish(keys.channel(namespace, "p"), payload)
    conn.client.publish(keys.channel(namespace, "p"), json.dumps({"seq": 1, "action": "stop"}))
    # A read follows each burst within _MIN_READ_GAP; the state it reads is unchanged.
    probe = scripts.request_state(conn, namespace, "p")
    assert probe.request is None
    assert state.held() == before and state.pending is None


def test_after_forged_notifications_a_real_request_applies(
    listened: tuple[ControlState, Listener], conn: Connection, namespace: str
) -> None:
    state, _listener = listened
    channel = keys.channel(namespace, "p")
    for raw in ('{"seq": 1000000000000000, "action": "resume"}', '{"seq": 1.5, "action": "x"}'):
        conn.client.publish(channel, raw)
    conn.client.publish(channel, json.dumps({"action": "stop", "by": "mallory"}))
    reply = scripts.request(conn, namespace, "p", action="pause", by="ann", request_id="r1")
    wait_until(lambda: state.pending == "pause", 5, what="the real pause")
    assert (state.seq, state.by) == (reply.seq, "ann")
    scripts.request(conn, namespace, "p", action="stop", by="bob", request_id="r2")
    wait_until(lambda: state.pending == "stop", 5, what="the real stop")


# --------------------------------------------------------------------------- request keys


stored_contents = payloads | requests_like.map(json.dumps)
counters = st.integers(min_value=0, max_value=12).map(str) | st.text(max_size=20)


@FIXTURES_OK
@given(content=stored_contents, counter=counters, action=st.sampled_from(["stop", "pause"]))
def test_requests_over_any_stored_state_work_or_refuse_clearly(
    conn: Connection, namespace: str, content: Any, counter: str, action: str
) -> None:
    """Whatever the request key and counter hold, stop/pause/resume either work or
    raise a library error; and a stop always ends up pending (control is not lost)."""
    name = f"p{uuid.uuid4().hex[:8]}"
    register(conn, namespace, name)
    conn.client.hset(keys.proc(namespace, name), "request_seq", counter)
    conn.client.set(keys.request(namespace, name), content)
    client = VaultClient(conn.url, namespace)
    try:
        for act in (action, "resume", "stop"):
            with contextlib.suppress(TableVaultError):
                getattr(client, f"{act}_execution")(name)
        state = scripts.request_state(conn, namespace, name)
        assert state.request is not None and json.loads(state.request)["action"] == "stop"
    finally:
        client.close()


# --------------------------------------------------------------------------- names

names = (
    st.text(max_size=210)
    | st.text(alphabet="ab{}:* \x00\x1f\x7f\u00e9\u540d", max_size=8)
    | st.sampled_from(["x" * 200, "x" * 201, " ", "\t", "a{b", "ns:{ns}:proc:x", "*"])
    | st.binary(max_size=8)
    | st.integers()
    | st.none()
)


def _snapshot(client: VaultClient, namespace: str) -> dict[str, Any]:
    pattern = keys.namespace_pattern(namespace)
    found = sorted(client.redis.scan_iter(match=pattern, count=1000))
    return {k: client.redis.dump(k) for k in found}


@FIXTURES_OK
@given(name=names)
def test_any_name_is_used_or_refused_with_nothing_written(
    client: VaultClient, redis_url: str, namespace: str, name: Any
) -> None:
    """A record list, description, request or namespace of any name works, or raises
    a library error and leaves the namespace exactly as it was."""
    before = _snapshot(client, namespace)
    try:
        client.append_record(name, {"a": 1})
    except TableVaultError:
        assert _snapshot(client, namespace) == before
    else:
        assert client.get_records(name)[-1] == {"a": 1}
        before = _snapshot(client, namespace)
    calls = [
        lambda: client.create_description(name, "words"),
        lambda: client.stop_execution(name),
        lambda: client.get_process(name),
        lambda: client.query_item_content(name),
        lambda: client.query_process_list(code_text=name),
    ]
    for call in calls:
        with contextlib.suppress(TableVaultError):
            call()
            before = _snapshot(client, namespace)  # a success may write
        assert _snapshot(client, namespace) == before
    try:
        other = VaultClient(redis_url, name)
    except TableVaultError:
        return
    with other:
        assert other.list_processes() == []


# --------------------------------------------------------------------------- bad records


def test_one_unreadable_record_never_hides_the_others(
    conn: Connection, client: VaultClient, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("good", "string", "garbage"):
        register(conn, namespace, name)
    conn.client.delete(keys.proc(namespace, "string"))
    conn.client.set(keys.proc(namespace, "string"), "not a hash")
    conn.client.hset(
        keys.proc(namespace, "garbage"),
        mapping={"run": "x", "code_count": "-", "started_at": "soon", "request_seq": "1.5"},
    )
    with caplog.at_level(logging.WARNING, logger="tablevault_redis"):
        names = [p.name for p in client.list_processes()]
        assert [p.name for p in client.list_processes()] == names  # logged once
    assert sorted(names) == ["garbage", "good"]
    warned = [r for r in caplog.records if "'string'" in r.getMessage()]
    assert len(warned) == 1
    with pytest.raises(CorruptDataError, match="'string'"):
        client.get_process("string")
    with pytest.raises(CorruptDataError, match="not a hash"):
        client.stop_execution("string")
    assert client.stop_execution("garbage") == 1  # a corrupt counter starts over
    report = client.vault_cleanup(interval=0)
    assert "string" in report.skipped and report.crashed == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": float("nan")}, "timeout must be >= 0 seconds"),
        ({"timeout": float("inf")}, "timeout must be >= 0 seconds"),
        ({"timeout": -1}, "timeout must be >= 0 seconds"),
        ({"timeout": "5"}, "timeout must be seconds, got '5'"),
        ({"timeout": None}, "timeout must be seconds, got None"),
    ],
)
def test_bad_timeouts_are_refused_before_anything_is_sent(
    client: VaultClient, kwargs: dict[str, Any], message: str
) -> None:
    for act in ("stop", "pause", "resume"):
        with pytest.raises(TableVaultError, match=message):
            getattr(client, f"{act}_execution")("nobody", wait=True, **kwargs)


@pytest.mark.parametrize("interval", [float("nan"), float("inf"), -1, "60", None])
def test_bad_cleanup_intervals_are_refused(client: VaultClient, interval: Any) -> None:
    with pytest.raises(TableVaultError, match="interval must be"):
        client.vault_cleanup(interval=interval)


@pytest.mark.parametrize("index", [2**63, -(2**63), 2**53])
def test_indexes_out_of_range_are_refused(client: VaultClient, index: int) -> None:
    client.append_record("metrics", {"a": 1})
    with pytest.raises(TableVaultError, match="index is out of range"):
        client.query_item_content("metrics", index=index)
    with pytest.raises(TableVaultError, match="index is out of range"):
        client.append_record("metrics", {"a": 2}, index=index)
    assert client.query_item_content("metrics") == [{"a": 1}]  # nothing written


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1, 0, "5", True])
@pytest.mark.parametrize("which", ["heartbeat_interval", "heartbeat_ttl"])
def test_bad_heartbeat_settings_are_refused(which: str, bad: Any) -> None:
    from tablevault_redis.vault import _heartbeat_settings

    args = {"heartbeat_interval": 1.0, "heartbeat_ttl": 5.0, which: bad}
    with pytest.raises(TableVaultError, match=which):
        _heartbeat_settings(args["heartbeat_interval"], args["heartbeat_ttl"])
