"""ProcessInfo built a column at a time (process_reads.build) equals from_record's."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tablevault_redis.models import ProcessInfo
from tablevault_redis.process_reads import FIELDS, build

# What a record's field may hold: absent, empty, numbers in several spellings, words
# (statuses among them) and garbage.
VALUES = st.one_of(
    st.none(),
    st.just(""),
    st.sampled_from(["running", "paused", "stopped", "completed", "failed", "crashed"]),
    st.sampled_from(["0", "7", "-3", " 12 ", "1.5", "1e3", "1_000", "inf", "0.0", "x", "1,5"]),
    st.floats(allow_nan=False).map(repr),
    st.integers().map(str),
    st.text(max_size=8),
)


def _expected(row: list[str | None], alive: bool) -> ProcessInfo | None:
    fields = {k: v for k, v in zip(FIELDS, row, strict=True) if v is not None}
    return ProcessInfo.from_record(fields, alive) if fields else None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(VALUES, min_size=len(FIELDS), max_size=len(FIELDS)), st.booleans()),
        max_size=6,
    )
)
def test_build_equals_from_record(rows: list[tuple[list[str | None], bool]]) -> None:
    got = build([list(r) for r, _ in rows], [a for _, a in rows])
    assert repr(got) == repr([_expected(r, a) for r, a in rows])


def test_a_subset_of_fields_leaves_the_others_as_from_record_does() -> None:
    fields = ("name", "status", "started_at", "heartbeat_at")
    rows = [["a", "running", "10.5", ""], ["b", "running", "10.5", "12"], [None] * 4]
    got = build(rows, [True, False, True], fields)
    want = [
        ProcessInfo.from_record({"name": "a", "status": "running", "started_at": "10.5"}, True),
        ProcessInfo.from_record({"name": "b", "status": "running", "started_at": "10.5",
                                 "heartbeat_at": "12"}, False),
        None,
    ]  # fmt: skip
    assert got == want
    assert got[1] is not None and (got[1].status, got[1].ended_at) == ("crashed", 12.0)


def test_built_records_behave_as_constructed_ones() -> None:
    [info] = build([["w", *[""] * (len(FIELDS) - 1)]], [True])
    made = ProcessInfo.from_record({"name": "w"}, True)
    assert isinstance(info, ProcessInfo) and info == made and hash(info) == hash(made)
    assert info.to_dict() == made.to_dict() and repr(info) == repr(made)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.name = "x"  # type: ignore[misc]
