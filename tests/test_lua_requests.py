"""Branches of the request life cycle's Lua steps: ``withdraw``, the ``stopping``
acknowledgement that makes a stop final, and what ``finish`` records about a
request no checkpoint reached (and when a cleaner dates a crash), called through
their functions in ``tablevault_redis.scripts``; no worker processes."""

from __future__ import annotations

import json

from test_lua_process import NAME, T0, ask, finish, kill, record, register, set_record

from tablevault_redis import keys, scripts
from tablevault_redis.connection import Connection
from tablevault_redis.replies import Withdrawn


def withdraw(conn: Connection, ns: str, by: str = "undo") -> Withdrawn:
    return scripts.withdraw(conn, ns, NAME, by=by)


def test_withdraw_a_pending_stop_clears_it_and_announces_a_new_seq(
    conn: Connection, namespace: str
) -> None:
    register(conn, namespace)
    seq = ask(conn, namespace, "stop", by="carol").seq
    pubsub = conn.client.pubsub()
    pubsub.subscribe(keys.channel(namespace, NAME))
    pubsub.get_message(timeout=1)  # the subscription's confirmation
    reply = withdraw(conn, namespace)
    assert (reply.seq, reply.action, reply.by, reply.refused) == (seq + 1, "stop", "carol", "")
    assert reply.requested_at is not None and reply.requested_at > 0
    rec = record(conn, namespace)
    assert (rec["request_seq"], rec["interrupt_action"], rec["status"]) == (
        str(seq + 1),
        "",
        "running",
    )
    assert (rec["withdrawn_action"], rec["withdrawn_request_by"], rec["withdrawn_by"]) == (
        "stop",
        "carol",
        "undo",
    )
    assert not conn.client.exists(keys.request(namespace, NAME))
    message = pubsub.get_message(timeout=1)
    assert json.loads(message["data"]) == {"seq": seq + 1, "action": "withdraw", "by": "undo"}
    pubsub.close()
    assert withdraw(conn, namespace).refused == "nothing_pending"  # once


def test_withdraw_a_pause_not_reached_yet(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    ask(conn, namespace, "pause", by="dave")
    assert withdraw(conn, namespace)[1:3] == ("pause", "dave")
    assert ask(conn, namespace, "pause").refused == ""  # a new request may follow


def test_withdraw_refuses_what_was_acted_on(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    seq = ask(conn, namespace, "pause", by="erin").seq
    scripts.ack(conn, namespace, NAME, kind="paused", seq=seq)
    assert withdraw(conn, namespace)[4:] == ("acted_on", "pause")
    ask(conn, namespace, "resume")
    scripts.ack(conn, namespace, NAME, kind="running", seq=seq + 1)
    seq = ask(conn, namespace, "stop", by="fred").seq
    assert scripts.ack(conn, namespace, NAME, kind="stopping", seq=seq - 1) == "superseded"
    assert "stopping_seq" not in record(conn, namespace)  # an older seq changes nothing
    scripts.ack(conn, namespace, NAME, kind="stopping", seq=seq)
    reply = withdraw(conn, namespace)
    assert (reply.refused, reply.detail, reply.by) == ("acted_on", "stop", "fred")
    assert conn.client.exists(keys.request(namespace, NAME))  # the stop stands


def test_stopping_is_final_unless_a_withdrawal_came_first(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    seq = ask(conn, namespace, "stop", by="gil").seq
    withdraw(conn, namespace)
    assert scripts.ack(conn, namespace, NAME, kind="stopping", seq=seq) == "superseded"
    ask(conn, namespace, "pause", by="gil")  # a request after the withdrawal
    assert scripts.ack(conn, namespace, NAME, kind="stopping", seq=seq) == "superseded"
    assert "stopping_seq" not in record(conn, namespace)
    withdraw(conn, namespace)
    seq = ask(conn, namespace, "stop", by="gil").seq
    assert scripts.ack(conn, namespace, NAME, kind="stopping", seq=seq) == "stopping"
    assert record(conn, namespace)["stopping_seq"] == str(seq)
    assert withdraw(conn, namespace).refused == "acted_on"


def test_withdraw_refuses_a_missing_or_ended_process(conn: Connection, namespace: str) -> None:
    assert withdraw(conn, namespace).refused == "not_found"
    register(conn, namespace)
    assert withdraw(conn, namespace)[4:] == ("nothing_pending", "running")
    finish(conn, namespace)
    assert withdraw(conn, namespace)[4:] == ("ended", "completed")


def test_withdraw_survives_a_malformed_request(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    conn.client.set(keys.request(namespace, NAME), "not json")
    assert withdraw(conn, namespace).action == "unknown"
    assert not conn.client.exists(keys.request(namespace, NAME))


def test_finish_records_a_stop_no_checkpoint_reached(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    ask(conn, namespace, "stop", by="gina")
    assert finish(conn, namespace, "completed") == ("set", "completed")
    rec = record(conn, namespace)
    assert (rec["unreached_action"], rec["unreached_by"], rec["stopped_by"]) == ("stop", "gina", "")
    assert float(rec["unreached_at"]) > 0
    register(conn, namespace, "T2", dead_holder="T1")  # a new run starts clean
    assert record(conn, namespace)["unreached_action"] == ""


def test_finish_does_not_call_a_stop_acted_on_unreached(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    seq = ask(conn, namespace, "stop", by="hal").seq
    scripts.ack(conn, namespace, NAME, kind="stopping", seq=seq)
    finish(conn, namespace, "stopped", stopped_by="hal")
    assert not record(conn, namespace).get("unreached_action")


def test_finish_survives_a_malformed_request(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    conn.client.set(keys.request(namespace, NAME), "[1, 2")
    assert finish(conn, namespace) == ("set", "completed")
    assert not record(conn, namespace).get("unreached_action")


def test_a_cleaner_dates_a_crash_at_the_last_heartbeat(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    set_record(conn, namespace, open_code="0", heartbeat_at=repr(T0 + 2))
    kill(conn, namespace)
    assert finish(conn, namespace, "crashed", token="", only_if_expired=True)[0] == "set"
    rec = record(conn, namespace)
    assert rec["ended_at"] == repr(T0 + 2)  # not the cleaner's clock (T0 + 5)
    [close] = [f for _i, f in conn.client.xrange(keys.code(namespace, NAME))]
    assert close["ended_at"] == repr(T0 + 2)


# --------------------------------------------------------------------------- history


def history(conn: Connection, ns: str) -> list[dict[str, object]]:
    """The request history as stored, oldest first."""
    raw = conn.client.lrange(keys.requests(ns, NAME), 0, -1)
    return [json.loads(text) for text in reversed(raw)]


def test_requests_withdrawals_and_steps_are_kept_in_the_history(
    conn: Connection, namespace: str
) -> None:
    register(conn, namespace)
    seq = ask(conn, namespace, "pause", by="ann").seq
    assert scripts.ack(conn, namespace, NAME, kind="paused", seq=seq, by="ann") == "paused"
    # Again: no change, no entry, and a reply that does not say "paused" (a checkpoint
    # verifying an announced pause must not pause on it).
    assert scripts.ack(conn, namespace, NAME, kind="paused", seq=seq) == "unchanged"
    ask(conn, namespace, "resume", by="bob")
    scripts.ack(conn, namespace, NAME, kind="running", seq=seq + 1, by="bob")
    ask(conn, namespace, "pause", by="cy")
    withdraw(conn, namespace, by="dee")
    stop = ask(conn, namespace, "stop", by="eve").seq
    scripts.ack(conn, namespace, NAME, kind="stopping", seq=stop, by="eve")
    scripts.ack(conn, namespace, NAME, kind="stopping", seq=stop, by="eve")  # raised again
    scripts.ack(conn, namespace, NAME, kind="stop_consumed", seq=stop, by="eve")
    ask(conn, namespace, "resume", by="fay")  # refused (not paused): not kept
    got = [(e["event"], e.get("action"), e["seq"], e["by"]) for e in history(conn, namespace)]
    assert got == [
        ("request", "pause", 1, "ann"),
        ("paused", None, 1, "ann"),
        ("request", "resume", 2, "bob"),
        ("running", None, 2, "bob"),
        ("request", "pause", 3, "cy"),
        ("withdraw", "pause", 3, "dee"),
        ("request", "stop", 5, "eve"),
        ("stopping", None, 5, "eve"),
        ("stop_consumed", None, 5, "eve"),
    ]
    assert all(e["run"] == 1 and e["at"] > 0 for e in history(conn, namespace))


def test_the_history_is_capped_and_survives_a_key_of_another_type(
    conn: Connection, namespace: str
) -> None:
    register(conn, namespace)
    conn.client.set(keys.requests(namespace, NAME), "not a list")
    assert ask(conn, namespace, "pause").refused == ""
    assert [e["event"] for e in history(conn, namespace)] == ["request"]
    for _ in range(60):
        ask(conn, namespace, "resume")
        ask(conn, namespace, "pause")
    kept = history(conn, namespace)
    assert len(kept) == 100 and kept[-1]["seq"] == 121  # the newest 100


def test_a_paused_step_for_a_request_the_server_does_not_hold_is_not_recorded(
    conn: Connection, namespace: str
) -> None:
    """What a checkpoint verifying a forged pause notification gets: "unchanged"."""
    register(conn, namespace)
    assert scripts.ack(conn, namespace, NAME, kind="paused", seq=1, by="forger") == "unchanged"
    assert conn.client.hget(keys.proc(namespace, NAME), "status") == "running"
