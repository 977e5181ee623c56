"""What a record or description may hold: property tests (hypothesis) on a real
server, and the size and nesting limits (values.Limits)."""

from __future__ import annotations

import json
import math
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tablevault_redis import VaultClient
from tablevault_redis.errors import ValidationError
from tablevault_redis.values import Limits


class Scalar:
    """A scalar of some array library: only ``item()``."""

    def __init__(self, value: object) -> None:
        self.value = value

    def item(self) -> object:
        return self.value

    def __repr__(self) -> str:
        return f"Scalar({self.value!r})"


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.builds(Scalar, st.floats(allow_nan=True) | st.integers(-(2**63), 2**63))
    | st.integers(0, 300).map(nested)
    | st.integers(0, 3_000_000).map(lambda n: "x" * n)
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        | st.dictionaries(st.integers(), inner, min_size=1, max_size=2)
    ),
    max_leaves=12,
)


def plain(value: object) -> object:
    """What the record should read back as."""
    if isinstance(value, Scalar):
        return value.value
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def same(a: object, b: object) -> bool:
    """Equal as JSON text (NaN equals NaN, as stored)."""
    return json.dumps(a, allow_nan=True) == json.dumps(b, allow_nan=True)


@pytest.fixture(scope="module")
def vclient(redis_server):
    c = VaultClient(redis_server.url, "t" + uuid.uuid4().hex[:10])
    c.limits = Limits(max_record_bytes=1_000_000)  # refusing huge strings stays quick
    yield c
    c.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=values)
def test_a_record_reads_back_equal_or_is_refused_with_nothing_written(vclient, value):
    name = "p" + uuid.uuid4().hex[:12]
    try:
        index = vclient.append_record(name, {"v": value})
    except ValidationError:
        assert vclient.query_item_type(name) is None  # nothing written, not even the list
        return
    assert index == 0
    assert same(vclient.get_records(name), [{"v": plain(value)}])


@settings(max_examples=60, deadline=None)
@given(text=st.text(), size=st.integers(0, 3_000_000))
def test_a_description_is_stored_or_refused(redis_server, text, size):
    with VaultClient(redis_server.url, "t" + uuid.uuid4().hex[:10]) as c:
        c.limits = Limits(max_description_bytes=1_000_000)
        c.append_record("item", {"a": 1})
        body = text + "y" * size
        try:
            c.create_description("item", body)
        except ValidationError:
            assert c.get_descriptions("item") == {}
            return
        assert c.get_descriptions("item")["BASE"]["text"] == body


def test_deep_nesting_is_a_validation_error(client):
    with pytest.raises(ValidationError, match="max_depth=64"):
        client.append_record("deep", {"v": nested(1000)})
    assert client.query_item_type("deep") is None
    assert client.append_record("deep", {"v": nested(63)}) == 0


def test_size_limits_name_themselves_and_write_nothing(client):
    with pytest.raises(ValidationError, match="max_record_bytes=4194304"):
        client.append_record("big", {"v": "x" * 50_000_000})
    assert client.query_item_type("big") is None
    client.append_record("small", {"v": 1})
    with pytest.raises(ValidationError, match="max_description_bytes=1048576"):
        client.create_description("small", "y" * 5_000_000)
    assert client.get_descriptions("small") == {}
    client.limits = Limits(max_record_bytes=100, max_depth=3)
    with pytest.raises(ValidationError, match="max_record_bytes=100"):
        client.append_record("small", {"v": "x" * 200})
    with pytest.raises(ValidationError, match="max_depth=3"):
        client.append_record("small", {"v": nested(4)})


def test_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv("TABLEVAULT_MAX_RECORD_BYTES", "123")
    monkeypatch.setenv("TABLEVAULT_MAX_DEPTH", "7")
    assert Limits.from_env() == Limits(max_record_bytes=123, max_depth=7)
    monkeypatch.setenv("TABLEVAULT_MAX_DEPTH", "deep")
    with pytest.raises(ValidationError, match="TABLEVAULT_MAX_DEPTH"):
        Limits.from_env()
    with pytest.raises(ValidationError, match="max_depth"):
        Limits(max_depth=0)
    assert math.isfinite(Limits().max_record_bytes)
