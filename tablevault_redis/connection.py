"""Where the Redis server is, and one client for it: standalone or cluster.

Resolution order: the ``redis_url`` argument, then ``TABLEVAULT_REDIS_URL``, then
the embedded per-user server (docs/deployment.md). Client errors are translated into
:class:`VaultConnectionError` naming the URL (password hidden), so users never see
a raw client traceback for an unreachable server.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.cluster
import redis.exceptions

from ._redis_compat import PURE_PYTHON_PARSER
from .errors import TableVaultError, VaultConnectionError
from .retry import is_refused, is_transient
from .scripts import Scripts

ENV_URL = "TABLEVAULT_REDIS_URL"
#: The oldest Redis server this package supports; embedded.py applies it to binaries too.
MIN_REDIS_VERSION: tuple[int, int] = (6, 2)
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


def parse_redis_version(text: str) -> tuple[int, int, int]:
    """The version in ``INFO``'s ``redis_version`` ("7.0.15") or in the output of
    ``redis-server --version`` / ``redis-cli --version``; ``ValueError`` if none."""
    match = re.search(r"(?:^\s*|v=|redis-cli\s+)(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        raise ValueError(f"no Redis version in {text.strip()!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


@contextmanager
def translate(url: str) -> Iterator[None]:
    """Turn client failures that are not the caller's doing into one
    VaultConnectionError naming the URL; its ``transient`` says if a retry may help."""
    try:
        yield
    except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException, OSError) as e:
        if is_refused(e):
            raise VaultConnectionError(f"Redis at {redact(url)} refused access: {e}") from None
        if isinstance(e, redis.exceptions.ResponseError) and is_transient(e):
            raise VaultConnectionError(
                f"Redis at {redact(url)} cannot serve this now: {e}", transient=True
            ) from None
        # RedisClusterException: e.g. CLUSTER SLOTS refused at start-up.
        if is_transient(e) or isinstance(e, redis.exceptions.RedisClusterException):
            raise VaultConnectionError(
                f"cannot reach Redis at {redact(url)}: {e}", transient=is_transient(e)
            ) from None
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
            parser_class=PURE_PYTHON_PARSER,  # why: see _redis_compat
        )
        if not issubclass(pool.connection_class, redis.UnixDomainSocketConnection):
            kwargs["socket_keepalive"] = True  # TCP only: finds peers that vanished
        new_pool = redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
        return redis.Redis(connection_pool=new_pool)

    def close(self) -> None:
        # Closing a broken client must not mask the caller's error.
        with contextlib.suppress(Exception):
            self.client.close()


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
        version = _server_version(url, info)
        if cluster:
            client: Any = redis.cluster.RedisCluster.from_url(url, **options)
        else:
            client = redis.Redis.from_url(url, health_check_interval=30, **options)
        client.ping()
    return Connection(
        url=url, client=client, cluster=bool(cluster), version=version, scripts=Scripts(client)
    )


def _server_version(url: str, info: dict[str, Any]) -> tuple[int, int, int]:
    """The server's version from ``INFO server``; refused when older than the minimum."""
    reported = str(info.get("redis_version", ""))
    try:
        version = parse_redis_version(reported)
    except ValueError:
        version = (0, 0, 0)
    if version[:2] < MIN_REDIS_VERSION:
        raise VaultConnectionError(
            f"Redis at {redact(url)} is version {reported or 'unknown'}; "
            f"tablevault-redis needs {version_text(MIN_REDIS_VERSION)} or newer"
        )
    return version
