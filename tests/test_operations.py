"""Operations and vault_cleanup against real workers killed with -9."""

from __future__ import annotations

import sys
import threading

import pytest
from helpers import SCRIPTS, child_env, wait_judgeable, wait_until

from tablevault_redis import ValidationError, VaultClient, keys, operations, scripts

FAST_HB = ("--heartbeat", "0.2", "0.6")


def item_ops(client: VaultClient, name: str) -> list[operations.Operation]:
    return [
        op
        for op in client.get_current_operations()
        if op.process_name == name and op.kind == operations.CODE_ITEM
    ]


def wait_dead(client: VaultClient, name: str) -> None:
    wait_until(lambda: not client.get_process(name).alive, 5, what=f"{name}'s heartbeat to expire")
    wait_judgeable(client, 0.6, 0.2)  # FAST_HB: a fresh server defers the verdict


@pytest.mark.slow
def test_killed_script_is_crashed_and_its_item_closed(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "victim", *FAST_HB).wait_ready()
    (op,) = wait_until(lambda: item_ops(client, "victim"), 5, what="the code item operation")
    assert op.arguments["index"] == 0 and op.to_dict()["kind"] == "code_item"
    # A live process's operation is skipped, never rolled back.
    live = client.vault_cleanup(interval=0)
    assert op.id in live.skipped and not live.crashed and not live.rolled_back
    assert client.get_code_items("victim")[0].status == "open"

    w.kill()
    wait_dead(client, "victim")
    assert item_ops(client, "victim") == [op]  # still registered: nobody closed it
    report = client.vault_cleanup(interval=0)
    assert report.crashed == ["victim"]
    assert op.id in report.completed and not report.rolled_back
    info = client.get_process("victim")
    assert info.status == "crashed" and "died" in (info.error or "")
    (item,) = client.get_code_items("victim")
    assert item.status == "crashed" and "died" in item.error
    assert item_ops(client, "victim") == []
    # The item stays findable: its operation was completed, not rolled back.
    assert [m.name for m in client.query_process_list(code_text="swallowed marker")] == ["victim"]

    again = client.vault_cleanup(interval=0)
    assert not again.changed, again.to_dict()
    assert client.get_process("victim").status == "crashed"


@pytest.mark.slow
def test_killed_notebook_cell_is_closed(spawner, client, redis_url, namespace, tmp_path):
    proc = spawner.run(
        [sys.executable, str(SCRIPTS / "ops_cell_worker.py"), "nb", str(tmp_path)],
        env=child_env(redis_url, namespace),
    )
    wait_until((tmp_path / "in_cell").exists, 15, what="the cell to start")
    (op,) = wait_until(lambda: item_ops(client, "nb"), 5, what="the cell's operation")
    assert client.get_process("nb").execution_type == "notebook"
    # The operation is written before the item it announces (two writes of the outbox).
    index = op.arguments["index"]
    items = wait_until(lambda: client.get_code_items("nb")[index:], 5, what="the cell's item")
    cell = items[0]
    assert cell.status == "open" and "forest model" in cell.text
    proc.kill()
    proc.wait(10)
    wait_dead(client, "nb")
    report = client.vault_cleanup(interval=0)
    assert report.crashed == ["nb"] and op.id in report.completed
    cell = client.get_code_items("nb")[op.arguments["index"]]
    assert cell.status == "crashed" and "died" in cell.error
    assert item_ops(client, "nb") == []
    assert not client.vault_cleanup(interval=0).changed


@pytest.mark.slow
def test_selected_timestamps_clean_exactly_those(spawner, client, redis_url, namespace):
    a = spawner.worker(redis_url, namespace, "a", *FAST_HB)
    b = spawner.worker(redis_url, namespace, "b", *FAST_HB)
    a.wait_ready(), b.wait_ready()
    (op_a,) = wait_until(lambda: item_ops(client, "a"), 5)
    (op_b,) = wait_until(lambda: item_ops(client, "b"), 5)
    a.kill(), b.kill()
    wait_dead(client, "a"), wait_dead(client, "b")

    report = client.vault_cleanup(selected_timestamps=[int(op_a.id)])
    assert report.completed == [op_a.id] and report.crashed == ["a"]
    assert item_ops(client, "b") == [op_b]
    # b's item is not closed in the data (readers already show it crashed)
    code_b = client.redis.xrange(keys.code(namespace, "b"))
    assert [fields["event"] for _id, fields in code_b] == ["open"]
    assert client.get_code_items("b")[0].status == "crashed"

    report = client.vault_cleanup(interval=0)
    assert report.completed == [op_b.id] and report.crashed == ["b"]
    with pytest.raises(ValidationError):
        client.vault_cleanup(selected_timestamps=["not-an-id"])


def test_an_item_that_never_opened_is_rolled_back(client, namespace):
    """A process that died between indexing an item and opening it leaves an
    operation whose index entries cleanup removes."""
    op = operations.code_item_op("ghost", "host:1:dead", 0, 1, 0, "import ghostly_library")
    scripts.op_begin(client._conn, namespace, op.id, op.json, code_words=op.words, member=op.member)
    op_id = op.id
    assert [m.name for m in client.query_process_list(code_text="ghostly_library")] == ["ghost"]
    young = client.vault_cleanup(interval=3600)
    assert not young.changed
    report = client.vault_cleanup(interval=0)
    assert report.rolled_back == [op_id] and not report.completed
    assert client.query_process_list(code_text="ghostly_library") == []
    assert not client.redis.exists(keys.code_word(namespace, "ghostly_library"))
    assert client.get_current_operations() == []


@pytest.mark.slow
def test_requests_to_dead_processes_are_cleared(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "held", "--hold", *FAST_HB).wait_ready()
    client.pause_execution("held")  # pending: the worker never reaches a checkpoint
    w.kill()
    wait_dead(client, "held")
    report = client.vault_cleanup(interval=0)
    assert report.requests_cleared == ["held"] and report.crashed == ["held"]
    info = client.get_process("held")
    assert info.interrupt_action is None
    assert not client.redis.exists(keys.request(namespace, "held"))


@pytest.mark.slow
def test_concurrent_cleanups_each_change_once(spawner, redis_url, namespace):
    workers = [spawner.worker(redis_url, namespace, f"d{i}", *FAST_HB) for i in range(4)]
    clients = [VaultClient(redis_url, namespace) for _ in range(2)]
    try:
        for w in workers:
            w.wait_ready()
        for i in range(4):
            wait_until(lambda i=i: item_ops(clients[0], f"d{i}"), 5)
        for w in workers:
            w.kill()
        for i in range(4):
            wait_dead(clients[0], f"d{i}")
        reports = [None, None]
        barrier = threading.Barrier(2)

        def run(k: int) -> None:
            barrier.wait()
            reports[k] = clients[k].vault_cleanup(interval=0)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        crashed = sorted(reports[0].crashed + reports[1].crashed)
        completed = reports[0].completed + reports[1].completed
        assert crashed == [f"d{i}" for i in range(4)]
        assert len(completed) == len(set(completed)) == 4
        assert clients[0].get_current_operations() == []
    finally:
        for c in clients:
            c.close()


@pytest.mark.slow
def test_dead_runs_unopened_item_never_touches_the_next_run(spawner, client, redis_url, namespace):
    """Run 1 indexed item 1 and died before opening it; run 2 of the name reuses index
    1. Cleanup rolls run 1's words back and leaves run 2's item alone."""
    first = spawner.worker(redis_url, namespace, "P", "--iterations", "1").wait_ready()
    assert first.wait_exit() == 0
    info = client.get_process("P")
    assert info.run == 1 and info.code_count == 1
    token = client.redis.hget(keys.proc(namespace, "P"), "heartbeat_token")
    # What run 1 would have left had it died between the two writes of item 1.
    op = operations.code_item_op("P", token, 1, 1, 999, "secret zebra words")
    scripts.op_begin(client._conn, namespace, op.id, op.json, code_words=op.words, member=op.member)
    op_id = op.id
    second = spawner.worker(redis_url, namespace, "P").wait_ready()
    assert [(i.index, i.run, i.status) for i in client.get_code_items("P")] == [
        (0, 1, "completed"),
        (1, 2, "open"),
    ]
    report = client.vault_cleanup(interval=0)
    assert op_id in report.rolled_back
    assert [(i.index, i.run, i.status) for i in client.get_code_items("P")][1] == (1, 2, "open")
    assert client.query_process_list(code_text="zebra") == []
    assert [m.index for m in client.query_process_list(code_text="checkpoint_execution")] == [
        0,
        1,
    ]
    assert client.get_process("P").status == "running"
    second.kill()


def test_cleanup_leaves_entries_it_did_not_write_alone(client, namespace):
    ops = keys.operations(namespace)
    client.redis.hset(ops, mapping={"1": "[1, 2]", "2": '{"updated_at": "soon"}', "3": "{"})
    report = client.vault_cleanup(interval=0)
    assert not report.changed
    assert client.redis.hlen(ops) == 3
    assert client.get_current_operations() == []
