"""Record lineage, input_items, index, ML values, progress fields and embeddings."""

from __future__ import annotations

import json
import math

import pytest
from helpers import run_python

from tablevault_redis import NotFoundError, ValidationError, VaultClient, keys
from tablevault_redis.descriptions import cosine_ranking
from tablevault_redis.values import MAX_ARRAY_ELEMENTS


def written(client: VaultClient, namespace: str) -> set[str]:
    return set(client.redis.scan_iter(match=keys.namespace_pattern(namespace), count=1000))


def vault_script(redis_url: str, namespace: str, name: str, body: str) -> None:
    code = (
        "import os\nfrom tablevault_redis import Vault\n"
        f"vault = Vault('u', {name!r}, namespace=os.environ['TEST_NAMESPACE'])\n" + body
    )
    r = run_python(code, redis_url, namespace)
    assert r.returncode == 0, r.stderr


class Scalar:
    """A scalar of some array library: only ``item()``."""

    def __init__(self, value: float) -> None:
        self.value = value

    def item(self) -> float:
        return self.value


class Array:
    """An array of some array library: ``__array__``, ``size`` and ``tolist()``."""

    def __init__(self, values: list[float]) -> None:
        self.values = values
        self.size = len(values)

    def __array__(self) -> list[float]:
        return self.values

    def tolist(self) -> list[float]:
        return list(self.values)


def test_ml_values_round_trip_and_read_in_redis_cli(client, namespace):
    record = {"loss": float("nan"), "hi": float("inf"), "lo": -math.inf, "s": Scalar(0.5)}
    record["w"] = Array([1.0, 2.5])
    assert client.append_record("ml", record) == 0
    back = client.query_item_content("ml", index=0)
    assert math.isnan(back["loss"]) and back["hi"] == math.inf and back["lo"] == -math.inf
    assert back["s"] == 0.5 and back["w"] == [1.0, 2.5]
    raw = client.redis.lrange(keys.records(namespace, "ml"), 0, 0)[0]
    assert raw == '{"loss":NaN,"hi":Infinity,"lo":-Infinity,"s":0.5,"w":[1.0,2.5]}'


def test_numpy_values(client):
    np = pytest.importorskip("numpy")
    client.append_record(
        "np", {"f": np.float32(0.25), "i": np.int64(3), "b": np.bool_(True), "a": np.eye(2)}
    )
    assert client.query_item_content("np", index=0) == {
        "f": 0.25,
        "i": 3,
        "b": True,
        "a": [[1.0, 0.0], [0.0, 1.0]],
    }
    with pytest.raises(ValidationError, match=f"limit is {MAX_ARRAY_ELEMENTS}"):
        client.append_record("np", {"f": 1, "i": 1, "b": 1, "a": np.zeros(MAX_ARRAY_ELEMENTS + 1)})
    assert client.query_item_list("np")["n_items"] == 1

    class ArrayLike:  # only the numpy protocol, as pandas and xarray objects have it
        def __init__(self, values: object) -> None:
            self.values = values

        def __array__(self, dtype: object = None, copy: object = None) -> object:
            return np.asarray(self.values)

    record = {"f": np.float64("nan"), "i": 0, "b": False, "a": ArrayLike([[1, 2], [3, 4]])}
    assert client.append_record("np", record) == 1
    back = client.query_item_content("np", index=1)
    assert math.isnan(back["f"]) and back["a"] == [[1, 2], [3, 4]]
    with pytest.raises(ValidationError, match=f"limit is {MAX_ARRAY_ELEMENTS}"):
        big = ArrayLike(np.zeros(MAX_ARRAY_ELEMENTS + 1))
        client.append_record("np", {"f": 1, "i": 1, "b": 1, "a": big})
    assert client.query_item_list("np")["n_items"] == 2


def test_index_replaces_or_appends_and_refuses_gaps(client, namespace):
    for i in range(3):
        client.append_record("ix", {"v": i})
    assert client.append_record("ix", {"v": 10}, index=1) == 1
    assert client.append_record("ix", {"v": 3}, index=3) == 3
    assert [r["v"] for r in client.query_item_content("ix")] == [0, 10, 2, 3]
    before = client.redis.lrange(keys.records(namespace, "ix"), 0, -1)
    for bad, match in ((9, "past the end"), (-1, ">= 0"), (True, "integer")):
        with pytest.raises(ValidationError, match=match):
            client.append_record("ix", {"v": 99}, index=bad)
    assert client.redis.lrange(keys.records(namespace, "ix"), 0, -1) == before
    with pytest.raises(ValidationError, match="past the end"):
        client.append_record("fresh", {"v": 1}, index=2)
    assert client.query_item_type("fresh") is None


@pytest.mark.parametrize(
    "inputs, error, match",
    [
        ("src", ValidationError, "must be a dict"),
        ({"src": [2, 1]}, ValidationError, "start <= end"),
        ({"src": [0]}, ValidationError, r"\[start_position, end_position\]"),
        ({"src": ["a", 1]}, ValidationError, "integer"),
        ({"ghost": [0, 1]}, NotFoundError, "ghost"),
        ({"bad{": [0, 1]}, ValidationError, "braces"),
    ],
)
def test_bad_input_items_write_nothing(client, namespace, inputs, error, match):
    client.append_record("src", {"v": 0})
    before = written(client, namespace)
    with pytest.raises(error, match=match):
        client.append_record("dst", {"v": 1}, input_items=inputs)
    assert written(client, namespace) == before


@pytest.mark.slow
def test_client_writes_have_no_process_and_lineage_by_process(client, redis_url, namespace):
    client.append_record("mixed", {"who": "client"})
    vault_script(redis_url, namespace, "writer", 'vault.append_record("mixed", {"who": "w"})\n')
    assert client.query_item_content("mixed", process_name="writer") == [{"who": "w"}]
    assert client.get_records("mixed", process_name="nobody") == []
    assert client.query_item_process("mixed") == [{"process_id": "process_list/writer", "index": 0}]
    assert client.query_item_creation_process("mixed") == []  # the client created it
    # redis-cli still shows the plain records; the lineage is a parallel list.
    assert client.redis.lrange(keys.records(namespace, "mixed"), 0, -1) == [
        '{"who":"client"}',
        '{"who":"w"}',
    ]
    lineage = [
        json.loads(x) for x in client.redis.lrange(keys.record_meta(namespace, "mixed"), 0, -1)
    ]
    assert [m["process"] for m in lineage] == ["", "writer"]
    with pytest.raises(ValidationError):
        client.query_item_content("writer", process_name="writer")


@pytest.mark.slow
def test_progress_fields_count_this_run(client, redis_url, namespace):
    body = (
        "for i in range(3):\n"
        "    vault.append_record('progress', {'i': i, 'text': 'x' * 500})\n"
        "vault.close()\n"
    )
    vault_script(redis_url, namespace, "counter", body)
    info = client.get_process("counter")
    assert info.records_written == 3 and info.last_record_list == "progress"
    assert info.last_record is not None and len(info.last_record) == 200
    assert info.last_record.startswith('{"i":2,') and info.last_record.endswith("...")
    assert info.last_record_at and info.to_dict()["records_written"] == 3
    vault_script(redis_url, namespace, "counter", "vault.close()\n")
    again = client.get_process("counter")
    assert again.records_written == 0 and again.last_record is None


def test_descriptions_rank_by_cosine_similarity(client):
    for name, vec in (("a", [1, 0, 0]), ("b", [0.7, 0.7, 0]), ("c", [0, 0, 1]), ("d", [1, 0])):
        client.create_record_list(name, ["x"])
        client.create_description(name, f"list {name}", vec)
    ranked = client.query_record_list(description_embedding=[1, 0.1, 0])
    assert [m.name for m in ranked] == []  # the lists are empty: no records to return
    for name in "abcd":
        client.append_record(name, {"x": 1})
    ranked = client.query_record_list(description_embedding=[1, 0.1, 0])
    assert [m.name for m in ranked] == ["a", "b", "c"]  # "d" has another dimension
    assert ranked[0].matched_descriptions == ["BASE"]
    for bad in ([0, 0, 0], ["x"], [math.nan], "abc"):
        with pytest.raises(ValidationError):
            client.query_record_list(description_embedding=bad)


def test_cosine_ranking_exact_values():
    found = cosine_ranking([1.0, 0.0], [("x", [1.0, 1.0]), ("y", [0.0, 2.0]), ("z", [0.0, 0.0])], 5)
    assert [k for _s, k in found] == ["x", "y"]
    assert found[0][0] == pytest.approx(1 / math.sqrt(2)) and found[1][0] == 0.0
    assert cosine_ranking([1.0], [(i, [float(i + 1)]) for i in range(9)], 3) == [
        (1.0, 0), (1.0, 1), (1.0, 2)
    ]  # fmt: skip


def test_query_description_by_words_and_by_embedding(client):
    """The original's cross-item description searches: ``[description_name,
    description_text, item_name, item_type]`` rows."""
    for name, text, vec in (
        ("a", "loss per epoch of the ranker", [1, 0, 0]),
        ("b", "ranker evaluation scores", [0.7, 0.7, 0]),
        ("c", "unrelated notes", [0, 0, 1]),
        ("d", "ranker in two dimensions", [1, 0]),
    ):
        client.create_record_list(name, ["x"])
        client.create_description(name, text, vec)
    client.create_description("a", "the ranker's short name", None, description_name="short")
    assert client.query_description("ranker") == [
        ["BASE", "loss per epoch of the ranker", "a", "record_list"],
        ["short", "the ranker's short name", "a", "record_list"],
        ["BASE", "ranker evaluation scores", "b", "record_list"],
        ["BASE", "ranker in two dimensions", "d", "record_list"],
    ]
    assert client.query_description("Ranker EVALUATION") == [
        ["BASE", "ranker evaluation scores", "b", "record_list"]
    ]
    assert client.query_description("ranker", k=1) == client.query_description("ranker")[:1]
    assert client.query_description("nowhere") == client.query_description("") == []
    ranked = client.query_description_embedding([1, 0.1, 0])
    assert [row[2] for row in ranked] == ["a", "b", "c"]  # "d" is of another dimension
    assert client.query_description_embedding([1, 0.1, 0], k=1, use_approx=True) == ranked[:1]
    assert client.query_description_embedding([0, 1]) == [
        ["BASE", "ranker in two dimensions", "d", "record_list"]
    ]
    for bad in ([0, 0, 0], [], ["x"], [math.nan], "abc", None):
        with pytest.raises(ValidationError):
            client.query_description_embedding(bad)
    for k in (-1, "5", None):
        with pytest.raises(ValidationError, match="k must be"):
            client.query_description("ranker", k=k)
    with pytest.raises(ValidationError, match="description_text"):
        client.query_description(5)
