"""Groups of real redis-server processes: a Redis Cluster (with replicas if asked)
and a Sentinel-watched primary with replicas, for failover tests.

Each group is built from :class:`servers.RedisServer`, so every process is killed
at interpreter exit even when a test is interrupted.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import redis
from servers import _LIVE, _POLL, OptionValue, RedisServer

from tablevault_redis.embedded import find_redis_binary

# A replica syncs at once instead of after the default 5 s diskless-sync delay.
_FAST_SYNC: dict[str, OptionValue] = {"repl-diskless-sync-delay": "0"}


def _wait_synced(nodes: list[RedisServer], timeout: float) -> None:
    """Poll until every replica among ``nodes`` has its link to its master up (a
    replica that never synced cannot take over)."""
    deadline = time.monotonic() + timeout
    for node in nodes:
        while True:
            client = node.client()
            try:
                info = client.info("replication")
            finally:
                client.close()
            if info.get("role") == "master" or info.get("master_link_status") == "up":
                break
            if time.monotonic() >= deadline:
                raise RuntimeError(f"replica on port {node.port} never synced: {info}")
            time.sleep(_POLL)


class RedisClusterServers:
    """``masters`` cluster-mode redis-servers with all 16384 slots assigned.

    Built with ``redis-cli --cluster create``; ready once every node reports
    ``cluster_state:ok`` and knows every other node.
    """

    def __init__(
        self,
        masters: int = 3,
        *,
        replicas: int = 0,
        options: Mapping[str, OptionValue] | None = None,
        timeout: float = 30.0,
    ) -> None:
        if masters < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 masters")
        self.replicas = replicas
        self.nodes: list[RedisServer] = []
        node_options: dict[str, OptionValue] = {
            "cluster-enabled": "yes",
            "cluster-config-file": "nodes.conf",
            "cluster-node-timeout": "5000",
            **_FAST_SYNC,
            **(options or {}),
        }
        try:
            for _ in range(masters * (1 + replicas)):
                self.nodes.append(RedisServer(node_options, cluster_bus=True))
            self._create(timeout)
            if replicas:
                self._wait_replicas(masters * replicas, timeout)
        except BaseException:
            self.stop()
            raise

    def _create(self, timeout: float) -> None:
        """Assign slots with redis-cli, then poll until every node agrees."""
        cli = find_redis_binary("redis-cli")
        addresses = [f"{n.host}:{n.port}" for n in self.nodes]
        result = subprocess.run(
            [
                *(cli, "--cluster", "create", *addresses),
                *("--cluster-replicas", str(self.replicas), "--cluster-yes"),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"redis-cli --cluster create failed:\n{result.stdout}{result.stderr}"
            )
        deadline = time.monotonic() + timeout
        pending = list(self.nodes)
        while pending:
            node = pending[0]
            client = node.client()
            try:
                info = client.cluster("INFO")
            finally:
                client.close()
            text = info if isinstance(info, str) else str(info)
            if isinstance(info, dict):
                ok = info.get("cluster_state") == "ok" and int(
                    info.get("cluster_known_nodes", 0)
                ) == len(self.nodes)
            else:
                ok = "cluster_state:ok" in text and f"cluster_known_nodes:{len(self.nodes)}" in text
            if ok:
                pending.pop(0)
                continue
            if time.monotonic() >= deadline:
                raise RuntimeError(f"cluster not ok on port {node.port}: {text}")
            time.sleep(_POLL)

    def _wait_replicas(self, count: int, timeout: float) -> None:
        """Poll until ``count`` nodes are replicas with their link to the master up."""
        deadline = time.monotonic() + timeout
        while True:
            synced = 0
            for node in self.nodes:
                client = node.client()
                try:
                    info = client.info("replication")
                finally:
                    client.close()
                synced += info.get("master_link_status") == "up"
            if synced >= count:
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(f"only {synced} of {count} cluster replicas synced")
            time.sleep(_POLL)

    def _node_at(self, address: str) -> RedisServer:
        port = int(address.rsplit(":", 1)[1].split("@")[0])
        return next(n for n in self.nodes if n.port == port)

    def master_for_key(self, key: str) -> RedisServer | None:
        """The node serving ``key``'s slot now, asked of any live node; None while
        that master has failed and no replica has taken over yet."""
        live = next(n for n in self.nodes if n.running)
        client = live.client()
        try:
            slot = int(client.cluster("KEYSLOT", key))
            for address, node in client.cluster("NODES").items():
                flags = node["flags"]
                if "master" not in flags or "fail" in flags:
                    continue
                for span in node["slots"]:
                    if int(span[0]) <= slot <= int(span[-1]):
                        return self._node_at(address)
        finally:
            client.close()
        return None

    @property
    def urls(self) -> list[str]:
        """One ``redis://`` URL per node."""
        return [n.url for n in self.nodes]

    @property
    def url(self) -> str:
        """The first node's URL (any node works as an entry point)."""
        return self.nodes[0].url

    def client(self, **kwargs: Any) -> redis.RedisCluster:
        """A ``redis.RedisCluster`` entered through the first node."""
        params: dict[str, Any] = {"decode_responses": True}
        params.update(kwargs)
        first = self.nodes[0]
        return redis.RedisCluster(host=first.host, port=first.port, **params)

    def stop(self) -> None:
        """Stop every node and remove their directories."""
        for node in self.nodes:
            node.close()

    def __enter__(self) -> RedisClusterServers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class SentinelNode(RedisServer):
    """``redis-server --sentinel``: the same config-file handling, started in
    Sentinel mode; stopped with SIGTERM (it keeps no data to flush)."""

    DEFAULTS: Mapping[str, OptionValue] = {}

    def _launch(self) -> bool:
        conf = self._write_config()
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, str(conf), "--sentinel"],
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _LIVE.add(self.proc)
        return self._wait_ping()

    def stop(self, timeout: float = 10.0) -> None:
        self._reap(signal.SIGTERM, timeout)


class RedisSentinelServers:
    """A primary, ``replicas`` replicas and ``sentinels`` Sentinels watching them as
    service ``service``, all on free ports; ready once every Sentinel knows the
    replicas and the other Sentinels (a failover needs both).

    ``down_after_ms`` and ``failover_timeout_ms`` are short so tests see a failover
    within seconds.
    """

    def __init__(
        self,
        *,
        replicas: int = 1,
        sentinels: int = 3,
        service: str = "tvmaster",
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        options: Mapping[str, OptionValue] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.service = service
        self.master: RedisServer | None = None
        self.replicas: list[RedisServer] = []
        self.sentinels: list[SentinelNode] = []
        options = {**_FAST_SYNC, **(options or {})}
        try:
            self.master = RedisServer(options)
            for _ in range(replicas):
                replica_options = {**options, "replicaof": self._replicaof()}
                self.replicas.append(RedisServer(replica_options))
            quorum = sentinels // 2 + 1
            monitor = [
                f"monitor {service} 127.0.0.1 {self.master.port} {quorum}",
                f"down-after-milliseconds {service} {down_after_ms}",
                f"failover-timeout {service} {failover_timeout_ms}",
                f"parallel-syncs {service} 1",
            ]
            if self.master.password is not None:
                monitor.append(f"auth-pass {service} {self.master.password}")
            for _ in range(sentinels):
                self.sentinels.append(SentinelNode({"sentinel": monitor}))
            _wait_synced(self.replicas, timeout)
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _replicaof(self) -> str:
        assert self.master is not None
        return f"127.0.0.1 {self.master.port}"

    def sentinel_master(self, node: SentinelNode) -> dict[str, Any]:
        """``SENTINEL MASTER <service>`` as one Sentinel sees it."""
        client = node.client(socket_timeout=2.0)
        try:
            return dict(client.sentinel_master(self.service))
        finally:
            client.close()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        want_others, want_replicas = len(self.sentinels) - 1, len(self.replicas)
        for node in self.sentinels:
            while True:
                state = self.sentinel_master(node)
                if (
                    int(state.get("num-other-sentinels", 0)) >= want_others
                    and int(state.get("num-slaves", 0)) >= want_replicas
                ):
                    break
                if time.monotonic() >= deadline:
                    raise RuntimeError(f"Sentinel on port {node.port} not ready: {state}")
                time.sleep(0.05)

    def master_address(self) -> tuple[str, int] | None:
        """The primary as the first Sentinel that answers reports it."""
        for node in self.sentinels:
            if not node.running:
                continue
            with contextlib.suppress(redis.RedisError, OSError):
                client = node.client(socket_timeout=2.0)
                try:
                    host, port = client.sentinel_get_master_addr_by_name(self.service)
                finally:
                    client.close()
                return str(host), int(port)
        return None

    def url(self, *, auth: str = "", db: int = 0, scheme: str = "redis+sentinel") -> str:
        """``redis+sentinel://[auth@]s1,s2,s3/<service>/<db>``."""
        hosts = ",".join(f"{n.host}:{n.port}" for n in self.sentinels)
        return f"{scheme}://{auth + '@' if auth else ''}{hosts}/{self.service}/{db}"

    def stop(self) -> None:
        """Stop every process and remove their directories."""
        for node in [*self.sentinels, *self.replicas, self.master]:
            if node is not None:
                node.close()

    def __enter__(self) -> RedisSentinelServers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
