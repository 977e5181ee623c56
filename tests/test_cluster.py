"""The control plane on a real Redis Cluster of several redis-server processes."""

from __future__ import annotations

import pytest
from helpers import pause_resume_stop

from tablevault_redis import VaultClient, keys, scripts


@pytest.mark.slow
def test_stop_pause_resume_on_a_cluster(spawner, redis_cluster, namespace):
    # Enter through the last node: the client must find its way to every slot.
    url = redis_cluster.urls[-1]
    workers = [spawner.worker(url, namespace, f"w{i}").wait_ready() for i in range(3)]
    with VaultClient(url, namespace) as c:
        assert c._conn.cluster
        assert sorted(p.name for p in c.list_processes()) == ["w0", "w1", "w2"]
        for w in workers:
            pause_resume_stop(c, w)
            assert [i.status for i in c.get_code_items(w.name)] == ["stopped"]
        # Every key of one process lives in one slot.
        written = [keys.proc(namespace, "w0"), keys.code(namespace, "w0")]
        names = [
            *written,
            keys.request(namespace, "w0"),
            keys.alive(namespace, "w0"),
            keys.runs(namespace, "w0"),
            keys.channel(namespace, "w0"),
            keys.children(namespace, "w0"),
        ]
        assert all(c.redis.exists(k) for k in written)
        assert len({c.redis.keyslot(k) for k in names}) == 1


def test_cluster_detected_and_forced(redis_cluster, namespace):
    with VaultClient(redis_cluster.url, namespace, cluster=True) as c:
        assert c._conn.cluster
        assert c._conn.sharded_pubsub == (c._conn.version >= (7, 0))


def test_a_script_batch_on_a_cluster(redis_cluster, namespace):
    """Batched script calls go one by one, each to its own key's node, and come back
    typed and in order (cleanup batches its clear_request and finish calls)."""
    names = [f"p{i}" for i in range(6)]  # several slots, on several nodes
    with VaultClient(redis_cluster.url, namespace) as c:
        for name in names[:4]:
            c.redis.set(keys.request(namespace, name), "{}")
        batch = scripts.Batch(c._conn)
        for name in names:
            scripts.clear_request(c._conn, namespace, name, client=batch)
        assert batch.execute() == [True] * 4 + [False] * 2
        assert not any(c.redis.exists(keys.request(namespace, n)) for n in names)
        assert len({c.redis.keyslot(keys.request(namespace, n)) for n in names}) > 1


def test_request_many_on_a_cluster(redis_cluster, namespace):
    """The names' keys are in many slots, which one script call cannot cross: there
    ``request_many`` runs the request script per name, and answers per name."""
    from clitools import fake_process

    from tablevault_redis import NotFoundError

    names = [f"p{i}" for i in range(6)]
    with VaultClient(redis_cluster.url, namespace) as c:
        for name in names:
            fake_process(c._conn, namespace, name)
        *asked, nope = c.request_many("pause", [*names, "nope"])
        assert asked == [1] * 6 and isinstance(nope, NotFoundError)
        assert {p.name: p.interrupt_action for p in c.list_processes()} == dict.fromkeys(
            names, "pause"
        )
        assert len({c.redis.keyslot(keys.proc(namespace, n)) for n in names}) > 1
