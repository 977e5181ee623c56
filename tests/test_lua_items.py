"""Each branch of the Lua scripts for code items, operations, record lists and
descriptions (open_code, close_code, op_begin, op_end, record_append, describe),
called through their functions in ``tablevault_redis.scripts`` on the session server."""

from __future__ import annotations

import json
from pathlib import Path

from tablevault_redis import keys, scripts
from tablevault_redis.connection import Connection

NAME = "p"
T0 = 1_700_000_000.0


def record(conn: Connection, ns: str) -> dict[str, str]:
    return conn.client.hgetall(keys.proc(ns, NAME))


def code_events(conn: Connection, ns: str) -> list[dict[str, str]]:
    return [fields for _id, fields in conn.client.xrange(keys.code(ns, NAME))]


def members(conn: Connection, key: str) -> set[str]:
    return set(conn.client.smembers(key))


# --------------------------------------------------------------------------- code items


def open_item(conn: Connection, ns: str, index: int, text: str = "x = 1", start: int = 0) -> bool:
    return scripts.open_code(
        conn, ns, NAME, index=index, run=2, text=text, start_position=start, now=T0
    )


def close_item(conn: Connection, ns: str, index: int, run: int = 2) -> bool:
    return scripts.close_code(
        conn, ns, NAME, index=index, run=run, status="failed", error="E", now=T0 + 1
    )


def test_open_code_writes_the_event_and_the_counters(conn: Connection, namespace: str) -> None:
    assert open_item(conn, namespace, 0, "print(1)", start=0)
    [event] = code_events(conn, namespace)
    assert event == {
        "event": "open",
        "index": "0",
        "run": "2",
        "text": "print(1)",
        "start_position": "0",
        "started_at": repr(T0),
    }
    rec = record(conn, namespace)
    assert (rec["code_count"], rec["code_length"], rec["open_code"]) == ("1", "8", "0")


def test_open_code_is_idempotent(conn: Connection, namespace: str) -> None:
    assert open_item(conn, namespace, 0)
    assert not open_item(conn, namespace, 0)  # a retry after a lost reply
    assert open_item(conn, namespace, 1, start=5)
    assert not open_item(conn, namespace, 0)  # an older index
    assert [e["index"] for e in code_events(conn, namespace)] == ["0", "1"]
    assert record(conn, namespace)["code_count"] == "2"


def test_close_code_closes_the_open_item_of_its_run(conn: Connection, namespace: str) -> None:
    conn.client.hset(keys.proc(namespace, NAME), "run", "2")
    open_item(conn, namespace, 0)
    assert close_item(conn, namespace, 0)
    close = code_events(conn, namespace)[-1]
    assert close == {
        "event": "close",
        "index": "0",
        "status": "failed",
        "error": "E",
        "ended_at": repr(T0 + 1),
    }
    assert record(conn, namespace)["open_code"] == ""
    assert not close_item(conn, namespace, 0)  # closed already


def test_close_code_leaves_other_items_and_runs_alone(conn: Connection, namespace: str) -> None:
    conn.client.hset(keys.proc(namespace, NAME), "run", "2")
    open_item(conn, namespace, 0)
    assert not close_item(conn, namespace, 1)  # not the open item
    assert not close_item(conn, namespace, 0, run=1)  # a cleaner acting for an older run
    assert len(code_events(conn, namespace)) == 1
    assert record(conn, namespace)["open_code"] == "0"


# --------------------------------------------------------------------------- operations


def test_op_begin_registers_and_indexes_in_one_step(conn: Connection, namespace: str) -> None:
    scripts.op_begin(conn, namespace, "10", '{"a":1}', code_words=["x", "y"], member="m")
    assert conn.client.hgetall(keys.operations(namespace)) == {"10": '{"a":1}'}
    for word in ("x", "y"):
        assert members(conn, keys.code_word(namespace, word)) == {"m"}
    scripts.op_begin(conn, namespace, "10", '{"a":2}', code_words=["x"], member="m")
    assert conn.client.hget(keys.operations(namespace), "10") == '{"a":2}'  # updated


def test_op_begin_without_a_member_touches_no_index(conn: Connection, namespace: str) -> None:
    scripts.op_begin(conn, namespace, "11", "{}", code_words=["x"], member="")
    assert conn.client.hget(keys.operations(namespace), "11") == "{}"
    assert not conn.client.exists(keys.code_word(namespace, "x"))


def test_op_end_completes_and_keeps_the_index(conn: Connection, namespace: str) -> None:
    assert not scripts.op_end(conn, namespace, "12")  # no such operation
    scripts.op_begin(conn, namespace, "12", "{}", code_words=["x"], member="m")
    assert scripts.op_end(conn, namespace, "12", code_words=["x"], member="m")
    assert not conn.client.hexists(keys.operations(namespace), "12")
    assert members(conn, keys.code_word(namespace, "x")) == {"m"}
    assert not scripts.op_end(conn, namespace, "12")  # ended once


def test_op_end_compare_and_set(conn: Connection, namespace: str) -> None:
    scripts.op_begin(conn, namespace, "13", '{"v":2}')
    assert not scripts.op_end(conn, namespace, "13", expected='{"v":1}')  # changed since read
    assert conn.client.hexists(keys.operations(namespace), "13")
    assert scripts.op_end(conn, namespace, "13", expected='{"v":2}')


def test_op_end_rollback_undoes_the_index(conn: Connection, namespace: str) -> None:
    scripts.op_begin(conn, namespace, "14", "{}", code_words=["x", "y"], member="m")
    conn.client.sadd(keys.code_word(namespace, "x"), "other")
    assert scripts.op_end(conn, namespace, "14", rollback=True, code_words=["x", "y"], member="m")
    assert members(conn, keys.code_word(namespace, "x")) == {"other"}
    assert not conn.client.exists(keys.code_word(namespace, "y"))


def test_op_end_rollback_without_a_member_removes_nothing(conn: Connection, namespace: str) -> None:
    scripts.op_begin(conn, namespace, "15", "{}", code_words=["x"], member="m")
    assert scripts.op_end(conn, namespace, "15", rollback=True, code_words=["x"], member="")
    assert members(conn, keys.code_word(namespace, "x")) == {"m"}


# --------------------------------------------------------------------------- record lists


def append(conn: Connection, ns: str, columns: list[str], rec: str, create: bool = False):
    return scripts.record_append(conn, ns, "L", columns=columns, record=rec, create=create)


def test_record_append_to_a_missing_list(conn: Connection, namespace: str) -> None:
    assert append(conn, namespace, ["a"], '{"a":1}').outcome == "missing"
    assert not conn.client.exists(keys.record_list_meta(namespace, "L"))


def test_record_append_creates_the_list(conn: Connection, namespace: str) -> None:
    reply = append(conn, namespace, ["b", "a"], '{"b":1,"a":2}', create=True)
    assert (reply.outcome, reply.index, reply.created) == ("ok", 0, True)
    meta = conn.client.hgetall(keys.record_list_meta(namespace, "L"))
    assert json.loads(meta["columns"]) == ["b", "a"]
    assert json.loads(meta["column_set"]) == ["a", "b"]
    assert conn.client.zrange(keys.record_lists(namespace), 0, -1) == ["L"]
    assert conn.client.lrange(keys.records(namespace, "L"), 0, -1) == ['{"b":1,"a":2}']


def test_record_append_only_creating(conn: Connection, namespace: str) -> None:
    reply = append(conn, namespace, ["a"], "", create=True)
    assert (reply.outcome, reply.index, reply.created) == ("ok", -1, True)
    assert not conn.client.exists(keys.records(namespace, "L"))
    reply = append(conn, namespace, ["a"], "", create=True)
    assert (reply.outcome, reply.index, reply.created) == ("ok", -1, False)  # there already


def test_record_append_checks_the_column_set(conn: Connection, namespace: str) -> None:
    append(conn, namespace, ["a", "b"], '{"a":1,"b":2}', create=True)
    reply = append(conn, namespace, ["b", "a"], '{"b":3,"a":4}')  # same set, any order
    assert (reply.outcome, reply.index, reply.created) == ("ok", 1, False)
    refused = append(conn, namespace, ["a", "c"], '{"a":5,"c":6}', create=True)
    assert (refused.outcome, refused.columns) == ("columns", ["a", "b"])
    assert conn.client.llen(keys.records(namespace, "L")) == 2


# --------------------------------------------------------------------------- descriptions


def describe(
    conn: Connection, ns: str, current: str, new: str, old: list[str], words: list[str]
) -> bool:
    return scripts.describe(
        conn,
        ns,
        "item",
        description_name="d",
        current=current,
        new=new,
        old_words=old,
        new_words=words,
    )


def test_describe_writes_and_indexes(conn: Connection, namespace: str) -> None:
    assert describe(conn, namespace, "", '{"text":"a b"}', [], ["a", "b"])
    assert conn.client.hget(keys.descriptions(namespace, "item"), "d") == '{"text":"a b"}'
    for word in ("a", "b"):
        assert members(conn, keys.description_word(namespace, word)) == {"item\x1fd"}


def test_describe_replaces_and_moves_the_index(conn: Connection, namespace: str) -> None:
    describe(conn, namespace, "", "v1", [], ["a", "b"])
    assert describe(conn, namespace, "v1", "v2", ["a", "b"], ["b", "c"])
    assert not conn.client.exists(keys.description_word(namespace, "a"))
    assert members(conn, keys.description_word(namespace, "b")) == {"item\x1fd"}
    assert members(conn, keys.description_word(namespace, "c")) == {"item\x1fd"}
    assert conn.client.hget(keys.descriptions(namespace, "item"), "d") == "v2"


def test_describe_refuses_when_it_changed_meanwhile(conn: Connection, namespace: str) -> None:
    describe(conn, namespace, "", "v1", [], ["a"])
    assert not describe(conn, namespace, "", "v2", [], ["z"])  # read before v1 was written
    assert not describe(conn, namespace, "v0", "v2", ["a"], ["z"])
    assert conn.client.hget(keys.descriptions(namespace, "item"), "d") == "v1"
    assert members(conn, keys.description_word(namespace, "a")) == {"item\x1fd"}
    assert not conn.client.exists(keys.description_word(namespace, "z"))


def test_every_script_has_its_branches_tested_here() -> None:
    here = Path(__file__).parent
    text = "".join(
        (here / f).read_text("utf-8")
        for f in ("test_lua_process.py", "test_lua_requests.py", __file__)
    )
    untested = [name for name in scripts.names() if f"scripts.{name}(" not in text]
    assert not untested, f"Lua scripts with no branch tests: {untested}"


# --------------------------------------------------------------------------- record progress


def progress(conn: Connection, ns: str, token: str, count: int) -> bool:
    return scripts.record_progress(
        conn, ns, NAME, token=token, count=count, last_record='{"a":1}', list_name="L", now=T0
    )


def test_record_progress_sets_the_runs_own_count(conn: Connection, namespace: str) -> None:
    conn.client.hset(keys.proc(namespace, NAME), "heartbeat_token", "tok")
    assert progress(conn, namespace, "tok", 3)
    assert progress(conn, namespace, "tok", 3)  # a retry writes the same, never adds
    rec = record(conn, namespace)
    assert (rec["records_written"], rec["last_record"], rec["last_record_list"]) == (
        "3",
        '{"a":1}',
        "L",
    )
    assert rec["last_record_at"] == repr(T0)


def test_record_progress_of_another_run_writes_nothing(conn: Connection, namespace: str) -> None:
    conn.client.hset(keys.proc(namespace, NAME), "heartbeat_token", "newer")
    assert not progress(conn, namespace, "older", 5)
    assert "records_written" not in record(conn, namespace)
