"""The pure parts of vault_cleanup: reading log entries, the process state, and the
checks of its arguments."""

from __future__ import annotations

import json

import pytest

from tablevault_redis import ValidationError
from tablevault_redis.cleanup import ProcessState, _selection
from tablevault_redis.operations import CODE_ITEM, LogEntry, operation_json


def test_an_entry_written_by_the_library_reads_back() -> None:
    raw = operation_json("12", CODE_ITEM, "P", "host:1:t", {"index": 3}, {"member": "m"})
    entry = LogEntry.parse("12", raw)
    assert entry is not None
    assert (entry.id, entry.raw, entry.kind, entry.process) == ("12", raw, CODE_ITEM, "P")
    assert (entry.token, entry.args, entry.undo) == ("host:1:t", {"index": 3}, {"member": "m"})
    assert entry.updated_at() == json.loads(raw)["updated_at"]


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"text"', "3"])
def test_entries_that_are_not_json_objects_are_left_out(raw: str) -> None:
    assert LogEntry.parse("1", raw) is None


def test_missing_fields_read_as_empty_and_a_bad_time_as_unreadable() -> None:
    entry = LogEntry.parse("1", "{}")
    assert entry is not None
    assert (entry.process, entry.token, entry.args, entry.undo) == ("", "", {}, {})
    assert entry.updated_at() == 0.0
    bad = LogEntry.parse("2", '{"updated_at": "yesterday"}')
    assert bad is not None and bad.updated_at() is None
    odd = LogEntry.parse("3", '{"updated_at": [1]}')
    assert odd is not None and odd.updated_at() is None


def test_process_state_knows_its_live_run() -> None:
    live = ProcessState(status="running", token="t2", alive="t2")
    assert not live.dead and live.runs("t2") and not live.runs("t1")
    gone = ProcessState(status="running", token="t2")
    assert gone.dead and not gone.runs("t2") and not gone.runs("")
    assert ProcessState().dead  # a process cleanup knows nothing of


def test_selection_by_age_or_by_ids() -> None:
    assert _selection(60, None) == (None, 60.0)
    assert _selection(0, None) == (None, 0.0)
    assert _selection(60, [12, "13"]) == ({"12", "13"}, 0.0)
    assert _selection(60, 12) == ({"12"}, 0.0)
    assert _selection(60, "0012") == ({"12"}, 0.0)


@pytest.mark.parametrize(
    ("interval", "message"),
    [
        (-1, "interval must be >= 0 seconds, got -1"),
        (float("nan"), "interval must be >= 0 seconds"),
        ("soon", "interval must be seconds, got 'soon'"),
        ("0", "interval must be seconds, got '0'"),  # a string, not a number
        (float("inf"), "interval must be >= 0 seconds"),
        (None, "interval must be seconds, got None"),
    ],
)
def test_bad_intervals_are_refused(interval: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _selection(interval, None)  # type: ignore[arg-type]
