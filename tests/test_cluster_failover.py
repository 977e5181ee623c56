"""A Redis Cluster of 3 masters and 3 replicas loses the master of a worker's slot:
the replica takes over, and the worker stays controllable and loses no record."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from ha_helpers import assert_records_arrived, control_after_failover, replicated
from helpers import wait_until
from servers import RedisClusterServers

from tablevault_redis import VaultClient, keys

pytestmark = pytest.mark.slow

HEARTBEAT = {"TABLEVAULT_HEARTBEAT_INTERVAL": "0.5", "TABLEVAULT_HEARTBEAT_TTL": "10"}


@pytest.fixture
def cluster_ha() -> Iterator[RedisClusterServers]:
    # A short node timeout: the replica is promoted about two seconds after the kill.
    with RedisClusterServers(replicas=1, options={"cluster-node-timeout": "1500"}) as cluster:
        yield cluster


def test_worker_survives_the_death_of_its_master(cluster_ha, spawner, namespace):
    # Enter through a node that is not the one about to die.
    proc_key = keys.proc(namespace, "w")
    victim = cluster_ha.master_for_key(proc_key)
    assert victim is not None
    url = next(n.url for n in cluster_ha.nodes if n is not victim)
    worker = spawner.worker(url, namespace, "w", script="ha_worker.py", env=HEARTBEAT)
    worker.wait_ready().advancing()
    with VaultClient(url, namespace) as client:
        assert client._conn.cluster
        replicated(victim, proc_key)
        victim.kill()
        killed = time.monotonic()
        wait_until(
            lambda: cluster_ha.master_for_key(proc_key) not in (None, victim), 20, 0.05, "promotion"
        )
        promoted = time.monotonic()
        accepted = control_after_failover(client, worker)
        assert_records_arrived(client, worker)
        assert accepted - killed < (promoted - killed) + 10
