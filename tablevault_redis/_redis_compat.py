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

import redis.exceptions
from redis._parsers import _HiredisParser, _RESP2Parser

try:
    from redis._parsers.hiredis import NOT_ENOUGH_DATA
except ImportError:  # a redis-py whose hiredis reader says so with False
    NOT_ENOUGH_DATA = None

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
    """A connection of ``pool`` for the caller alone (until it releases it, if ever)."""
    try:
        return pool.get_connection()
    except TypeError:  # redis-py < 5.3 wants a command name
        return pool.get_connection("EVAL")


def read_replies(connection: Any, count: int) -> list[Any]:
    """The next ``count`` replies on a redis-py ``Connection``, an error reply in its
    place (not raised). With hiredis they come straight from its reader, one C call
    each: ``read_response`` adds about as much Python per reply as the parsing
    costs, tens of milliseconds over 10,000 replies. Other parsers go through it."""
    parser = getattr(connection, "_parser", None)
    reader = getattr(parser, "_reader", None)
    if not isinstance(parser, _HiredisParser) or reader is None or NOT_ENOUGH_DATA is None:
        return [reply_or_error(connection) for _ in range(count)]
    push = getattr(parser, "_hiredis_PushNotificationType", None)
    out: list[Any] = []
    while len(out) < count:
        reply = reader.gets()
        if reply is NOT_ENOUGH_DATA:
            parser.read_from_socket()
        elif isinstance(reply, redis.exceptions.ConnectionError):
            raise reply
        elif push is not None and isinstance(reply, push):
            parser.handle_push_response(reply)  # as read_response does: not a reply
        elif (
            type(reply) is list and reply and isinstance(reply[0], redis.exceptions.ConnectionError)
        ):
            raise reply[0]
        else:
            out.append(reply)
    return out


def reply_or_error(connection: Any) -> Any:
    """The next reply on ``connection``; an error reply is returned, not raised."""
    try:
        return connection.read_response()
    except redis.exceptions.ResponseError as e:
        return e


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
