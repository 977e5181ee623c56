"""The CLI's pure parts without Redis: the process tree's logic, the time and text
helpers, the rich tables (drawn to a string) and code-stream events."""

from __future__ import annotations

import io
import re
import time
from datetime import datetime

import pytest
from rich.console import Console

from tablevault_redis import CodeEvent, ProcessInfo
from tablevault_redis.cli import plain, render
from tablevault_redis.cli.tree import build_forest
from tablevault_redis.events import code_items


def proc(name: str, parent: str = "", *, alive: bool = True, **fields: str) -> ProcessInfo:
    record = {
        "name": name,
        "status": "running" if alive else "stopped",
        "parent_process_name": parent,
        "parent_process_index": "0",
        "host": "h",
        "pid": "1",
        "started_at": repr(time.time() - 5),
        **fields,
    }
    return ProcessInfo.from_record(record, alive)


def shape(forest) -> list:
    return [(n.info.name, shape(n.children)) for n in forest]


# --------------------------------------------------------------------------- tree


def test_tree_nests_children_under_parents_oldest_first():
    procs = [proc("a"), proc("b", "a"), proc("c", "a"), proc("d", "b"), proc("e")]
    assert shape(build_forest(procs)) == [
        ("a", [("b", [("d", [])]), ("c", [])]),
        ("e", []),
    ]


def test_tree_keeps_ended_processes_only_as_ancestors_of_live_ones():
    procs = [
        proc("old", alive=False),
        proc("mid", "old", alive=False),
        proc("live", "mid"),
        proc("gone", alive=False),
        proc("gone_child", "old", alive=False),
    ]
    assert shape(build_forest(procs)) == [("old", [("mid", [("live", [])])])]
    everything = shape(build_forest(procs, include_ended=True))
    assert everything == [
        ("old", [("mid", [("live", [])]), ("gone_child", [])]),
        ("gone", []),
    ]


def test_tree_of_one_name_shows_all_its_descendants():
    procs = [proc("a"), proc("b", "a", alive=False), proc("c", "b"), proc("x")]
    assert shape(build_forest(procs, name="b")) == [("b", [("c", [])])]
    assert build_forest(procs, name="missing") == []


def test_tree_survives_cycles_and_self_parents():
    # Re-runs can make a's parent b and b's parent a: each shows once.
    cycle = build_forest([proc("a", "b"), proc("b", "a")])
    assert shape(cycle) == [("a", [("b", [])])]
    assert shape(build_forest([proc("self", "self")])) == [("self", [])]


def test_tree_node_to_dict_is_the_record_plus_children():
    forest = build_forest([proc("a"), proc("b", "a")])
    data = forest[0].to_dict()
    assert data["name"] == "a" and data["status"] == "running"
    assert [c["name"] for c in data["children"]] == ["b"]
    assert data["children"][0]["children"] == []


# --------------------------------------------------------------------------- plain text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-1, "in the future"),
        (0.5, "just now"),
        (59, "59s ago"),
        (60, "1m ago"),
        (3599, "59m ago"),
        (7200, "2h ago"),
        (3 * 86400 + 5, "3d ago"),
    ],
)
def test_ago(seconds: float, text: str):
    assert plain.ago(seconds) == text


def test_when_shows_the_date_only_for_other_days():
    now = datetime(2024, 5, 6, 12, 0, 0).timestamp()
    assert plain.when(None) == "-"
    assert plain.when(now - 90, now) == "11:58:30 (1m ago)"
    assert plain.when(now - 86400, now) == "2024-05-05 12:00:00 (1d ago)"


@pytest.mark.parametrize(
    ("start", "end", "text"),
    [
        (None, 5.0, "-"),
        (0.0, 1.25, "1.2s"),
        (0.0, 125.0, "2m05s"),
        (0.0, 3 * 3600 + 7 * 60, "3h07m"),
        (10.0, 5.0, "0.0s"),
    ],
)
def test_duration(start: float | None, end: float, text: str):
    assert plain.duration(start, end) == text


def test_duration_of_an_open_item_runs_to_now():
    assert plain.duration(100.0, None, now=160.0) == "1m00s"


def test_text_helpers():
    assert plain.first_line("\n\n  x = 1\ny = 2") == "x = 1"
    assert plain.first_line("a" * 100, limit=10) == "a" * 9 + "…"
    assert plain.clip("a  b\n c") == "a b c"
    assert len(plain.clip("word " * 50)) == 80
    assert plain.pair(["p", 3]) == "p#3" and plain.pair("x") == "x"
    pending = proc("w", interrupt_action="pause", interrupt_request="client:me")
    assert plain.request_text(pending) == "pause by client:me"
    assert plain.request_text(proc("w")) == ""
    assert plain.parent_text(proc("c", "p")) == "p#0" and plain.parent_text(proc("r")) == ""


# --------------------------------------------------------------------------- rich


def drawn(renderable) -> str:
    out = io.StringIO()
    Console(file=out, width=200, highlight=False, soft_wrap=False).print(renderable)
    return out.getvalue()


def test_process_table_and_tree_are_drawn_as_text():
    procs = [proc("p[1]"), proc("c", "p[1]", interrupt_action="stop")]
    table = drawn(render.process_table(procs, time.time()))
    assert "NAME" in table and "REQUEST" in table and "p[1]#0" in table  # no markup
    assert re.search(r"\((4|5|6)s ago\)", table), table
    tree = drawn(render.process_tree(build_forest(procs), "ns", time.time()))
    lines = tree.splitlines()
    assert lines[0] == "namespace ns"
    assert "p[1]" in lines[1] and "c" in lines[2] and "from code item #0" in lines[2]
    assert "[stop]" in lines[2]


def test_cells_and_generic_tables():
    assert str(render.cell(None)) == "-" and str(render.cell(True)) == "yes"
    assert str(render.cell([["p", 1], ["q", 2]])) == "p#1, q#2"
    now = time.time()
    rows = [{"id": "1", "started_at": now - 120, "arguments": {"k": "v" * 200}}]
    table = drawn(render.generic_table(rows, now))
    assert "STARTED_AT" in table and "(2m ago)" in table and "…" in table
    report = drawn(render.report_table({"crashed": ["a", "b"], "skipped": []}))
    assert re.search(r"crashed\s+2: a, b", report) and re.search(r"skipped\s+0", report)


# --------------------------------------------------------------------------- code events


def open_entry(index: int, text: str = "x = 1\n") -> dict[str, str]:
    return {
        "event": "open",
        "index": str(index),
        "run": "1",
        "text": text,
        "start_position": "0",
        "started_at": "100.5",
    }


def test_code_event_fields_and_to_dict():
    opened = CodeEvent.from_entry("w", "1-0", open_entry(0))
    assert (opened.event, opened.index, opened.run, opened.started_at) == ("open", 0, 1, 100.5)
    assert opened.status is None and opened.ended_at is None
    assert opened.to_dict() == {
        "process_name": "w",
        "id": "1-0",
        "event": "open",
        "index": 0,
        "run": 1,
        "text": "x = 1\n",
        "start_position": 0,
        "started_at": 100.5,
    }
    close = {"event": "close", "index": "0", "status": "failed", "error": "E", "ended_at": "x"}
    closed = CodeEvent.from_entry("w", "2-0", close)
    assert closed.to_dict() == {
        "process_name": "w",
        "id": "2-0",
        "event": "close",
        "index": 0,
        "status": "failed",
        "error": "E",
        "ended_at": None,  # unreadable time: None, never a crash
    }
    assert closed.as_item() is None
    item = opened.as_item()
    assert item is not None and (item.index, item.status, item.text) == (0, "open", "x = 1\n")


def test_code_items_fold_open_and_close_events():
    entries = [
        ("1-0", open_entry(0)),
        ("2-0", {"event": "close", "index": "0", "status": "completed", "error": ""}),
        ("3-0", open_entry(1, "y = 2\n")),
    ]
    items = code_items([CodeEvent.from_entry("w", i, f) for i, f in entries])
    assert [(i.index, i.status) for i in items] == [(0, "completed"), (1, "open")]
    assert code_items([]) == []
