"""Record lists, descriptions and reading items back."""

from __future__ import annotations

import sys

import pytest
from helpers import ROOT, SCRIPTS, child_env, run_python, wait_until

from tablevault_redis import (
    DuplicateItemError,
    NotFoundError,
    ValidationError,
    VaultClient,
    keys,
)


def namespace_keys(client: VaultClient, namespace: str) -> set[str]:
    return set(client.redis.scan_iter(match=keys.namespace_pattern(namespace), count=1000))


@pytest.mark.slow
def test_reference_worker_records_read_back_in_order(spawner, fresh_redis, tmp_path):
    client = VaultClient(fresh_redis.url)  # the reference examples use the default namespace
    try:
        proc = spawner.run(
            [sys.executable, str(ROOT / "tests" / "reference" / "worker.py")],
            env=child_env(fresh_redis.url),
            cwd=tmp_path,
        )

        def count() -> int:
            try:
                return client.query_item_list("training_logs")["n_items"]
            except NotFoundError:
                return 0

        wait_until(lambda: count() >= 20, 15, what="20 training_logs records")
        ops = client.get_current_operations()
        assert [op.process_name for op in ops if op.kind == "code_item"] == ["slow_experiment"]
        client.stop_execution("slow_experiment", wait=True, timeout=10)
        assert proc.wait(10) == 0
        records = client.query_item_content("training_logs")
        assert [r["epoch"] for r in records] == list(range(len(records)))
        assert all(isinstance(r["loss"], float) for r in records)
        assert client.query_item_content("training_logs", index=3)["epoch"] == 3
        assert client.query_item_content("training_logs", start_position=2, end_position=5) == [
            records[2],
            records[3],
            records[4],
        ]
        assert client.query_item_content("training_logs", start_position=-2) == records[-2:]
        assert client.get_record_list_columns("training_logs") == ["epoch", "loss"]
        assert client.get_process("slow_experiment").status == "stopped"
        assert client.get_current_operations() == []
        assert client.query_item_names("record_list") == ["training_logs"]
        assert client.query_item_names("process") == ["slow_experiment"]
    finally:
        client.close()


@pytest.mark.slow
def test_four_processes_append_1000_each(spawner, client, redis_url, namespace, tmp_path):
    go = tmp_path / "go"
    procs = [
        spawner.run(
            [sys.executable, str(SCRIPTS / "appender.py"), f"app{i}", "shared", "1000"],
            env=child_env(redis_url, namespace, APPEND_GO=str(go)),
        )
        for i in range(4)
    ]
    wait_until(lambda: len(client.list_processes()) == 4, 15, what="the appenders to register")
    go.write_text("go")
    for p in procs:
        assert p.wait(60) == 0, p.stdout.read() if p.stdout else ""
    records = client.query_item_content("shared")
    assert len(records) == 4000
    for i in range(4):
        mine = [r["seq"] for r in records if r["writer"] == f"app{i}"]
        assert mine == list(range(1000))  # none lost, each writer's order kept
    interleaved = sum(records[k]["writer"] != records[k + 1]["writer"] for k in range(3999))
    assert interleaved > 3  # the writers really ran at the same time
    # A total order: every reader, whole or in slices, sees the same sequence.
    other = VaultClient(redis_url, namespace)
    try:
        assert other.get_records("shared") == records
        sliced = []
        for start in range(0, 4000, 700):
            sliced += other.query_item_content(
                "shared", start_position=start, end_position=start + 700
            )
        assert sliced == records
    finally:
        other.close()


@pytest.mark.parametrize(
    "record, match",
    [
        ({"epoch": 1}, "has columns"),
        ({"epoch": 1, "loss": 1.0, "extra": 2}, "has columns"),
        ({"epoch": 1, "loss": object()}, "JSON"),
        ({"epoch": 1, "loss": {1, 2}}, "JSON"),
        ({1: 1, "loss": 1.0}, "column names must be strings"),
        ({"ep{och": 1, "loss": 1.0}, "braces"),
        ([("epoch", 1)], "must be a dict"),
        ({}, "at least one column"),
        ({"epoch": 1, "loss": {"nested": {1: 2}}}, "non-string key 1"),
        ({"epoch": 1, "loss": (1, 2)}, "tuple"),
        ({"epoch": 1, "loss": [{"a": (1,)}]}, "tuple"),
        ({"epoch": 1, "loss": "\ud800"}, "JSON"),
    ],
)
def test_bad_records_write_nothing(client, namespace, record, match):
    client.create_record_list("logs", ["epoch", "loss"])
    client.append_record("logs", {"loss": 0.5, "epoch": 0})  # key order does not matter
    before = client.get_records("logs")
    with pytest.raises(ValidationError, match=match):
        client.append_record("logs", record)
    assert client.get_records("logs") == before == [{"loss": 0.5, "epoch": 0}]


def test_invalid_first_record_creates_nothing(client, namespace):
    with pytest.raises(ValidationError):
        client.append_record("fresh", {"a": object()})
    with pytest.raises(ValidationError):
        client.append_record("bad{name}", {"a": 1})
    with pytest.raises(ValidationError):
        client.create_record_list("", ["a"])
    with pytest.raises(ValidationError):
        client.create_record_list("dups", ["a", "a"])
    assert namespace_keys(client, namespace) == set()


def test_create_record_list_rules(client):
    client.create_record_list("runs", ["lr", "score"])
    client.create_record_list("runs", ["lr", "score"])  # same columns: nothing to do
    with pytest.raises(DuplicateItemError, match="already exists"):
        client.create_record_list("runs", ["lr"])
    assert client.get_records("runs") == []
    assert client.append_record("runs", {"lr": 0.1, "score": None}) == 0
    assert client.append_record("runs", {"score": [1, 2], "lr": "x"}) == 1
    assert client.query_item_content("runs", index=-1) == {"score": [1, 2], "lr": "x"}
    with pytest.raises(NotFoundError):
        client.query_item_content("runs", index=5)


def test_unknown_items_are_not_found_and_write_nothing(client, namespace):
    for call in (
        lambda: client.query_item_content("nope"),
        lambda: client.query_item_list("nope"),
        lambda: client.get_record_list_columns("nope"),
        lambda: client.create_description("nope", "a description"),
    ):
        with pytest.raises(NotFoundError, match="nope"):
            call()
    with pytest.raises(ValidationError):
        client.query_item_names("table")
    assert namespace_keys(client, namespace) == set()


def test_descriptions_of_record_lists(client, namespace):
    client.create_record_list("metrics", ["k", "v"])
    client.create_description("metrics", "Validation metrics per epoch", embedding=[0.5, 1])
    client.create_description("metrics", "Second opinion", description_name="NOTE")
    got = client.get_descriptions("metrics")
    assert got["BASE"]["text"] == "Validation metrics per epoch"
    assert got["BASE"]["embedding"] == [0.5, 1.0] and got["NOTE"]["embedding"] is None
    assert client.redis.sismember(keys.description_word(namespace, "validation"), "metrics\x1fBASE")
    # Replacing a description moves its words in the index.
    client.create_description("metrics", "Test metrics")
    assert not client.redis.exists(keys.description_word(namespace, "validation"))
    assert client.redis.sismember(keys.description_word(namespace, "test"), "metrics\x1fBASE")
    with pytest.raises(ValidationError):
        client.create_description("metrics", "x", embedding=[float("nan")])
    with pytest.raises(ValidationError):
        client.create_description("metrics", 42)  # type: ignore[arg-type]
    assert client.query_item_names() == ["metrics"]
    # The original's other list types: nothing of them exists here.
    for kind in ("file_list", "document_list", "embedding_list"):
        assert client.query_item_names(kind) == []


@pytest.mark.slow
def test_process_and_record_list_names_do_not_clash(client, redis_url, namespace):

    client.create_record_list("metrics", ["step"])
    code = (
        "import os\nfrom tablevault_redis import Vault\n"
        "Vault('u', 'metrics', namespace=os.environ['TEST_NAMESPACE'])\n"
    )
    r = run_python(code, redis_url, namespace)
    assert r.returncode == 1 and "taken by a record list" in r.stderr
    assert client.redis.exists(keys.proc(namespace, "metrics")) == 0


@pytest.mark.slow
def test_negative_code_item_index_counts_from_the_end(spawner, client, redis_url, namespace):
    for _ in range(2):
        assert spawner.worker(redis_url, namespace, "p", "--iterations", "1").wait_exit() == 0
    items = client.get_code_items("p")
    assert len(items) == 2
    assert client.query_item_content("p", index=-1)["text"] == items[1].text
    assert client.query_item_content("p", index=-2)["text"] == items[0].text
    with pytest.raises(NotFoundError):
        client.query_item_content("p", index=-3)
