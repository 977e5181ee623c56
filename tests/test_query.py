"""query_process_list over real parent/child processes, and on a Redis Cluster."""

from __future__ import annotations

import sys

import pytest
from helpers import SCRIPTS, child_env, run_python, wait_until

from tablevault_redis import ValidationError, VaultClient


@pytest.fixture
def family(spawner, client, redis_url, namespace):
    """A parent that spawned two children, plus an unrelated process."""
    parent = spawner.run(
        [sys.executable, str(SCRIPTS / "spawn_parent.py"), "search", "kid1", "kid2"],
        env=child_env(redis_url, namespace),
    )
    other = spawner.run(
        [sys.executable, str(SCRIPTS / "appender.py"), "loner", "other", "3"],
        env=child_env(redis_url, namespace),
    )
    assert parent.wait(30) == 0, parent.stdout.read() if parent.stdout else ""
    assert other.wait(30) == 0
    wait_until(lambda: not client.get_current_operations(), 10, what="the code items to close")
    client.create_description("kid1", "Gradient boosting experiment")
    client.create_description("search", "Hyperparameter search driver", description_name="ABOUT")
    return client


def names(matches) -> list[tuple[str, int]]:
    return [(m.name, m.index) for m in matches]


@pytest.mark.slow
def test_each_filter_alone(family):
    client = family
    spawned = client.query_process_list(parent_code_text="spawn_worker")
    assert names(spawned) == [("kid1", 0), ("kid2", 0)]
    name, index, start, descs, procs = spawned[0]
    assert (name, index, start) == ("kid1", 0, 0)
    assert descs == [] and procs == [["search", 0]]

    assert names(client.query_process_list(code_text="spawn_worker")) == [("search", 0)]
    assert names(client.query_process_list(code_text="FIT Model")) == [("kid1", 0), ("kid2", 0)]
    # Whole words only: "spawn" is not a word of "spawn_worker".
    assert client.query_process_list(code_text="spawn_worker nowhere_word") == []
    assert client.query_process_list(code_text="spawn") == []

    described = client.query_process_list(description_text="gradient BOOSTING")
    assert names(described) == [("kid1", 0)]
    assert described[0].matched_descriptions == ["BASE"]
    assert described[0].matched_processes == []

    assert names(client.query_process_list(filtered=["loner", "ghost"])) == [("loner", 0)]
    everything = client.query_process_list()
    assert names(everything) == [("kid1", 0), ("kid2", 0), ("loner", 0), ("search", 0)]


@pytest.mark.slow
def test_filters_combine_with_and(family):
    client = family
    both = client.query_process_list(
        code_text="model fit", parent_code_text="Children spawn_worker", filtered=["kid2"]
    )
    assert names(both) == [("kid2", 0)]
    assert both[0].matched_processes == [["search", 0]]
    with_desc = client.query_process_list(
        parent_code_text="spawn_worker", description_text="experiment"
    )
    assert names(with_desc) == [("kid1", 0)]
    assert with_desc[0].matched_descriptions == ["BASE"]
    assert with_desc[0].matched_processes == [["search", 0]]
    assert client.query_process_list(code_text="spawn_worker", description_text="boosting") == []
    assert client.query_process_list(parent_code_text="spawn_worker", filtered=["loner"]) == []
    # The parent's code item that spawned them is index 0; index 1 does not exist.
    assert names(client.query_process_list(description_text="hyperparameter")) == [("search", 0)]


def test_query_arguments_are_checked(client):
    with pytest.raises(ValidationError):
        client.query_process_list(code_text="  ... ")
    with pytest.raises(ValidationError):
        client.query_process_list(filtered="kid1")
    with pytest.raises(ValidationError):
        client.query_process_list(filtered=["bad{name"])
    assert client.query_process_list(code_text="anything") == []


@pytest.mark.slow
def test_queries_and_appends_on_a_cluster(spawner, redis_cluster, namespace):
    url = redis_cluster.url
    procs = [
        spawner.run(
            [sys.executable, str(SCRIPTS / "appender.py"), f"c{i}", "clustered", "50"],
            env=child_env(url, namespace),
        )
        for i in range(2)
    ]
    for p in procs:
        assert p.wait(30) == 0, p.stdout.read() if p.stdout else ""
    client = VaultClient(url, namespace)
    try:
        assert client._conn.cluster
        records = client.query_item_content("clustered")
        assert len(records) == 100
        for i in range(2):
            assert [r["seq"] for r in records if r["writer"] == f"c{i}"] == list(range(50))
        client.create_description("c1", "clustered appender")
        wait_until(lambda: not client.get_current_operations(), 10)
        found = client.query_process_list(code_text="append_record checkpoint_execution")
        assert names(found) == [("c0", 0), ("c1", 0)]
        found = client.query_process_list(
            code_text="append_record", description_text="clustered appender"
        )
        assert names(found) == [("c1", 0)]
        assert client.query_item_names() == ["c0", "c1", "clustered"]
        assert not client.vault_cleanup(interval=0).changed
    finally:
        client.close()


@pytest.mark.slow
def test_parent_code_text_follows_each_run_of_a_reused_child_name(client, redis_url, namespace):
    """Run 1 of "child" was spawned by alpha, run 2 by beta: each parent's query finds
    only the items of the run it spawned."""

    def run(code: str) -> None:
        r = run_python(code, redis_url, namespace)
        assert r.returncode == 0, r.stderr

    child = (
        "import os\n"
        "from tablevault_redis import Vault\n"
        "Vault('u', 'child', namespace=os.environ['TEST_NAMESPACE'])\n"
    )
    for parent, word in (("alpha", "spawn_alpha"), ("beta", "spawn_beta")):
        run(
            "import os, subprocess, sys\n"
            "from tablevault_redis import Vault\n"
            f"v = Vault('u', {parent!r}, namespace=os.environ['TEST_NAMESPACE'])\n"
            f"# {word}\n"
            f"subprocess.run([sys.executable, '-c', {child!r}], check=True)\n"
        )
    by_alpha = client.query_process_list(parent_code_text="spawn_alpha")
    by_beta = client.query_process_list(parent_code_text="spawn_beta")
    items = client.get_code_items("child")
    assert [(i.index, i.run) for i in items] == [(0, 1), (1, 2)]
    assert [(m.name, m.index, m.matched_processes) for m in by_alpha] == [
        ("child", 0, [["alpha", 0]])
    ]
    assert [(m.name, m.index, m.matched_processes) for m in by_beta] == [
        ("child", 1, [["beta", 0]])
    ]
