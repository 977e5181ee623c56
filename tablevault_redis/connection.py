"""Where the Redis server is, and one client for it: standalone or cluster.

Resolution order (SPEC 1): the ``redis_url`` argument, then ``TABLEVAULT_REDIS_URL``,
then the embedded per-user server. Client errors are translated into
:class:`VaultConnectionError` naming the URL (password hidden), so users never see
a raw client traceback for an unreachable server.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.cluster
import redis.exceptions
from redis._parsers import _RESP2Parser

from .errors import TableVaultError, VaultConnectionError
from .scripts import Scripts

ENV_URL = "TABLEVAULT_REDIS_URL"
MIN_VERSION = (6, 2)
_CONNECT_TIMEOUT = 5.0
_SOCKET_TIMEOUT = 15.0


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``, fit for error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def resolve_url(redis_url: str | None) -> str:
    """The URL to use: the argument, else the environment, else the embedded server."""
    if redis_url:
        return redis_url
    env = os.environ.get(ENV_URL, "").strip()
    if env:
        return env
    from . import embedded  # imported late: only needed when no URL is configured

    return embedded.ensure_server()


_CLIENT_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.AuthenticationError,
    redis.exceptions.AuthorizationError,
    redis.exceptions.ClusterError,
    redis.exceptions.RedisClusterException,  # e.g. CLUSTER SLOTS refused at start-up
    OSError,
)


@contextmanager
def translate(url: str) -> Iterator[None]:
    """Turn client connection failures into one VaultConnectionError naming the URL."""
    try:
        yield
    except _CLIENT_ERRORS as e:
        raise VaultConnectionError(f"cannot reach Redis at {redact(url)}: {e}") from None
    except redis.exceptions.ResponseError as e:
        text = str(e)
        if text.startswith(("NOAUTH", "WRONGPASS", "NOPERM")):
            raise VaultConnectionError(f"Redis at {redact(url)} refused access: {text}") from None
        raise


@dataclass
class Connection:
    """A connected client plus what the rest of the library needs to know about it."""

    url: str
    client: Any
    cluster: bool
    version: tuple[int, ...]
    scripts: Scripts = field(repr=False)

    @property
    def sharded_pubsub(self) -> bool:
        """Cluster on Redis 7+: notifications go over SPUBLISH to the key's shard."""
        return self.cluster and self.version >= (7, 0)

    @property
    def publish_command(self) -> str:
        return "SPUBLISH" if self.sharded_pubsub else "PUBLISH"

    def translate(self) -> Any:
        return translate(self.url)

    def pubsub_client(self, channel: str, health_check_interval: float) -> redis.Redis:
        """A plain client for the node that serves ``channel``, with no socket timeout.

        A socket timeout on a subscriber ends its read loop while nothing is wrong,
        so the pub/sub connection has none and relies on health-check PINGs instead.
        """
        if self.cluster:
            node = self.client.get_node_from_key(channel)
            pool = node.redis_connection.connection_pool
        else:
            pool = self.client.connection_pool
        kwargs = dict(pool.connection_kwargs)
        kwargs.update(
            socket_timeout=None,
            health_check_interval=health_check_interval,
            retry_on_timeout=False,
            # The pure-Python parser reads a notification with fewer GIL releases than
            # hiredis; each release costs a switch interval (5 ms) while the main
            # thread is busy in Python, which is exactly when a stop must arrive.
            parser_class=_RESP2Parser,
        )
        if not issubclass(pool.connection_class, redis.UnixDomainSocketConnection):
            kwargs["socket_keepalive"] = True  # TCP only: finds peers that vanished
        new_pool = redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
        return redis.Redis(connection_pool=new_pool)

    def close(self) -> None:
        # Closing a broken client must not mask the caller's error.
        with contextlib.suppress(Exception):
            self.client.close()


def _parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(".")[:3] if x.isdigit())


def connect(redis_url: str | None = None, *, cluster: bool | None = None) -> Connection:
    """Connect and check the server; ``cluster=None`` detects a Redis Cluster node."""
    url = resolve_url(redis_url)
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise TableVaultError(
            f"unsupported Redis URL {redact(url)!r}: use redis://, rediss:// or unix://"
        )
    options = dict(
        decode_responses=True,
        socket_connect_timeout=_CONNECT_TIMEOUT,
        socket_timeout=_SOCKET_TIMEOUT,
    )
    with translate(url):
        probe = redis.Redis.from_url(url, **options)
        try:
            info = probe.info("server")
            if cluster is None:
                cluster = bool(probe.info("cluster").get("cluster_enabled"))
        finally:
            probe.close()
        version = _parse_version(str(info.get("redis_version", "0")))
        if version[:2] < MIN_VERSION:
            raise VaultConnectionError(
                f"Redis at {redact(url)} is version {info.get('redis_version')}; "
                "tablevault-redis needs 6.2 or newer"
            )
        if cluster:
            client: Any = redis.cluster.RedisCluster.from_url(url, **options)
        else:
            client = redis.Redis.from_url(url, health_check_interval=30, **options)
        client.ping()
    return Connection(
        url=url, client=client, cluster=bool(cluster), version=version, scripts=Scripts(client)
    )
