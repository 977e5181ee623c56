"""Each branch of the per-process Lua scripts (register, heartbeat, revive,
request_state, request, ack, finish, clear_request), called through their functions
in ``tablevault_redis.scripts`` on the session server; no worker processes. Corrupt
keys and fields (anything a client holding the namespace's keys could write) are
among the branches."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import redis

from tablevault_redis import keys, scripts
from tablevault_redis.connection import Connection
from tablevault_redis.replies import Held, Revival

NAME = "p"
T0 = 1_700_000_000.0
LATER = T0 + 10  # the start of the live run in the stale-copy cases below


def record(conn: Connection, ns: str, name: str = NAME) -> dict[str, str]:
    return conn.client.hgetall(keys.proc(ns, name))


def code_events(conn: Connection, ns: str, name: str = NAME) -> list[dict[str, str]]:
    return [fields for _id, fields in conn.client.xrange(keys.code(ns, name))]


def register(
    conn: Connection, ns: str, token: str = "T1", dead_holder: str = "", **fields: str
) -> scripts.Registered:
    fields = {"name": NAME, "heartbeat_token": token, "epoch": "E1", **fields}
    return scripts.register(
        conn, ns, NAME, token=token, ttl=60, dead_holder=dead_holder, now=T0, fields=fields
    )


def set_record(conn: Connection, ns: str, **fields: Any) -> None:
    conn.client.hset(keys.proc(ns, NAME), mapping=fields)


def ask(conn: Connection, ns: str, action: str, request_id: str = "", by: str = "ctl") -> Any:
    return scripts.request(
        conn, ns, NAME, action=action, by=by, request_id=request_id or uuid.uuid4().hex
    )


def kill(conn: Connection, ns: str) -> None:
    """The heartbeat expires: the process is not alive any more."""
    conn.client.delete(keys.alive(ns, NAME))


# --------------------------------------------------------------------------- register


def test_register_a_new_name(conn: Connection, namespace: str) -> None:
    conn.client.set(keys.request(namespace, NAME), "stale")
    assert register(conn, namespace, user_id="u") == ("", 1, 0, 0, 0)
    rec = record(conn, namespace)
    assert rec["status"] == "running" and rec["run"] == "1" and rec["user_id"] == "u"
    assert rec["open_code"] == "" and rec["stopped_by"] == ""
    assert conn.client.get(keys.alive(namespace, NAME)) == "T1"
    assert 0 < conn.client.pttl(keys.alive(namespace, NAME)) <= 60_000
    assert not conn.client.exists(keys.request(namespace, NAME))
    assert conn.client.llen(keys.runs(namespace, NAME)) == 0  # no earlier run to keep


def test_register_refuses_a_name_a_live_run_holds(conn: Connection, namespace: str) -> None:
    register(conn, namespace, "T1")
    before = record(conn, namespace)
    assert register(conn, namespace, "T2") == ("T1", 0, 0, 0, 0)
    assert register(conn, namespace, "T2", dead_holder="T9") == ("T1", 0, 0, 0, 0)
    assert record(conn, namespace) == before


def test_register_takes_over_a_verified_dead_holder(conn: Connection, namespace: str) -> None:
    register(conn, namespace, "T1")
    set_record(conn, namespace, open_code="3", code_count="4", code_length="90", request_seq="7")
    reply = register(conn, namespace, "T2", dead_holder="T1")
    assert reply == ("", 2, 4, 90, 7)  # counters go on across runs
    [snapshot] = [json.loads(r) for r in conn.client.lrange(keys.runs(namespace, NAME), 0, -1)]
    assert snapshot["status"] == "crashed" and snapshot["ended_at"] == repr(T0)
    assert snapshot["run"] == "1"
    [close] = code_events(conn, namespace)
    assert close["event"] == "close" and close["index"] == "3" and close["status"] == "crashed"
    assert record(conn, namespace)["status"] == "running"
    assert conn.client.get(keys.alive(namespace, NAME)) == "T2"


def test_register_again_with_its_own_token(conn: Connection, namespace: str) -> None:
    register(conn, namespace, "T1")
    assert register(conn, namespace, "T1").run == 2  # a retry in the same process


def test_register_keeps_a_finished_run_as_it_was(conn: Connection, namespace: str) -> None:
    register(conn, namespace, "T1")
    set_record(conn, namespace, status="completed", ended_at="123.0", open_code="")
    kill(conn, namespace)  # finish drops the heartbeat
    assert register(conn, namespace, "T2").run == 2
    [snapshot] = [json.loads(r) for r in conn.client.lrange(keys.runs(namespace, NAME), 0, -1)]
    assert snapshot["status"] == "completed" and snapshot["ended_at"] == "123.0"
    assert code_events(conn, namespace) == []


def test_register_after_an_unnoticed_crash_keeps_its_end_time(
    conn: Connection, namespace: str
) -> None:
    register(conn, namespace, "T1")
    set_record(conn, namespace, status="paused", ended_at="99.5")
    kill(conn, namespace)
    assert register(conn, namespace, "T2").run == 2
    [snapshot] = [json.loads(r) for r in conn.client.lrange(keys.runs(namespace, NAME), 0, -1)]
    assert snapshot["status"] == "crashed" and snapshot["ended_at"] == "99.5"
    assert code_events(conn, namespace) == []  # no item was open


# --------------------------------------------------------------------------- heartbeat


NOTHING_HELD = Held("E1", 0, "", "")


def beat(
    conn: Connection, ns: str, token: str = "T1", held: Held = NOTHING_HELD, run: int = 1
) -> Any:
    kw = {"fresh_epoch": "F1", "run": run, "started": LATER}
    return scripts.heartbeat(conn, ns, NAME, token=token, ttl=30, listener_at=T0, held=held, **kw)


def test_heartbeat_of_the_holder_refreshes_and_reads_the_request(
    conn: Connection, namespace: str
) -> None:
    register(conn, namespace)
    ask(conn, namespace, "pause")
    reply = beat(conn, namespace)
    assert reply.beat and reply.request_seq == 1
    assert json.loads(reply.request or "")["action"] == "pause"
    assert 0 < conn.client.pttl(keys.alive(namespace, NAME)) <= 30_000
    assert record(conn, namespace)["listener_at"] == repr(T0)


def test_heartbeat_revives_its_own_expired_key(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    kill(conn, namespace)
    assert beat(conn, namespace).beat
    assert conn.client.get(keys.alive(namespace, NAME)) == "T1"


@pytest.mark.parametrize("case", ["other holder", "other run's record", "final", "no record"])
def test_heartbeat_does_not_beat(conn: Connection, namespace: str, case: str) -> None:
    if case != "no record":
        register(conn, namespace)
    if case == "other holder":
        conn.client.set(keys.alive(namespace, NAME), "T2")
    elif case == "other run's record":
        kill(conn, namespace)
        set_record(conn, namespace, heartbeat_token="T2")
    elif case == "final":
        set_record(conn, namespace, status="stopped")
    reply = beat(conn, namespace)
    assert not reply.beat and reply.request is None
    assert "heartbeat_at" not in record(conn, namespace)
    if case == "other holder":
        assert conn.client.get(keys.alive(namespace, NAME)) == "T2"
    elif case != "final":
        assert not conn.client.exists(keys.alive(namespace, NAME))


def test_request_state(conn: Connection, namespace: str) -> None:
    assert scripts.request_state(conn, namespace, NAME) == ("", 0, None)
    register(conn, namespace)
    ask(conn, namespace, "stop")
    state = scripts.request_state(conn, namespace, NAME)
    assert state.request_seq == 1 and json.loads(state.request or "")["action"] == "stop"


# --------------------------------------------------------------------------- request


def test_request_stop_writes_publishes_and_counts(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    sub = conn.client.pubsub()
    sub.subscribe(keys.channel(namespace, NAME))
    assert sub.get_message(timeout=5)["type"] == "subscribe"
    try:
        assert ask(conn, namespace, "stop", "r1", by="alice") == (1, "running", "", "", "")
        message = sub.get_message(timeout=5)
    finally:
        sub.close()
    assert json.loads(message["data"]) == {"seq": 1, "action": "stop", "by": "alice", "epoch": "E1"}
    stored = json.loads(conn.client.get(keys.request(namespace, NAME)))
    assert (stored["seq"], stored["action"], stored["by"]) == (1, "stop", "alice")
    assert stored["epoch"] == "E1"
    rec = record(conn, namespace)
    assert (rec["interrupt_action"], rec["interrupt_request"]) == ("stop", "alice")
    assert (rec["request_seq"], rec["last_request_id"], rec["last_request_seq"]) == (
        "1",
        "r1",
        "1",
    )


def test_request_retried_with_its_id_is_answered_again(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    assert ask(conn, namespace, "pause", "id-1").seq == 1
    assert ask(conn, namespace, "pause", "id-1") == (1, "running", "", "", "")
    assert record(conn, namespace)["request_seq"] == "1"


def test_request_to_an_unknown_process(conn: Connection, namespace: str) -> None:
    assert ask(conn, namespace, "stop").refused == "not_found"


def test_request_to_an_ended_or_dead_process(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    kill(conn, namespace)
    assert ask(conn, namespace, "stop")[2:4] == ("not_alive", "running")
    set_record(conn, namespace, status="failed")
    assert ask(conn, namespace, "pause")[2:4] == ("ended", "failed")
    assert not conn.client.exists(keys.request(namespace, NAME))


@pytest.mark.parametrize(
    ("pending", "action"),
    [("stop", "stop"), ("stop", "pause"), ("pause", "pause")] + [("stop", "resume")],
)
def test_request_conflicts(conn: Connection, namespace: str, pending: str, action: str) -> None:
    register(conn, namespace)
    ask(conn, namespace, pending, by="first")
    assert ask(conn, namespace, action) == (0, "", "conflict", pending, "first")


def test_stop_overrides_a_pending_pause(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    ask(conn, namespace, "pause")
    assert ask(conn, namespace, "stop").seq == 2
    assert json.loads(conn.client.get(keys.request(namespace, NAME)))["action"] == "stop"


def test_resume_clears_a_pending_pause(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    ask(conn, namespace, "pause")
    set_record(conn, namespace, status="paused")
    assert ask(conn, namespace, "resume") == (2, "paused", "", "", "")
    assert not conn.client.exists(keys.request(namespace, NAME))
    assert record(conn, namespace)["interrupt_action"] == ""


def test_resume_of_a_process_not_paused(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    assert ask(conn, namespace, "resume")[2:4] == ("not_paused", "running")


def test_resume_while_an_earlier_resume_is_on_its_way(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    ask(conn, namespace, "pause")
    set_record(conn, namespace, status="paused")
    ask(conn, namespace, "resume", "first resume")
    assert ask(conn, namespace, "resume", "second resume") == (2, "paused", "", "", "")
    assert record(conn, namespace)["request_seq"] == "2"  # nothing new


def test_request_with_an_unknown_action_is_an_error(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    with pytest.raises(redis.ResponseError, match="unknown action reboot"):
        ask(conn, namespace, "reboot")


# --------------------------------------------------------------------------- ack


def acked(conn: Connection, ns: str, kind: str, seq: int, by: str = "") -> str:
    return scripts.ack(conn, ns, NAME, kind=kind, seq=seq, by=by, now=T0)


def test_ack_paused_for_the_pending_pause(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    seq = ask(conn, namespace, "pause").seq
    assert acked(conn, namespace, "paused", seq + 1) == "unchanged"  # not that pause
    assert acked(conn, namespace, "paused", seq) == "paused"
    rec = record(conn, namespace)
    assert (rec["status"], rec["paused_at"], rec["paused_seq"]) == ("paused", repr(T0), "1")
    assert acked(conn, namespace, "paused", seq) == "unchanged"  # once is enough


def test_ack_paused_without_a_pause_pending(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    assert acked(conn, namespace, "paused", 0) == "unchanged"
    ask(conn, namespace, "stop")
    assert acked(conn, namespace, "paused", 1) == "unchanged"
    assert record(conn, namespace)["status"] == "running"


def test_ack_running(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    assert acked(conn, namespace, "running", 1) == "running"
    set_record(conn, namespace, status="paused", paused_at="5.0")
    assert acked(conn, namespace, "running", 1) == "running"
    assert record(conn, namespace)["paused_at"] == ""


@pytest.mark.parametrize("status", ["running", "paused"])
def test_ack_stop_consumed(conn: Connection, namespace: str, status: str) -> None:
    register(conn, namespace)
    seq = ask(conn, namespace, "stop").seq
    set_record(conn, namespace, status=status)
    assert acked(conn, namespace, "stop_consumed", seq + 1, "bob") == status  # another stop
    assert conn.client.exists(keys.request(namespace, NAME))
    assert acked(conn, namespace, "stop_consumed", seq, "bob") == "running"
    rec = record(conn, namespace)
    assert (rec["stopped_by"], rec["stopped_at"], rec["interrupt_action"]) == ("bob", repr(T0), "")
    assert not conn.client.exists(keys.request(namespace, NAME))


def test_ack_of_a_missing_process_or_an_unknown_kind(conn: Connection, namespace: str) -> None:
    assert acked(conn, namespace, "paused", 1) == ""
    register(conn, namespace)
    with pytest.raises(redis.ResponseError, match="unknown ack resumed"):
        acked(conn, namespace, "resumed", 1)


# --------------------------------------------------------------------------- finish


def finish(conn: Connection, ns: str, status: str = "completed", **kw: Any) -> Any:
    kw.setdefault("token", "T1")
    return scripts.finish(conn, ns, NAME, status=status, now=T0 + 5, **kw)


def test_finish_writes_the_outcome_and_ends_the_run(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    ask(conn, namespace, "stop", by="carol")
    set_record(conn, namespace, open_code="2")
    reply = finish(conn, namespace, "stopped", stopped_by="carol", error="", item_error="cut")
    assert reply == ("set", "stopped")
    rec = record(conn, namespace)
    assert (rec["status"], rec["ended_at"], rec["stopped_at"]) == ("stopped", *[repr(T0 + 5)] * 2)
    assert (rec["stopped_by"], rec["open_code"], rec["interrupt_action"]) == ("carol", "", "")
    [close] = code_events(conn, namespace)
    assert (close["index"], close["status"], close["error"]) == ("2", "stopped", "cut")
    assert not conn.client.exists(keys.request(namespace, NAME), keys.alive(namespace, NAME))


def test_finish_keeps_who_stopped_a_notebook_cell(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    set_record(conn, namespace, stopped_by="dave")
    assert finish(conn, namespace, "completed", error="") == ("set", "completed")
    rec = record(conn, namespace)
    assert (rec["stopped_by"], rec["stopped_at"]) == ("dave", "")
    assert code_events(conn, namespace) == []  # no item was open


def test_finish_never_overwrites_a_final_status(conn: Connection, namespace: str) -> None:
    assert finish(conn, namespace) == ("missing", "")
    register(conn, namespace)
    finish(conn, namespace, "failed", error="boom")
    assert finish(conn, namespace, "completed") == ("kept", "failed")
    assert record(conn, namespace)["error"] == "boom"


def test_finish_by_a_run_that_lost_its_name(conn: Connection, namespace: str) -> None:
    register(conn, namespace, "T2")
    assert finish(conn, namespace, token="T1") == ("kept", "running")
    assert conn.client.get(keys.alive(namespace, NAME)) == "T2"


def test_finish_by_a_run_whose_successor_died_keeps_the_successors_record(
    conn: Connection, namespace: str
) -> None:
    """Run T1 was out of reach past its TTL, run T2 took the name and died (no
    heartbeat left): T1's final status must not land on T2's record."""
    register(conn, namespace, "T2")
    set_record(conn, namespace, open_code="1")
    kill(conn, namespace)
    assert finish(conn, namespace, "completed", token="T1") == ("kept", "running")
    rec = record(conn, namespace)
    assert (rec["status"], rec["heartbeat_token"], rec["open_code"]) == ("running", "T2", "1")
    assert code_events(conn, namespace) == []
    assert finish(conn, namespace, "crashed", token="", only_if_expired=True) == (
        "set",
        "crashed",
    )


def test_finish_only_if_expired(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    assert finish(conn, namespace, "crashed", token="", only_if_expired=True) == (
        "alive",
        "running",
    )
    kill(conn, namespace)
    assert finish(conn, namespace, "crashed", token="", only_if_expired=True) == (
        "set",
        "crashed",
    )


def test_finish_by_a_cleaner_drops_any_heartbeat(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    assert finish(conn, namespace, "crashed", token="") == ("set", "crashed")
    assert not conn.client.exists(keys.alive(namespace, NAME))


# --------------------------------------------------------------------------- clear_request


def test_clear_request(conn: Connection, namespace: str) -> None:
    assert not scripts.clear_request(conn, namespace, NAME)  # nothing there
    register(conn, namespace)
    ask(conn, namespace, "pause")
    assert not scripts.clear_request(conn, namespace, NAME)  # alive: its request stands
    assert conn.client.exists(keys.request(namespace, NAME))
    kill(conn, namespace)
    assert scripts.clear_request(conn, namespace, NAME)
    assert not conn.client.exists(keys.request(namespace, NAME))
    assert record(conn, namespace)["interrupt_action"] == ""
    assert not scripts.clear_request(conn, namespace, NAME)  # once


def test_clear_request_without_a_record_creates_none(conn: Connection, namespace: str) -> None:
    conn.client.set(keys.request(namespace, NAME), "{}")
    assert scripts.clear_request(conn, namespace, NAME)
    assert not conn.client.exists(keys.proc(namespace, NAME), keys.request(namespace, NAME))


# --------------------------------------------------------------------------- corrupt keys
# Anything a client holding the namespace's keys could write: each script treats it as
# absent (and overwrites it) or answers a clear refusal, never a raw script error.


def corrupt(conn: Connection, ns: str, what: str) -> None:
    """Replace one key or field with garbage."""
    c = conn.client
    if what == "request garbage":
        c.set(keys.request(ns, NAME), "garbage{")
    elif what == "request seq not an integer":
        c.set(keys.request(ns, NAME), json.dumps({"seq": 1.5, "action": "stop", "by": "x"}))
    elif what == "request seq huge":
        c.set(keys.request(ns, NAME), json.dumps({"seq": 10**15, "action": "stop"}))
    elif what == "request of another epoch":
        c.set(keys.request(ns, NAME), json.dumps({"seq": 1, "action": "stop", "epoch": "old"}))
    elif what == "request a hash":
        c.delete(keys.request(ns, NAME))
        c.hset(keys.request(ns, NAME), "seq", "1")
    elif what == "request_seq garbage":
        set_record(conn, ns, request_seq="1.5x")
    elif what == "request_seq overflowing":
        set_record(conn, ns, request_seq=str(2**63 - 1))
    elif what == "alive a list":
        c.delete(keys.alive(ns, NAME))
        c.rpush(keys.alive(ns, NAME), "T1")


CORRUPT_REQUESTS = [
    "request garbage",
    "request seq not an integer",
    "request seq huge",
    "request of another epoch",
    "request a hash",
    "request_seq garbage",
    "request_seq overflowing",
]


@pytest.mark.parametrize("what", CORRUPT_REQUESTS)
def test_request_overwrites_a_corrupt_request_state(
    conn: Connection, namespace: str, what: str
) -> None:
    register(conn, namespace)
    corrupt(conn, namespace, what)
    assert scripts.request_state(conn, namespace, NAME).request is None  # not a request
    reply = ask(conn, namespace, "stop", by="alice")
    assert reply.refused == "" and reply.seq >= 1
    stored = json.loads(conn.client.get(keys.request(namespace, NAME)))
    assert (stored["seq"], stored["action"], stored["epoch"]) == (reply.seq, "stop", "E1")
    state = scripts.request_state(conn, namespace, NAME)
    assert (state.request_seq, json.loads(state.request or "")["by"]) == (reply.seq, "alice")


def test_request_to_a_record_that_is_not_a_hash(conn: Connection, namespace: str) -> None:
    conn.client.set(keys.proc(namespace, NAME), "a string")
    assert ask(conn, namespace, "stop")[2:4] == ("corrupt", "string")
    assert scripts.request_state(conn, namespace, NAME) == ("", 0, None)
    assert not conn.client.exists(keys.request(namespace, NAME))


def test_request_conflict_names_no_forged_type(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    set_record(conn, namespace, request_seq="4")
    raw = json.dumps({"seq": 4, "action": "pause", "by": {"not": "a name"}, "epoch": "E1"})
    conn.client.set(keys.request(namespace, NAME), raw)
    assert ask(conn, namespace, "pause") == (0, "", "conflict", "pause", "")


def test_request_to_a_process_whose_heartbeat_is_not_a_string(
    conn: Connection, namespace: str
) -> None:
    register(conn, namespace)
    corrupt(conn, namespace, "alive a list")
    assert ask(conn, namespace, "stop").seq == 1  # a key is there: the run still beats
    assert beat(conn, namespace).outcome == "beat"
    assert conn.client.get(keys.alive(namespace, NAME)) == "T1"


def test_ack_reads_a_corrupt_request_as_none(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    ask(conn, namespace, "pause")
    conn.client.set(keys.request(namespace, NAME), "garbage{")
    assert acked(conn, namespace, "paused", 1) == "unchanged"
    conn.client.delete(keys.proc(namespace, NAME))
    conn.client.set(keys.proc(namespace, NAME), "x")
    assert acked(conn, namespace, "paused", 1) == ""


def test_finish_and_clear_request_skip_a_record_that_is_not_a_hash(
    conn: Connection, namespace: str
) -> None:
    conn.client.set(keys.proc(namespace, NAME), "x")
    conn.client.set(keys.request(namespace, NAME), "{}")
    assert finish(conn, namespace, "crashed", token="") == ("missing", "")
    assert scripts.clear_request(conn, namespace, NAME)
    assert conn.client.get(keys.proc(namespace, NAME)) == "x"


def test_register_overwrites_corrupt_keys_and_counters(conn: Connection, namespace: str) -> None:
    conn.client.set(keys.proc(namespace, NAME), "x")
    conn.client.set(keys.runs(namespace, NAME), "x")
    corrupt(conn, namespace, "alive a list")
    assert register(conn, namespace) == ("", 1, 0, 0, 0)
    set_record(conn, namespace, run="two", request_seq="x", code_count="-3", status="completed")
    kill(conn, namespace)
    assert register(conn, namespace, "T2") == ("", 1, 0, 0, 0)
    assert record(conn, namespace)["request_seq"] == "0"


# --------------------------------------------------------------------------- epochs


def pending(conn: Connection, ns: str) -> dict[str, Any]:
    return json.loads(conn.client.get(keys.request(ns, NAME)))


def test_heartbeat_starts_a_new_epoch_when_the_counter_went_back(
    conn: Connection, namespace: str
) -> None:
    """A failover to a replica that missed writes: the record's counter is behind what
    the run applied, so the next requests would look old. The state starts over."""
    register(conn, namespace)
    ask(conn, namespace, "pause", by="ann")  # seq 1, on the replica too
    reply = beat(conn, namespace, held=Held("E1", 3, "", ""))  # the run saw up to 3
    assert (reply.outcome, reply.epoch, reply.request_seq) == ("beat", "F1", 1)
    assert json.loads(reply.request)["action"] == "pause"  # what the server holds stands
    assert record(conn, namespace)["epoch"] == "F1"
    assert pending(conn, namespace)["epoch"] == "F1"
    assert ask(conn, namespace, "stop").seq == 2  # a later request is newer in F1


def test_heartbeat_starts_a_new_epoch_when_the_record_has_another(
    conn: Connection, namespace: str
) -> None:
    register(conn, namespace)
    set_record(conn, namespace, epoch="forged", request_seq="x")
    conn.client.set(keys.request(namespace, NAME), "garbage{")
    reply = beat(conn, namespace)
    assert (reply.outcome, reply.epoch, reply.request_seq, reply.request) == ("beat", "F1", 0, None)
    assert not conn.client.exists(keys.request(namespace, NAME))
    assert record(conn, namespace)["request_seq"] == "0"


def test_heartbeat_writes_back_the_request_the_run_acts_on(
    conn: Connection, namespace: str
) -> None:
    register(conn, namespace)
    ask(conn, namespace, "pause", by="ann")
    conn.client.delete(keys.request(namespace, NAME))  # lost: the run is paused on it
    reply = beat(conn, namespace, held=Held("E1", 1, "pause", "ann"))
    assert (reply.outcome, reply.epoch, reply.request_seq) == ("beat", "E1", 1)
    assert (pending(conn, namespace)["action"], pending(conn, namespace)["by"]) == ("pause", "ann")
    assert record(conn, namespace)["interrupt_action"] == "pause"
    # So a resume can end it, instead of answering "a resume is on its way".
    set_record(conn, namespace, status="paused")
    assert ask(conn, namespace, "resume").seq == 2


def test_heartbeat_writes_back_a_request_lost_with_the_counter(
    conn: Connection, namespace: str
) -> None:
    register(conn, namespace)
    set_record(conn, namespace, request_seq="x")
    reply = beat(conn, namespace, held=Held("E1", 4, "stop", "bob"))
    assert (reply.epoch, reply.request_seq) == ("F1", 1)
    assert (pending(conn, namespace)["seq"], pending(conn, namespace)["by"]) == (1, "bob")


def test_heartbeat_leaves_a_newer_request_alone(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    ask(conn, namespace, "pause")
    ask(conn, namespace, "resume")  # seq 2, nothing pending: the run held the pause
    reply = beat(conn, namespace, held=Held("E1", 1, "pause", "ann"))
    assert (reply.epoch, reply.request_seq, reply.request) == ("E1", 2, None)
    assert not conn.client.exists(keys.request(namespace, NAME))


@pytest.mark.parametrize(
    ("case", "outcome"),
    [("no record", "missing"), ("not a hash", "missing"), ("no status", "missing")]
    + [("crashed", "crashed"), ("completed", "ended"), ("other token", "taken")],
)
def test_heartbeat_outcomes(conn: Connection, namespace: str, case: str, outcome: str) -> None:
    if case == "not a hash":
        conn.client.set(keys.proc(namespace, NAME), "x")
    elif case == "no status":
        set_record(conn, namespace, name=NAME)
    elif case != "no record":
        register(conn, namespace)
        kill(conn, namespace)
        if case == "other token":
            set_record(conn, namespace, heartbeat_token="T2")
        else:
            set_record(conn, namespace, status=case)
    assert beat(conn, namespace).outcome == outcome
    assert not conn.client.exists(keys.alive(namespace, NAME))


# --------------------------------------------------------------------------- revive


def revive(
    conn: Connection, ns: str, token: str = "T1", held: Held = NOTHING_HELD, **kw: Any
) -> Any:
    r = Revival(
        ttl=30,
        epoch=kw.pop("epoch", "F2"),
        status=kw.pop("status", "running"),
        held=held,
        open_code=kw.pop("open_code", ""),
        last_beat=T0,
        fields={"name": NAME, "heartbeat_token": token, "run": "3", "code_count": "2"}
        | {"started_at": repr(LATER), **kw},
    )
    return scripts.revive(conn, ns, NAME, token=token, r=r)


def test_revive_restores_a_vanished_record(conn: Connection, namespace: str) -> None:
    reply = revive(conn, namespace, held=Held("E1", 7, "pause", "ann"), status="paused")
    assert (reply.outcome, reply.epoch, reply.request_seq) == ("restored", "F2", 1)
    assert json.loads(reply.request)["action"] == "pause"
    rec = record(conn, namespace)
    assert (rec["status"], rec["run"], rec["code_count"], rec["epoch"]) == (
        "paused",
        "3",
        "2",
        "F2",
    )
    assert (rec["gap_from"], rec["gaps"], rec["request_seq"]) == (repr(T0), "1", "1")
    assert float(rec["gap_to"]) > T0
    assert conn.client.get(keys.alive(namespace, NAME)) == "T1"
    assert (pending(conn, namespace)["seq"], pending(conn, namespace)["by"]) == (1, "ann")
    [event] = code_events(conn, namespace)
    assert (event["event"], event["status"], event["gap_from"]) == ("status", "restored", repr(T0))
    assert beat(conn, namespace, held=Held("F2", 1, "pause", "ann")).outcome == "beat"


def test_revive_overwrites_a_record_that_is_not_a_hash(conn: Connection, namespace: str) -> None:
    conn.client.set(keys.proc(namespace, NAME), "x")
    conn.client.set(keys.request(namespace, NAME), "garbage{")
    assert revive(conn, namespace).outcome == "restored"
    assert record(conn, namespace)["status"] == "running"
    assert not conn.client.exists(keys.request(namespace, NAME))


def test_revive_brings_back_a_run_marked_crashed(conn: Connection, namespace: str) -> None:
    register(conn, namespace)
    set_record(conn, namespace, heartbeat_at=repr(T0 + 1), request_seq="5", open_code="1")
    assert finish(conn, namespace, "crashed", token="", only_if_expired=False)[0] == "set"
    reply = revive(conn, namespace, open_code="1")
    assert (reply.outcome, reply.request_seq, reply.request) == ("revived", 5, None)
    rec = record(conn, namespace)
    assert (rec["status"], rec["ended_at"], rec["error"], rec["open_code"]) == (
        "running",
        "",
        "",
        "1",
    )
    # The record is kept, not rewritten from the run's fields (run 3 there).
    assert (rec["gap_from"], rec["run"]) == (repr(T0 + 1), "1")
    close, status = code_events(conn, namespace)
    assert (close["event"], status["event"], status["status"]) == ("close", "status", "revived")
    assert scripts.close_code(conn, namespace, NAME, index=1, run=1, status="completed")


@pytest.mark.parametrize(
    ("case", "outcome"),
    [("other holder", "taken"), ("other token", "taken"), ("completed", "ended")]
    + [("running", "kept")],
)
def test_revive_refuses(conn: Connection, namespace: str, case: str, outcome: str) -> None:
    register(conn, namespace)
    if case == "other holder":
        conn.client.set(keys.alive(namespace, NAME), "T2")
    elif case == "other token":  # a later run's, crashed: not a stale copy
        kill(conn, namespace)
        set_record(conn, namespace, heartbeat_token="T2", status="crashed", run="4")
    elif case == "completed":
        set_record(conn, namespace, status="completed")
    before = record(conn, namespace)
    assert revive(conn, namespace).outcome == outcome
    assert record(conn, namespace) == before
    assert code_events(conn, namespace) == []


# ------------------------------------------------- a stale copy of an earlier run


def restore_earlier_run(conn: Connection, ns: str) -> dict[str, str]:
    """Run 1 (T1) completed, run 2 (T2) registered, then the server went back to a copy
    taken between the two (an RDB snapshot, a replica that missed the registration):
    run 1's record, no heartbeat, no runs list. Returns run 1's record."""
    register(conn, ns, "T1", started_at=repr(T0))
    assert finish(conn, ns, "completed").outcome == "set"
    copy = record(conn, ns)
    assert register(conn, ns, "T2", started_at=repr(LATER)).run == 2
    conn.client.delete(keys.proc(ns, NAME), keys.alive(ns, NAME), keys.runs(ns, NAME))
    set_record(conn, ns, **copy)
    return copy


def kept_runs(conn: Connection, ns: str) -> list[dict[str, str]]:
    return [json.loads(r) for r in conn.client.lrange(keys.runs(ns, NAME), 0, -1)]


@pytest.mark.parametrize("already_kept", [False, True])
def test_a_stale_copy_of_an_earlier_run_gives_way_to_the_live_run(
    conn: Connection, namespace: str, already_kept: bool
) -> None:
    copy = restore_earlier_run(conn, namespace)
    if already_kept:  # the copy's runs list has run 1: it is not kept twice
        conn.client.rpush(keys.runs(namespace, NAME), json.dumps(copy))
    assert beat(conn, namespace, "T2", run=2).outcome == "missing"
    reply = revive(conn, namespace, "T2", run="2")
    assert (reply.outcome, reply.epoch) == ("restored", "F2")
    rec = record(conn, namespace)
    assert (rec["status"], rec["heartbeat_token"], rec["run"]) == ("running", "T2", "2")
    assert (rec["ended_at"], rec["gaps"]) == ("", "1")
    assert conn.client.get(keys.alive(namespace, NAME)) == "T2"
    assert kept_runs(conn, namespace) == [copy]
    assert beat(conn, namespace, "T2", held=Held("F2", 0, "", ""), run=2).beat


@pytest.mark.parametrize(
    "case", ["not final", "same run", "later run", "started later", "live holder"]
)
def test_another_runs_record_that_is_no_stale_copy_stays_taken(
    conn: Connection, namespace: str, case: str
) -> None:
    restore_earlier_run(conn, namespace)
    if case == "not final":
        set_record(conn, namespace, status="running")
    elif case in ("same run", "later run"):
        set_record(conn, namespace, run="2" if case == "same run" else "3")
    elif case == "started later":  # numbered 1 after data loss, started after run 2
        set_record(conn, namespace, started_at=repr(LATER + 5))
    else:
        conn.client.set(keys.alive(namespace, NAME), "T1")
    before = record(conn, namespace)
    assert beat(conn, namespace, "T2", run=2).outcome == "taken"
    assert revive(conn, namespace, "T2", run="2").outcome == "taken"
    assert record(conn, namespace) == before
    assert kept_runs(conn, namespace) == []
    assert conn.client.get(keys.alive(namespace, NAME)) == ("T1" if case == "live holder" else None)
