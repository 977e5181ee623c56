"""A ``redis.Redis`` whose every command goes over a :class:`link.Link`.

:class:`LinkPool` hands out lightweight stand-ins for redis-py connections: sending
queues the command's reply slots on the link, reading waits on them. So everything
a worker does (its run's scripts, the outbox, pipelines, the user's queries)
shares the one socket. The pool keeps the base pool's settings, so the ``redis.Redis``
on it parses replies exactly as before.

A blocking command (``XREAD BLOCK``, ``BLPOP``...) or a subscription would hold the
shared socket, so such a call, and everything else its stand-in sends afterwards,
takes a connection of the base pool instead (opened only when needed).
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import redis
import redis.exceptions
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import checks
from ._redis_compat import PURE_PYTHON_PARSER
from .direct import Scripts
from .link import Link, Slot

if TYPE_CHECKING:
    from .connection import Connection

#: ``0`` keeps a worker's separate connections (pooled commands, pub/sub) instead.
ENV_ONE_CONNECTION = "TABLEVAULT_ONE_CONNECTION"
_DEFAULT_TIMEOUT = 15.0  # seconds a reply may take when the pool sets no socket timeout

_BLOCKING = frozenset(
    {
        "BLPOP",
        "BRPOP",
        "BRPOPLPUSH",
        "BLMOVE",
        "BLMPOP",
        "BZPOPMIN",
        "BZPOPMAX",
        "BZMPOP",
        "WAIT",
        "WAITAOF",
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "SSUBSCRIBE",
        "MONITOR",
    }
)


def _holds_socket(args: tuple[Any, ...]) -> bool:
    """Whether command ``args`` would hold a connection for itself."""
    name = str(args[0]).upper().split(" ", 1)[0] if args else ""
    if name in _BLOCKING:
        return True
    if name in ("XREAD", "XREADGROUP"):
        return any(isinstance(a, str) and a.upper() == "BLOCK" for a in args[1:])
    return False


class LinkConnection:
    """Stands in for a redis-py ``Connection`` (only what ``redis.Redis`` and its
    pipelines use). Not shared between threads: the pool makes one per checkout."""

    def __init__(self, pool: LinkPool) -> None:
        self._pool = pool
        self._link: Link = pool.link
        self._slots: list[Slot] = []
        self._packed_replies = 1
        self._real: Any = None  # a base-pool connection, for a blocking command
        kwargs = pool.connection_kwargs
        self.host, self.port, self.db = kwargs.get("host"), kwargs.get("port"), kwargs.get("db", 0)
        # As the base pool's connections retry (a reconnect in progress), except for
        # a checkpoint's quick calls, which must not wait longer than their timeout.
        retry = kwargs.get("retry")
        self.retry = copy.deepcopy(retry) if retry and pool.retries else Retry(NoBackoff(), 0)
        self.encoder = pool.get_encoder()
        self.health_check_interval = 0

    # -- the calls redis.Redis makes -------------------------------------------------

    def pack_command(self, *args: Any) -> list[bytes]:
        self._packed_replies = 1
        return self._link.pack(*args)

    def pack_commands(self, commands: Any) -> list[bytes]:
        commands = list(commands)
        self._packed_replies = len(commands)
        return self._link.pack_many(commands)

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        if self._real is None and _holds_socket(args):
            self._real = self._pool.base.get_connection()
        if self._real is not None:
            self._real.send_command(*args, **kwargs)
            return
        self._slots.extend(self._link.send(self._link.pack(*args), 1))

    def expect_replies(self, count: int) -> None:
        """The next packed send holds ``count`` commands packed by the caller itself
        (see :mod:`process_reads`), not by :meth:`pack_commands`."""
        self._packed_replies = count

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if self._real is not None:
            self._real.send_packed_command(command, check_health)
            return
        packed: list[Any] = [command] if isinstance(command, (bytes, str)) else list(command)
        replies, self._packed_replies = self._packed_replies, 1
        self._slots.extend(self._link.send(packed, replies))

    def read_response(self, disable_decoding: bool = False, **kwargs: Any) -> Any:
        if self._real is not None:
            return self._real.read_response(disable_decoding=disable_decoding, **kwargs)
        if not self._slots:
            raise redis.exceptions.ConnectionError("no command awaits a reply")
        pool = self._pool
        reply = self._link.wait(self._slots.pop(0), pool.timeout, pump=not pool.retries)
        if isinstance(reply, Exception):  # an error reply, raised as redis-py does
            raise reply
        return reply

    def can_read(self, timeout: float = 0) -> bool:
        if self._real is not None:
            return bool(self._real.can_read(timeout))
        return bool(self._slots) and self._slots[0].done.is_set()

    def connect(self) -> None:
        if self._real is not None:
            self._real.connect()

    def disconnect(self, *args: Any) -> None:
        """A failed call: replies still due to it are left to the link, which drops
        them (a stand-in is never reused with replies outstanding)."""
        self._slots.clear()
        if self._real is not None:
            self._real.disconnect()

    def check_health(self) -> None:
        return None

    def should_reconnect(self) -> bool:
        return False

    def get_protocol(self) -> Any:
        return self._pool.get_protocol()

    def release(self) -> None:
        real, self._real = self._real, None
        if real is not None:
            self._pool.base.release(real)


class LinkPool(redis.ConnectionPool):
    """Hands out :class:`LinkConnection` stand-ins over ``link``; replies wait at
    most ``timeout`` seconds. Without ``retries`` (a checkpoint's quick calls) a call
    neither retries nor waits for the reader thread: it reads its reply itself.
    ``base`` (the pool this replaces) serves the blocking commands and gives its
    settings."""

    def __init__(
        self, link: Link, base: redis.ConnectionPool, timeout: float, retries: bool = True
    ) -> None:
        super().__init__(connection_class=base.connection_class, **base.connection_kwargs)
        self.link, self.base, self.timeout, self.retries = link, base, timeout, retries

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        return LinkConnection(self)

    def make_connection(self) -> Any:
        return LinkConnection(self)

    def release(self, connection: Any) -> None:
        if isinstance(connection, LinkConnection):
            connection.release()

    def disconnect(self, inuse_connections: bool = True) -> None:
        """Connections in use may be dropped: the base pool's; the link reconnects
        only when told to (:meth:`Link.restart`)."""
        self.base.disconnect(inuse_connections=inuse_connections)

    def close(self) -> None:
        self.base.disconnect()


def usable(conn: Connection) -> bool:
    """Whether ``conn``'s worker can use one link: a standalone or Sentinel server
    (a cluster spreads keys over nodes, see docs/deployment.md), a redis-py that
    parses RESP3 replies into the shapes this package reads (8.0 on: the wire is RESP3
    by default and replies keep their RESP2 shapes), no TLS (one thread reads while
    others write, which an SSL socket does not allow), unless turned off."""
    if conn.cluster or not checks.switch(None, "one_connection", ENV_ONE_CONNECTION, default=True):
        return False
    if issubclass(conn.client.connection_pool.connection_class, redis.SSLConnection):
        return False
    protocol = conn.client.connection_pool.connection_kwargs.get("protocol")
    if protocol in (3, "3"):
        return True
    return protocol is None and int(redis.__version__.split(".")[0]) >= 8


def over_link(conn: Connection, tick: float | None = None) -> Connection:
    """``conn`` with its client moved onto a new link (ticking every ``tick`` s, see
    :class:`Link`): the link connects now (its failure raises), and the pooled
    connection ``conn`` had is closed."""
    base = conn.client.connection_pool
    kwargs = dict(base.connection_kwargs)
    kwargs.update(protocol=3, parser_class=PURE_PYTHON_PARSER, health_check_interval=0)
    if not issubclass(base.connection_class, redis.UnixDomainSocketConnection):
        kwargs["socket_keepalive"] = True  # TCP only: finds peers that vanished
    timeout = float(kwargs.get("socket_timeout") or _DEFAULT_TIMEOUT)
    link = Link(lambda: base.connection_class(**kwargs), timeout, tick)
    link.open()
    client = redis.Redis(connection_pool=LinkPool(link, base, timeout))
    base.disconnect()
    return replace(conn, client=client, scripts=Scripts(client), link=link)


def quick_client(client: Any, timeout: float) -> redis.Redis:
    """A client over ``client``'s link whose calls wait ``timeout`` s for a reply."""
    pool = client.connection_pool
    return redis.Redis(connection_pool=LinkPool(pool.link, pool.base, timeout, retries=False))


def one_connection(conn: Connection, tick: float | None = None) -> Connection:
    """``conn`` over a link where one can be used (:func:`usable`), else itself;
    closed when the link cannot connect."""
    if not usable(conn):
        return conn
    try:
        with conn.translate():
            return over_link(conn, tick)
    except BaseException:
        conn.close()
        raise
