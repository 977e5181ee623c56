"""``request_many``, the request script for many processes in one call: for every
branch of ``request`` (tests/test_lua_process.py), the bulk call on one name leaves the
same reply, keys and notification as ``request``; then several names in one call,
a retried call, and the call's own errors. Through ``tablevault_redis.scripts``; no
worker processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from test_lua_process import CORRUPT_REQUESTS, NAME, corrupt, kill, register, set_record

from tablevault_redis import keys, scripts
from tablevault_redis.connection import Connection
from tablevault_redis.replies import RequestReply

Setup = Callable[[Connection, str], None]


def single(conn: Connection, ns: str, action: str, request_id: str, by: str) -> RequestReply:
    return scripts.request(conn, ns, NAME, action=action, by=by, request_id=request_id)


def bulk(conn: Connection, ns: str, action: str, request_id: str, by: str) -> RequestReply:
    (reply,) = scripts.request_many(
        conn, ns, [NAME], action=action, by=by, request_ids=[request_id]
    )
    return reply


def asked(action: str, request_id: str = "setup", by: str = "first") -> Setup:
    """A setup step: an earlier request, through the single-name script."""

    def ask(conn: Connection, ns: str) -> None:
        single(conn, ns, action, request_id, by)

    return ask


def steps(*setups: Setup) -> Setup:
    def run(conn: Connection, ns: str) -> None:
        for setup in setups:
            setup(conn, ns)

    return run


def registered(conn: Connection, ns: str) -> None:
    register(conn, ns)


def paused(conn: Connection, ns: str) -> None:
    set_record(conn, ns, status="paused")


def ended(conn: Connection, ns: str) -> None:
    set_record(conn, ns, status="failed")


def history_not_a_list(conn: Connection, ns: str) -> None:
    conn.client.set(keys.requests(ns, NAME), "not a list")


def forged_by(conn: Connection, ns: str) -> None:
    set_record(conn, ns, request_seq="4")
    raw = json.dumps({"seq": 4, "action": "pause", "by": {"not": "a name"}, "epoch": "E1"})
    conn.client.set(keys.request(ns, NAME), raw)


def corrupted(what: str) -> Setup:
    return lambda conn, ns: corrupt(conn, ns, what)


def nothing(conn: Connection, ns: str) -> None:
    pass


def not_a_hash(conn: Connection, ns: str) -> None:
    conn.client.set(keys.proc(ns, NAME), "x")


# (setup, action, request id of the call under test)
CASES: dict[str, tuple[Setup, str, str]] = {
    "unknown process": (nothing, "stop", "r"),
    "record not a hash": (not_a_hash, "stop", "r"),
    "record without a status": (lambda c, ns: set_record(c, ns, name=NAME), "pause", "r"),
    "ended": (steps(registered, ended), "pause", "r"),
    "not alive": (steps(registered, kill), "stop", "r"),
    "heartbeat not a string": (steps(registered, corrupted("alive a list")), "stop", "r"),
    "stop": (registered, "stop", "r"),
    "pause": (registered, "pause", "r"),
    "stop over a pending pause": (steps(registered, asked("pause")), "stop", "r"),
    "stop conflicts with a stop": (steps(registered, asked("stop")), "stop", "r"),
    "pause conflicts with a stop": (steps(registered, asked("stop")), "pause", "r"),
    "pause conflicts with a pause": (steps(registered, asked("pause")), "pause", "r"),
    "resume conflicts with a stop": (steps(registered, asked("stop")), "resume", "r"),
    "resume clears a pause": (steps(registered, asked("pause"), paused), "resume", "r"),
    "resume of a running process": (registered, "resume", "r"),
    "resume on its way": (
        steps(registered, asked("pause"), paused, asked("resume", "first resume")),
        "resume",
        "r",
    ),
    "retried with its id": (steps(registered, asked("pause", "same")), "pause", "same"),
    "retried with its id after it ended": (
        steps(registered, asked("stop", "same"), ended),
        "stop",
        "same",
    ),
    "history not a list": (steps(registered, history_not_a_list), "pause", "r"),
    "conflict names no forged type": (steps(registered, forged_by), "pause", "r"),
    **{
        f"corrupt: {what}": (steps(registered, corrupted(what)), "stop", "r")
        for what in CORRUPT_REQUESTS
    },
}


def dump(conn: Connection, key: str) -> Any:
    """A key's type and value, request times masked (each call stamps its own)."""
    c = conn.client
    kind = c.type(key)
    if kind == "string":
        return kind, masked(c.get(key))
    if kind == "hash":
        return kind, {k: v for k, v in c.hgetall(key).items() if k != "interrupt_requested_at"}
    if kind == "list":
        return kind, [masked(v) for v in c.lrange(key, 0, -1)]
    return kind, None


def masked(raw: str) -> Any:
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, dict):
        value.pop("at", None)
    return value


def outcome(
    conn: Connection, ns: str, case: tuple[Setup, str, str], call: Callable[..., RequestReply]
) -> tuple[Any, ...]:
    """The reply, every key the request touches and what it published."""
    setup, action, request_id = case
    setup(conn, ns)
    channel = keys.channel(ns, NAME)
    sub = conn.client.pubsub()
    sub.subscribe(channel)
    try:
        assert sub.get_message(timeout=5)["type"] == "subscribe"
        reply = call(conn, ns, action, request_id, "alice")
        conn.client.publish(channel, "end")  # everything before it came from the call
        published = []
        while (message := sub.get_message(timeout=5)) and message["data"] != "end":
            published.append(message["data"])
    finally:
        sub.close()
    touched = (keys.proc, keys.request, keys.alive, keys.requests)
    return reply, published, [dump(conn, key(ns, NAME)) for key in touched]


@pytest.mark.parametrize("case", list(CASES))
def test_one_name_in_bulk_is_what_request_does(conn: Connection, namespace: str, case: str):
    expected = outcome(conn, namespace, CASES[case], single)
    got = outcome(conn, namespace + "b", CASES[case], bulk)
    assert got == expected
    if case in ("stop", "stop over a pending pause", "resume clears a pause"):
        assert expected[1], "a request that was written is announced"


# --------------------------------------------------------------------------- many names


def names_in(conn: Connection, ns: str) -> list[str]:
    """Processes of every kind a request meets: running, asked already, missing,
    ended, not alive, paused."""
    for name in ("run", "asked", "ended", "dead", "paused"):
        fields = {"name": name, "heartbeat_token": "T1", "epoch": "E1"}
        scripts.register(conn, ns, name, token="T1", ttl=60, dead_holder="", now=1.0, fields=fields)
    scripts.request(conn, ns, "asked", action="stop", by="first", request_id="x")
    conn.client.hset(keys.proc(ns, "ended"), "status", "completed")
    conn.client.delete(keys.alive(ns, "dead"))
    conn.client.hset(keys.proc(ns, "paused"), "status", "paused")
    return ["run", "asked", "missing", "ended", "dead", "paused"]


def test_many_names_answered_in_order(conn: Connection, namespace: str) -> None:
    names = names_in(conn, namespace)
    ids = [f"id-{name}" for name in names]
    replies = scripts.request_many(conn, namespace, names, action="stop", by="bob", request_ids=ids)
    assert replies == [
        (1, "running", "", "", ""),
        (0, "", "conflict", "stop", "first"),
        (0, "", "not_found", "", ""),
        (0, "", "ended", "completed", ""),
        (0, "", "not_alive", "running", ""),
        (1, "paused", "", "", ""),
    ]
    for name in ("run", "paused"):
        stored = json.loads(conn.client.get(keys.request(namespace, name)))
        assert (stored["action"], stored["by"], stored["seq"]) == ("stop", "bob", 1)
    again = scripts.request_many(conn, namespace, names, action="stop", by="bob", request_ids=ids)
    assert again == replies[:1] + [(0, "", "conflict", "stop", "first")] + replies[2:]
    assert conn.client.llen(keys.requests(namespace, "run")) == 1  # the retry added nothing


def test_a_name_twice_in_one_call_is_asked_twice(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    replies = scripts.request_many(
        conn, namespace, [NAME, NAME], action="pause", by="c", request_ids=["a", "b"]
    )
    assert replies == [(1, "running", "", "", ""), (0, "", "conflict", "pause", "c")]


def test_no_names(conn: Connection, namespace: str) -> None:
    assert scripts.request_many(conn, namespace, [], action="stop", by="c", request_ids=[]) == []


def test_the_call_itself_refused(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    with pytest.raises(redis.ResponseError, match="unknown action reboot"):
        scripts.request_many(conn, namespace, [NAME], action="reboot", by="c", request_ids=["a"])
    with pytest.raises(redis.ResponseError, match="five keys per request id"):
        scripts.request_many(conn, namespace, [NAME], action="stop", by="c", request_ids=[])
    assert not conn.client.exists(keys.request(namespace, NAME))
