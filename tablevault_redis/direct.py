"""One script call on one pooled connection, without redis-py's command layers.

Why: a request, a checkpoint's verification and a heartbeat are each one EVALSHA,
and the time they take is mostly the Python around the round trip: a redis-py
pipeline runs about 250 function calls for one command, ``Script.__call__`` about
150. A process that acts on a stop runs that code once, with cold caches, on the
critical path (``benchmarks/bench_control.py``). Here it is about 20.

What redis-py's ``execute_command`` does that matters is kept: the connection's own
``Retry`` (a reconnect after a dropped connection), the connection dropped when a
call fails, released to its pool in every case. A server that lacks the script
(restarted, failed over) gets it with ``EVAL``, which also caches it there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import redis.exceptions
from redis.commands.core import Script

from . import _redis_compat
from .lua_source import names, source

T = TypeVar("T")


class Scripts:
    """The registered scripts of one client. Run alone on a plain client, a script
    takes the direct path below; on a pipeline or a cluster, redis-py's
    :class:`Script`, which falls back to EVAL after NOSCRIPT too."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.direct = usable(client)
        self._sources = {name: source(name) for name in names()}
        self._scripts: dict[str, Script] = {
            name: client.register_script(text) for name, text in self._sources.items()
        }

    def run(self, name: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
        """Run script ``name`` (optionally on ``client``, e.g. a pipeline); the raw reply."""
        if client is None and self.direct:
            return evalsha(self._client, self.sha(name), self._sources[name], keys, args)
        return self._scripts[name](keys=keys, args=args, client=client)

    def call(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run script ``name`` alone on a plain client: its raw reply, an error reply
        returned in its place."""
        return call(self._client, self.sha(name), self._sources[name], keys, args)

    def sha(self, name: str) -> str:
        return str(self._scripts[name].sha)


def usable(client: Any) -> bool:
    """A client this module can serve: a plain ``redis.Redis`` (not a cluster client
    or a pipeline, whose own layers route and queue the command)."""
    return type(client) is redis.Redis


def evalsha(client: redis.Redis, sha: str, source: str, keys: list[str], args: list[Any]) -> Any:
    """Script ``sha`` (text ``source``) with ``keys`` and ``args``; its reply. An
    error reply raises, as from redis-py."""
    reply = call(client, sha, source, keys, args)
    if isinstance(reply, redis.exceptions.ResponseError):
        raise reply
    return reply


def call(client: redis.Redis, sha: str, source: str, keys: list[str], args: list[Any]) -> Any:
    """Like :func:`evalsha`, but an error reply is returned in its place."""
    return on_connection(client, lambda conn: _round_trip(conn, sha, source, keys, args))


def on_connection(client: redis.Redis, work: Callable[[Any], T]) -> T:
    """``work(connection)`` on a connection of ``client``'s pool taken for this call
    alone, retried as that connection's ``Retry`` says (dropped between tries); a
    connection whose call failed is dropped, since replies may be left unread on it."""
    pool = client.connection_pool
    conn = _redis_compat.take_connection(pool)
    try:
        return conn.retry.call_with_retry(lambda: work(conn), lambda _error: conn.disconnect())
    except BaseException:
        conn.disconnect()
        raise
    finally:
        pool.release(conn)


def _round_trip(conn: Any, sha: str, source: str, keys: list[str], args: list[Any]) -> Any:
    conn.send_command("EVALSHA", sha, len(keys), *keys, *args)
    reply = _redis_compat.reply_or_error(conn)
    if isinstance(reply, redis.exceptions.NoScriptError):
        conn.send_command("EVAL", source, len(keys), *keys, *args)
        reply = _redis_compat.reply_or_error(conn)
    return reply
