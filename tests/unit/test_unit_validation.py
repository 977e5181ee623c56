"""Input checks that need no server: names, namespaces, record JSON, operation ids,
and the password-hiding of URLs in error messages."""

from __future__ import annotations

import json
import os
import threading

import pytest

from tablevault_redis import cleanup, operations
from tablevault_redis.connection import redact
from tablevault_redis.errors import TableVaultError, ValidationError
from tablevault_redis.keys import MAX_NAME_LENGTH, check_name, check_namespace
from tablevault_redis.records import _record_columns
from tablevault_redis.values import record_text

# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "value",
    ["w", "trainer-1", "a b", "数据", "x" * MAX_NAME_LENGTH, "a:b", "semi;colon", "é.py"],
)
def test_usable_names_come_back_unchanged(value: str) -> None:
    assert check_name(value) is value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "must be a string, got NoneType"),
        (7, "must be a string, got int"),
        (b"bytes", "must be a string, got bytes"),
        ("", "must not be empty or blank"),
        ("  \t", "must not be empty or blank"),
        ("x" * (MAX_NAME_LENGTH + 1), f"the limit is {MAX_NAME_LENGTH}"),
        ("a{b", "contains '{'"),
        ("a}b", "contains '}'"),
        ("line\nbreak", "control characters and braces"),
        ("nul\x00", "control characters and braces"),
        ("del\x7f", "control characters and braces"),
        ("half\ud800", "not valid UTF-8"),
    ],
)
def test_bad_names_are_refused_with_the_reason(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        check_name(value, "thing")
    with pytest.raises(ValidationError, match="^thing"):
        check_name(value, "thing")


def test_validation_errors_are_library_errors() -> None:
    assert issubclass(ValidationError, TableVaultError)


def test_usable_namespaces() -> None:
    assert check_namespace("tv") == "tv"
    assert check_namespace("team-a.prod_2") == "team-a.prod_2"


@pytest.mark.parametrize(
    ("value", "chars"),
    [("a:b", ":"), ("a b", " "), ("a*", "*"), ("a?", "?"), ("a[b]", "[]"), ("a\\b", "\\")]
    + [("x:*?", "*:?")],  # every offending character, sorted
)
def test_namespaces_that_break_keys_or_scan_patterns_are_refused(value: str, chars: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_namespace(value)
    assert f"namespace {value!r} must not contain {chars!r}" in str(info.value)


def test_namespaces_are_names_first() -> None:
    with pytest.raises(ValidationError, match="^namespace must not be empty"):
        check_namespace("")
    with pytest.raises(ValidationError, match="^namespace 'a{b}' contains"):
        check_namespace("a{b}")


# --------------------------------------------------------------------------- record JSON


def _record_json(name: str, record: object) -> tuple[list[str], str]:
    """What append_record checks and stores: the columns, then the JSON text."""
    columns = _record_columns(name, record)
    return columns, record_text(name, record)  # type: ignore[arg-type]


def test_a_record_gives_its_columns_in_order_and_compact_json() -> None:
    record = {"b": 1, "a": [1.5, None, True], "c": {"k": "é"}}
    columns, text = _record_json("L", record)
    assert columns == ["b", "a", "c"]
    assert text == '{"b":1,"a":[1.5,null,true],"c":{"k":"é"}}'
    assert json.loads(text) == record


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ([1, 2], "must be a dict, got list"),
        (None, "must be a dict, got NoneType"),
        ({}, "must have at least one column"),
        ({1: "x"}, "column names must be strings: 1"),
        ({"a{": 1}, "column name of record list 'L'"),
        ({"": 1}, "column name of record list 'L' must not be empty"),
        ({"a": {"b": {2: 3}}}, r"record\['a'\]\['b'\] has a non-string key 2"),
        ({"a": (1, 2)}, r"record\['a'\] is a tuple; use a list"),
        ({"a": [0, [1, (2,)]]}, r"record\['a'\]\[1\]\[1\] is a tuple"),
        ({"a": {1, 2}}, "not JSON-serialisable"),
        ({"a": object()}, "not JSON-serialisable"),
        ({"a": "half\ud800"}, "not JSON-serialisable"),
    ],
)
def test_records_json_cannot_hold_exactly_are_refused(record: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        _record_json("L", record)
    assert "'L'" in str(info.value)  # names the list


def test_nan_and_infinities_are_stored_as_json_tokens() -> None:
    _columns, text = _record_json("L", {"a": float("nan"), "b": [float("inf"), -float("inf")]})
    assert text == '{"a":NaN,"b":[Infinity,-Infinity]}'


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://bob:pw@h:1/0", "redis://bob:***@h:1/0"),
        ("redis://:pw@h:6379/2", "redis://:***@h:6379/2"),
        (
            "rediss://bob:s3cret@host/0?ssl_cert_reqs=none",
            "rediss://bob:***@host/0?ssl_cert_reqs=none",
        ),
        ("redis://bob:p%40ss@h:1", "redis://bob:***@h:1"),
        ("unix://:secret@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),
        ("redis://h:1/0", "redis://h:1/0"),
        ("redis://bob@h:1/0", "redis://bob@h:1/0"),  # a user name alone is not secret
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)
def test_redact_hides_the_password_and_keeps_the_rest(url: str, shown: str) -> None:
    assert redact(url) == shown


# --------------------------------------------------------------------------- operation ids


def test_operation_ids_increase_and_end_in_the_pid() -> None:
    ids = [operations.new_operation_id() for _ in range(2000)]
    numbers = [int(i) for i in ids]
    assert all(i.isdigit() for i in ids)
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert {n % 1000 for n in numbers} == {os.getpid() % 1000}


def test_operation_ids_are_unique_across_threads() -> None:
    found: list[list[str]] = [[] for _ in range(4)]

    def make(out: list[str]) -> None:
        out.extend(operations.new_operation_id() for _ in range(500))

    threads = [threading.Thread(target=make, args=(out,)) for out in found]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    every = [i for out in found for i in out]
    assert len(every) == 2000 == len(set(every))


def test_selected_ids_are_normalised() -> None:
    assert cleanup._parse_selected([12, "13", " 0014 ", 12]) == {"12", "13", "14"}
    assert cleanup._parse_selected([]) == set()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "must hold operation ids"),
        (1.5, "must hold operation ids"),
        (None, "must hold operation ids"),
        (b"12", "must hold operation ids"),
        ("abc", "must be an integer, got 'abc'"),
        ("-5", "must be an integer"),
        (-5, "must be an integer"),
        ("1e3", "must be an integer"),
        ("", "must be an integer"),
    ],
)
def test_bad_selected_ids_are_refused(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        cleanup._parse_selected([1, value])
