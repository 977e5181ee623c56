"""Building results from Redis strings: process records and code item events."""

from __future__ import annotations

import pytest

from tablevault_redis.models import FINAL_STATUSES, CodeItem, ProcessInfo, fold_code_events

RECORD = {
    "name": "trainer",
    "user_id": "u1",
    "execution_type": "script",
    "status": "running",
    "host": "h1",
    "pid": "4242",
    "parent_process_name": "parent",
    "parent_process_index": "3",
    "interrupt_action": "",
    "interrupt_request": "",
    "started_at": "1700000000.5",
    "ended_at": "",
    "stopped_by": "",
    "error": "",
    "run": "2",
    "code_count": "7",
    "pid_started_at": "1699999999.25",
    "heartbeat_at": "1700000010",
    "listener_at": "1700000009.5",
}


def test_a_live_record_reads_back_typed() -> None:
    info = ProcessInfo.from_record(RECORD, alive=True)
    assert info.status == "running" and info.alive
    assert (info.pid, info.parent_process_index, info.run, info.code_count) == (4242, 3, 2, 7)
    assert info.started_at == 1700000000.5 and info.ended_at is None
    assert info.heartbeat_at == 1700000010.0 and info.listener_at == 1700000009.5
    assert info.interrupt_action is None and info.stopped_by is None and info.error is None
    assert info.to_dict()["name"] == "trainer"


@pytest.mark.parametrize("status", ["running", "paused", ""])
def test_an_unfinished_record_without_a_heartbeat_is_crashed(status: str) -> None:
    info = ProcessInfo.from_record({**RECORD, "status": status}, alive=False)
    assert info.status == "crashed" and not info.alive


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_a_final_status_stands_and_is_never_alive(status: str) -> None:
    for alive in (True, False):  # a heartbeat key may outlive the run by its TTL
        info = ProcessInfo.from_record({**RECORD, "status": status}, alive=alive)
        assert info.status == status and not info.alive


def test_bad_numbers_read_as_defaults() -> None:
    bad = {
        **RECORD,
        "pid": "12a",
        "parent_process_index": "",
        "run": "2.5",
        "code_count": "many",
        "started_at": "yesterday",
        "pid_started_at": "",
        "heartbeat_at": "nan?",
    }
    info = ProcessInfo.from_record(bad, alive=True)
    assert (info.pid, info.parent_process_index, info.run, info.code_count) == (0, 0, 0, 0)
    assert info.started_at is None and info.pid_started_at is None and info.heartbeat_at is None


def test_an_empty_record_reads_as_crashed_with_defaults() -> None:
    info = ProcessInfo.from_record({}, alive=False)
    assert info.status == "crashed" and info.name == "" and info.pid == 0
    assert info.started_at is None and info.stopped_by is None


# --------------------------------------------------------------------------- code events


def opened(index: object, text: str = "x", **extra: str) -> tuple[str, dict[str, str]]:
    fields = {"event": "open", "index": str(index), "run": "1", "text": text}
    fields.update(start_position="0", started_at="10.0")
    fields.update(extra)
    return ("0-1", fields)


def closed(index: object, status: str = "completed", **extra: str) -> tuple[str, dict[str, str]]:
    fields = {"event": "close", "index": str(index), "status": status, "error": ""}
    fields.update(ended_at="11.5")
    fields.update(extra)
    return ("0-2", fields)


def test_open_then_close_makes_one_finished_item() -> None:
    events = [opened(0, "print(1)", start_position="0"), closed(0, "failed", error="boom")]
    assert fold_code_events("p", events) == [
        CodeItem("p", 0, 1, "print(1)", "failed", "boom", 0, 10.0, 11.5)
    ]


def test_an_item_without_a_close_is_open() -> None:
    [item] = fold_code_events("p", [opened(0)])
    assert item.status == "open" and item.ended_at is None and item.error == ""


def test_items_come_sorted_by_index_whatever_the_stream_order() -> None:
    events = [opened(2), opened(0), closed(2), opened(1), closed(0)]
    items = fold_code_events("p", events)
    assert [(i.index, i.status) for i in items] == [(0, "completed"), (1, "open"), (2, "completed")]


def test_a_close_without_its_open_is_ignored() -> None:
    assert fold_code_events("p", [closed(4)]) == []
    [item] = fold_code_events("p", [opened(1), closed(4)])
    assert item.index == 1 and item.status == "open"


def test_unknown_events_and_bad_fields_are_tolerated() -> None:
    events = [
        ("0-0", {"event": "comment", "index": "0"}),
        opened("zero", run="x", start_position="", started_at="soon"),
    ]
    [item] = fold_code_events("p", events)
    assert (item.index, item.run, item.start_position, item.started_at) == (-1, 0, 0, None)


def test_a_reopened_index_starts_over() -> None:
    events = [opened(0, "first"), closed(0), opened(0, "second")]
    [item] = fold_code_events("p", events)
    assert item.text == "second" and item.status == "open" and item.ended_at is None


def test_every_exported_result_type_has_to_dict():
    """What the public API returns (the package's and the embedded server's exports)
    turns into JSON-ready dicts the same way: ``to_dict()``."""
    import dataclasses
    import json
    from pathlib import Path

    import tablevault_redis
    from tablevault_redis import embedded

    exported = [getattr(m, n) for m in (tablevault_redis, embedded) for n in m.__all__]
    results = [
        t
        for t in exported
        if isinstance(t, type) and (dataclasses.is_dataclass(t) or hasattr(t, "_fields"))
    ]
    assert {t.__name__ for t in results} >= {"ProcessInfo", "CodeItem", "CleanupReport"}
    assert [t.__name__ for t in results if not callable(getattr(t, "to_dict", None))] == []
    binary = embedded.RedisBinary("/usr/bin/redis-server", (7, 2, 4))
    assert binary.to_dict() == {"path": "/usr/bin/redis-server", "version": "7.2.4"}
    where = embedded.EmbeddedPaths(Path("/state"), Path("/run/redis.sock"))
    assert json.loads(json.dumps(where.to_dict()))["url"] == "unix:///run/redis.sock"
    assert where.to_dict()["lock_file"] == "/state/redis.lock"
