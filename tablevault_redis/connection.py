"""Where the Redis server is, and one client for it: standalone, Sentinel or cluster.

Resolution order: the ``redis_url`` argument, then ``TABLEVAULT_REDIS_URL``, then
the embedded per-user server (docs/deployment.md). Client errors are translated into
:class:`VaultConnectionError` naming the URL (passwords hidden, see :mod:`urls`), so
users never see a raw client traceback for an unreachable server.

After a failover the primary moves: a ``READONLY`` reply (a demoted primary) makes
:meth:`Connection.rediscover` drop idle connections, so the next command asks the
Sentinels (or re-reads the cluster's slot map, or re-resolves the host name) anew.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.cluster
import redis.exceptions
import redis.sentinel

from . import urls
from ._redis_compat import PURE_PYTHON_PARSER
from .direct import Scripts
from .errors import CorruptDataError, ValidationError, VaultConnectionError
from .retry import is_refused, is_transient
from .sentinel import sentinel_client
from .urls import redact

logger = logging.getLogger(__name__)

ENV_URL = "TABLEVAULT_REDIS_URL"
#: The oldest Redis server this package supports; embedded.py applies it to binaries too.
MIN_REDIS_VERSION: tuple[int, int] = (6, 2)
_CONNECT_TIMEOUT = 5.0
_SOCKET_TIMEOUT = 15.0
QUICK_TIMEOUT = 0.25  # seconds: a checkpoint's own calls (confirming a stop) wait no longer


__all__ = ["Connection", "connect", "redact", "resolve_url", "translate"]


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


def is_readonly(error: BaseException) -> bool:
    """A demoted primary answered: the primary moved (redis-py's Sentinel pool reports
    it as a ConnectionError; Redis 6.2 wraps it inside a script error)."""
    text = str(error)
    return isinstance(error, redis.exceptions.ReadOnlyError) or (
        isinstance(error, redis.exceptions.RedisError)
        and ("READONLY" in text or "previous master is now a slave" in text)
    )


@contextmanager
def translate(url: str, on_readonly: Callable[[], None] | None = None) -> Iterator[None]:
    """Turn client failures that are not the caller's doing into one
    VaultConnectionError naming the URL; its ``transient`` says if a retry may help.
    ``on_readonly`` runs first when the reply says the primary moved."""
    try:
        yield
    except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException, OSError) as e:
        if on_readonly is not None and is_readonly(e):
            on_readonly()
        where, said = redact(url), urls.scrub(str(e), url)
        if isinstance(e, redis.sentinel.MasterNotFoundError):  # drop redis-py's client reprs
            said = (
                said.split(" : ", 1)[0] + " (no Sentinel named one: unreachable, or failing over)"
            )
        if is_refused(e):
            raise VaultConnectionError(f"Redis at {where} refused access: {said}") from None
        if isinstance(e, redis.exceptions.ResponseError) and is_transient(e):
            raise VaultConnectionError(
                f"Redis at {where} cannot serve this now: {said}", transient=True
            ) from None
        if isinstance(e, redis.exceptions.ResponseError) and str(e).startswith("WRONGTYPE"):
            raise CorruptDataError(
                f"a key holds another type than this library writes there: {e}"
            ) from None
        # RedisClusterException: e.g. CLUSTER SLOTS refused at start-up.
        if is_transient(e) or isinstance(e, redis.exceptions.RedisClusterException):
            raise VaultConnectionError(
                f"cannot reach Redis at {where}: {said}", transient=is_transient(e)
            ) from None
        raise


def wrong_type(reply: Any) -> Exception | None:
    """A pipeline reply (``execute(raise_on_error=False)``) that is a WRONGTYPE error,
    i.e. a key holding another type than expected; any other error is raised."""
    if not isinstance(reply, Exception):
        return None
    if isinstance(reply, redis.exceptions.ResponseError) and str(reply).startswith("WRONGTYPE"):
        return reply
    raise reply


@dataclass
class Connection:
    """A connected client plus what the rest of the library needs to know about it."""

    url: str
    client: Any
    cluster: bool
    version: tuple[int, ...]
    scripts: Scripts = field(repr=False)
    #: The server's name for this client's user (``ACL WHOAMI``), "default" without ACLs.
    acl_user: str = "default"
    #: With a Sentinel URL: redis-py's Sentinel manager and the service it watches.
    sentinel: Any = None
    service: str = ""
    #: A worker's one connection (:mod:`link`), which ``client`` sends over; or None.
    link: Any = None

    def __repr__(self) -> str:
        kind = "cluster" if self.cluster else "sentinel" if self.sentinel else "standalone"
        return (
            f"<Connection {redact(self.url)} {kind} redis {version_text(self.version)} "
            f"user {self.acl_user!r}>"
        )

    @property
    def sharded_pubsub(self) -> bool:
        """Cluster on Redis 7+: notifications go over SPUBLISH to the key's shard."""
        return self.cluster and self.version >= (7, 0)

    @property
    def publish_command(self) -> str:
        return "SPUBLISH" if self.sharded_pubsub else "PUBLISH"

    def translate(self) -> Any:
        return translate(self.url, self.rediscover)

    def rediscover(self) -> None:
        """The primary may have moved: drop idle connections (the next one asks the
        Sentinels or resolves the host again) or re-read the cluster's slot map.
        Safe from any thread: connections in use by another thread are left alone."""
        with contextlib.suppress(Exception):  # best effort; the retry reports failures
            if self.link is not None:
                self.link.restart()  # reconnecting asks the Sentinels anew
                self.client.connection_pool.disconnect(inuse_connections=False)
            elif self.cluster:
                self.client.nodes_manager.initialize()
            else:
                self.client.connection_pool.disconnect(inuse_connections=False)

    def pubsub_client(self, channel: str, health_check_interval: float) -> redis.Redis:
        """A plain client for the node that serves ``channel``, with no socket timeout.

        A socket timeout on a subscriber ends its read loop while nothing is wrong,
        so the pub/sub connection has none and relies on health-check PINGs instead.
        With Sentinel, each call asks the Sentinels for the current primary.
        """
        extra: dict[str, Any] = dict(
            socket_timeout=None,
            health_check_interval=health_check_interval,
            retry_on_timeout=False,
            parser_class=PURE_PYTHON_PARSER,  # why: see _redis_compat
        )
        return self._node_client(channel, extra)

    def quick(self, key: str, timeout: float = QUICK_TIMEOUT) -> Connection:
        """This connection for the node serving ``key``, with ``timeout``-second
        connect and socket timeouts: for the few calls a checkpoint makes itself,
        which must never hang on an unreachable server. Over a link: the same socket,
        its replies awaited that long."""
        if self.link is not None:
            from .link_pool import quick_client  # imported late: link_pool imports this

            client = quick_client(self.client, timeout)
            return replace(self, client=client, scripts=Scripts(client))
        extra: dict[str, Any] = dict(
            socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        client = self._node_client(key, extra)
        return replace(self, client=client, cluster=False, scripts=Scripts(client))

    def _node_client(self, key: str, extra: dict[str, Any]) -> redis.Redis:
        """A plain client for the primary serving ``key`` with ``extra`` options."""
        if self.sentinel is not None:
            return self.sentinel.master_for(self.service, socket_keepalive=True, **extra)
        if self.cluster:
            node = self.client.get_node_from_key(key)
            pool = node.redis_connection.connection_pool
        else:
            pool = self.client.connection_pool
        kwargs = dict(pool.connection_kwargs)
        kwargs.update(extra)
        if not issubclass(pool.connection_class, redis.UnixDomainSocketConnection):
            kwargs["socket_keepalive"] = True  # TCP only: finds peers that vanished
        new_pool = redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
        return redis.Redis(connection_pool=new_pool)

    def close(self) -> None:
        # Closing a broken client must not mask the caller's error.
        if self.link is not None:
            with contextlib.suppress(Exception):
                self.link.close()
                self.client.connection_pool.disconnect()  # its blocking calls' connections
        with contextlib.suppress(Exception):
            self.client.close()
        if self.sentinel is not None:
            with contextlib.suppress(Exception):
                self.sentinel.close()


def connect(redis_url: str | None = None, *, cluster: bool | None = None) -> Connection:
    """Connect and check the server; ``cluster=None`` detects a Redis Cluster node."""
    url = resolve_url(redis_url)
    urls.check_url(url)
    sentinel_url = (
        urls.parse_sentinel_url(url) if urls.scheme(url) in urls.SENTINEL_SCHEMES else None
    )
    if sentinel_url is not None and cluster:
        raise ValidationError(
            f"{redact(url)!r} is a Sentinel URL, which names one primary, not a cluster"
        )
    options: dict[str, Any] = dict(
        decode_responses=True,
        socket_connect_timeout=_CONNECT_TIMEOUT,
        socket_timeout=_SOCKET_TIMEOUT,
    )
    manager = None
    with translate(url):
        if sentinel_url is not None:
            manager, probe = sentinel_client(sentinel_url, options, _CONNECT_TIMEOUT)
            cluster = False
        else:
            probe = redis.Redis.from_url(url, **options)
        try:
            version, cluster = _server_facts(url, probe, cluster)
            acl_user = _acl_user(url, probe)
        finally:
            if manager is None:
                probe.close()
        if manager is not None:
            client: Any = probe
        elif cluster:
            client = redis.cluster.RedisCluster.from_url(url, **options)
        else:
            client = redis.Redis.from_url(url, health_check_interval=30, **options)
        client.ping()
    return Connection(
        url=url,
        client=client,
        cluster=bool(cluster),
        version=version,
        scripts=Scripts(client),
        acl_user=acl_user,
        sentinel=manager,
        service=sentinel_url.service if sentinel_url else "",
    )


def _server_facts(url: str, probe: Any, cluster: bool | None) -> tuple[tuple[int, ...], bool]:
    """The server's version, and whether it is a cluster node (unless ``cluster`` says).

    ``INFO`` first; a user refused ``INFO`` (``-@dangerous`` leaves it out) gets the
    same facts from ``HELLO``, which every RESP3 connection may send."""
    try:
        info = probe.info("server")
        if cluster is None:
            cluster = bool(probe.info("cluster").get("cluster_enabled"))
        return _server_version(url, info), bool(cluster)
    except redis.exceptions.NoPermissionError:
        pass
    try:
        hello = probe.execute_command("HELLO")
    except redis.exceptions.NoPermissionError:
        logger.warning(
            "tablevault-redis: user may run neither INFO nor HELLO on %s; assuming Redis %s",
            redact(url),
            version_text(MIN_REDIS_VERSION),
        )
        return MIN_REDIS_VERSION, bool(cluster)
    if isinstance(hello, list):  # RESP2: a flat list of names and values
        hello = dict(zip(hello[::2], hello[1::2], strict=False))
    if cluster is None:
        cluster = hello.get("mode") == "cluster"
    return _server_version(url, {"redis_version": hello.get("version", "")}), bool(cluster)


def _acl_user(url: str, probe: Any) -> str:
    """``ACL WHOAMI``; a user not allowed to ask is the URL's user (or "default")."""
    try:
        return str(probe.acl_whoami())
    except (redis.exceptions.NoPermissionError, redis.exceptions.ResponseError):
        if urls.scheme(url) in urls.SENTINEL_SCHEMES:
            return urls.parse_sentinel_url(url).username or "default"
        return unquote(urlsplit(url).username or "") or "default"


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
