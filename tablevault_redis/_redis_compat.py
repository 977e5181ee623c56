"""The redis-py internals this package relies on, kept in one place.

redis-py offers no public way to do any of these, and each matters for how fast a
stop reaches a busy process. ``tests/test_redis_compat.py`` fails loudly if a redis-py
release renames or changes them.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

from redis._parsers import _RESP2Parser

#: The pure-Python reply parser, for ``parser_class=`` (redis-py swaps in its RESP3
#: twin when the connection speaks RESP3, its default since 8.0). It reads a pub/sub
#: notification with fewer GIL releases than hiredis; each release costs a switch
#: interval (5 ms) while the main thread is busy in Python, which is exactly when a
#: stop must arrive.
PURE_PYTHON_PARSER: type = _RESP2Parser


def connection_socket(connection: Any) -> socket.socket | None:
    """The socket of a redis-py ``Connection``, or None when it is not connected."""
    return getattr(connection, "_sock", None)


def pubsub_socket(pubsub: Any) -> socket.socket | None:
    """The socket under a ``PubSub``, or None when it is not connected."""
    return connection_socket(getattr(pubsub, "connection", None))


def reading(pubsub: Any, within: float) -> bool:
    """Whether the thread reading ``pubsub`` may hold unparsed bytes: no reply was
    parsed in the last ``within`` seconds (redis-py moves the next health check on
    each one) and no health-check PING awaits its reply."""
    if getattr(pubsub, "health_check_response_counter", 0):
        return False
    connection = getattr(pubsub, "connection", None)
    interval = getattr(connection, "health_check_interval", 0)
    if not interval:
        return True
    last = getattr(connection, "next_health_check", 0.0) - interval
    return time.monotonic() - last > within


def take_connection(pool: Any) -> Any:
    """A connection of ``pool`` for the caller alone (never released to the pool)."""
    try:
        return pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        return pool.get_connection("EVAL")


def shutdown_pubsub_socket(pubsub: Any) -> bool:
    """Shut down the socket under a ``PubSub``, so a ``get_message`` blocked on it in
    another thread returns at once. False when there is no connected socket."""
    sock = pubsub_socket(pubsub)
    if sock is None:
        return False
    with contextlib.suppress(OSError):  # already closed by the peer: nothing to wake
        sock.shutdown(socket.SHUT_RDWR)
    return True


def buffered(connection: Any) -> bool:
    """Whether a redis-py connection's parser holds bytes it has not parsed yet."""
    buffer = getattr(getattr(connection, "_parser", None), "_buffer", None)
    return bool(buffer is not None and buffer.unread_bytes())
