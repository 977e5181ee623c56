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


def test_record_append_at_an_index(conn: Connection, namespace: str) -> None:
    append(conn, namespace, ["a"], '{"a":1}', create=True)
    replace = scripts.record_append
    reply = replace(conn, namespace, "L", columns=["a"], record='{"a":9}', create=False, index=0)
    assert (reply.outcome, reply.index, reply.created) == ("ok", 0, False)
    at_end = replace(conn, namespace, "L", columns=["a"], record='{"a":2}', create=False, index=1)
    assert (at_end.outcome, at_end.index) == ("ok", 1)  # the end itself appends
    past = replace(conn, namespace, "L", columns=["a"], record='{"a":3}', create=False, index=5)
    assert (past.outcome, past.length) == ("index", 2)
    assert conn.client.lrange(keys.records(namespace, "L"), 0, -1) == ['{"a":9}', '{"a":2}']


def test_record_append_writes_lineage_beside_each_record(conn: Connection, namespace: str) -> None:
    # A list written before lineage was kept: its entries are padded first.
    conn.client.rpush(keys.records(namespace, "L"), '{"a":0}')
    conn.client.hset(
        keys.record_list_meta(namespace, "L"), mapping={"columns": '["a"]', "column_set": '["a"]'}
    )
    reply = scripts.record_append(
        conn, namespace, "L", columns=["a"], record='{"a":1}', create=False, lineage='{"x":1}'
    )
    assert reply.index == 1
    assert conn.client.lrange(keys.record_meta(namespace, "L"), 0, -1) == ["{}", '{"x":1}']


def test_record_append_notes_the_writer_and_the_inputs(conn: Connection, namespace: str) -> None:
    def write(index: int | None = None) -> scripts.Appended:
        return scripts.record_append(
            conn,
            namespace,
            "L",
            columns=["a"],
            record='{"a":1}',
            create=True,
            index=index,
            process=NAME,
            process_index=3,
            inputs=[("record_list", "src", 4, 6)],
        )

    write()
    writes = keys.process_writes(namespace, NAME)
    assert conn.client.hgetall(writes) == {"c:L": "3", "e:L": "0:1"}  # created, then wrote
    write()
    write(index=0)  # a replacement inside the span leaves it as it is
    assert conn.client.hget(writes, "e:L") == "0:2"
    assert conn.client.hget(keys.record_list_meta(namespace, "L"), "process") == NAME
    entries = conn.client.lrange(keys.dependents(namespace, "src"), 0, -1)
    assert [json.loads(e) for e in entries] == [
        [4, 6, "record_list", "L", 0, 1],
        [4, 6, "record_list", "L", 1, 2],
        [4, 6, "record_list", "L", 0, 1],
    ]


def append_many(conn: Connection, ns: str, entries: list[tuple[int, str, str]], cols=("a",)):
    return scripts.record_append_many(
        conn, ns, "L", columns=list(cols), entries=entries, writer="w", process=NAME,
        process_index=2,
    )  # fmt: skip


def test_record_append_many_creates_and_appends_in_order(conn: Connection, namespace: str) -> None:
    reply = append_many(conn, namespace, [(1, '{"a":1}', '{"x":1}'), (2, '{"a":2}', '{"x":2}')])
    assert (reply.outcome, reply.index, reply.created, reply.count) == ("ok", 0, True, 2)
    assert conn.client.lrange(keys.records(namespace, "L"), 0, -1) == ['{"a":1}', '{"a":2}']
    assert conn.client.lrange(keys.record_meta(namespace, "L"), 0, -1) == ['{"x":1}', '{"x":2}']
    assert conn.client.zrange(keys.record_lists(namespace), 0, -1) == ["L"]
    meta = conn.client.hgetall(keys.record_list_meta(namespace, "L"))
    assert (meta["process"], meta["process_index"], meta["w:w"]) == (NAME, "2", "2")
    writes = conn.client.hgetall(keys.process_writes(namespace, NAME))
    assert writes == {"c:L": "2", "e:L": "0:2"}


def test_record_append_many_skips_what_a_try_applied(conn: Connection, namespace: str) -> None:
    append_many(conn, namespace, [(1, '{"a":1}', "{}"), (2, '{"a":2}', "{}")])
    # A retry after a lost reply, joined with a later record: only that one is new.
    reply = append_many(conn, namespace, [(1, '{"a":1}', "{}"), (2, '{"a":2}', "{}"),
                                          (5, '{"a":5}', "{}")])  # fmt: skip
    assert (reply.outcome, reply.index, reply.created, reply.count) == ("ok", 2, False, 1)
    again = append_many(conn, namespace, [(5, '{"a":5}', "{}")])
    assert (again.outcome, again.count) == ("ok", 0)
    records = conn.client.lrange(keys.records(namespace, "L"), 0, -1)
    assert records == ['{"a":1}', '{"a":2}', '{"a":5}']
    assert conn.client.hget(keys.process_writes(namespace, NAME), "e:L") == "0:3"
    # A corrupt span is overwritten, never an error (record_append reads it alike).
    conn.client.hset(keys.process_writes(namespace, NAME), "e:L", "garbage{")
    assert append_many(conn, namespace, [(6, '{"a":6}', "{}")]).count == 1
    assert conn.client.hget(keys.process_writes(namespace, NAME), "e:L") == "3:4"
    write = scripts.record_append
    write(conn, namespace, "L", columns=["a"], record="{}", create=False, process=NAME)
    assert conn.client.hget(keys.process_writes(namespace, NAME), "e:L") == "3:5"


def test_record_append_many_checks_the_column_set(conn: Connection, namespace: str) -> None:
    append(conn, namespace, ["a", "b"], '{"a":1,"b":2}', create=True)
    # Lists written before lineage was kept: the lineage list is padded first.
    conn.client.delete(keys.record_meta(namespace, "L"))
    refused = append_many(conn, namespace, [(1, '{"c":1}', "{}")], cols=("c",))
    assert (refused.outcome, refused.columns) == ("columns", ["a", "b"])
    reply = append_many(conn, namespace, [(1, '{"b":3,"a":4}', '{"y":1}')], cols=("b", "a"))
    assert (reply.outcome, reply.index, reply.count) == ("ok", 1, 1)
    assert conn.client.lrange(keys.record_meta(namespace, "L"), 0, -1) == ["{}", '{"y":1}']
    assert conn.client.llen(keys.records(namespace, "L")) == 2


def test_record_append_many_of_hundreds(conn: Connection, namespace: str) -> None:
    entries = [(i, f'{{"a":{i}}}', "{}") for i in range(1, 451)]  # past one unpack() step
    assert append_many(conn, namespace, entries).count == 450
    assert conn.client.lindex(keys.records(namespace, "L"), -1) == '{"a":450}'
    assert conn.client.llen(keys.record_meta(namespace, "L")) == 450


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
        for f in (
            "test_lua_process.py",
            "test_lua_requests.py",
            "test_lua_request_many.py",
            __file__,
        )
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


# --------------------------------------------------------------------------- idempotent appends


def test_record_append_applies_a_writers_retry_once(conn: Connection, namespace: str) -> None:
    def write(seq: int, rec: str) -> str:
        reply = scripts.record_append(
            conn, namespace, "W", columns=["a"], record=rec, create=True, writer="w1", seq=seq
        )
        return reply.outcome

    assert write(1, '{"a":1}') == "ok"
    assert write(1, '{"a":1}') == "dup"  # the retry of a write whose reply was lost
    assert write(2, '{"a":2}') == "ok"
    assert write(1, '{"a":1}') == "dup"
    assert conn.client.lrange(keys.records(namespace, "W"), 0, -1) == ['{"a":1}', '{"a":2}']
    assert conn.client.hget(keys.record_list_meta(namespace, "W"), "w:w1") == "2"
    other = scripts.record_append(
        conn, namespace, "W", columns=["a"], record='{"a":3}', create=True, writer="w2", seq=1
    )
    assert other.outcome == "ok" and other.index == 2


# --------------------------------------------------------------------------- retention


def ended_process(conn: Connection, ns: str, status: str = "completed", ended: float = T0) -> None:
    conn.client.hset(
        keys.proc(ns, NAME), mapping={"status": status, "ended_at": repr(ended), "started_at": "5"}
    )
    conn.client.xadd(keys.code(ns, NAME), {"event": "open", "index": 0})
    conn.client.rpush(keys.runs(ns, NAME), "{}")
    conn.client.lpush(keys.requests(ns, NAME), "{}")


def prune(conn: Connection, ns: str, cutoff: float = T0 + 1, started: str = "5", dry=False):
    return scripts.prune_process(
        conn, ns, NAME, cutoff=cutoff, started_at=started, dry_run=dry
    ).outcome


def test_prune_process_deletes_an_ended_process(conn: Connection, namespace: str) -> None:
    ended_process(conn, namespace)
    assert prune(conn, namespace, dry=True) == "ok"
    assert conn.client.exists(keys.proc(namespace, NAME))
    assert prune(conn, namespace) == "ok"
    for key in (keys.proc, keys.code, keys.runs, keys.requests):
        assert not conn.client.exists(key(namespace, NAME))
    assert prune(conn, namespace) == "missing"


def test_prune_process_never_touches_a_live_or_recent_one(conn: Connection, namespace: str) -> None:
    ended_process(conn, namespace, status="running")
    assert prune(conn, namespace) == "live"
    ended_process(conn, namespace)
    conn.client.set(keys.alive(namespace, NAME), "token", px=10_000)
    assert prune(conn, namespace) == "live"  # final status, but its heartbeat is alive
    conn.client.delete(keys.alive(namespace, NAME))
    assert prune(conn, namespace, cutoff=T0) == "recent"
    assert prune(conn, namespace, started="6") == "changed"
    conn.client.delete(keys.proc(namespace, NAME))
    conn.client.set(keys.proc(namespace, NAME), "not a hash")
    assert prune(conn, namespace) == "missing"
    assert conn.client.exists(keys.code(namespace, NAME))


def test_prune_index_removes_entries_of_the_pruned_run(conn: Connection, namespace: str) -> None:
    conn.client.zadd(keys.processes(namespace), {NAME: 5, "other": 5})
    word = keys.code_word(namespace, "w")
    conn.client.sadd(word, "p\x1f0\x1f0\x1f1", "other\x1f0\x1f0\x1f1")
    conn.client.hset(keys.descriptions(namespace, NAME), "d", "{}")
    members = [(word, "p\x1f0\x1f0\x1f1")]
    # A newer run (another start time) holds the name: nothing is removed.
    conn.client.zadd(keys.processes(namespace), {NAME: 6})
    assert not scripts.prune_index(conn, namespace, NAME, started_at="5", members=members)
    assert len(members_of := conn.client.smembers(word)) == 2, members_of
    conn.client.zadd(keys.processes(namespace), {NAME: 5})
    assert scripts.prune_index(conn, namespace, NAME, started_at="5", members=members)
    assert conn.client.zrange(keys.processes(namespace), 0, -1) == ["other"]
    assert conn.client.smembers(word) == {"other\x1f0\x1f0\x1f1"}
    assert not conn.client.exists(keys.descriptions(namespace, NAME))
    assert scripts.prune_index(conn, namespace, NAME, started_at="5", members=[])  # repeatable


def test_trim_records_by_count_and_age(conn: Connection, namespace: str) -> None:
    for i in range(5):
        append(conn, namespace, ["a"], json.dumps({"a": i}), create=True)
    meta = keys.record_meta(namespace, "L")
    conn.client.delete(meta)  # a list written before lineage was kept
    conn.client.rpush(meta, *(json.dumps({"at": T0 + i}) for i in range(3)))

    def trim(keep=None, cutoff=None, most=100) -> int:
        return scripts.trim_records(conn, namespace, "L", keep_last=keep, cutoff=cutoff, most=most)

    assert trim(keep=4, most=0) == 0
    assert trim(keep=4) == 1
    assert trim(cutoff=T0 + 2) == 1  # lineage at T0 + 1 is older; T0 + 2 is not
    assert trim(cutoff=T0 + 100) == 1  # the next has no time (padded): it stops there
    assert trim(keep=0, most=1) == 1
    assert conn.client.llen(keys.records(namespace, "L")) == 1
    assert conn.client.llen(meta) == 1
    assert conn.client.hget(keys.record_list_meta(namespace, "L"), "trimmed") == "4"
    assert scripts.trim_records(conn, namespace, "none", keep_last=0, cutoff=None, most=9) == -1
