"""The two redis-py internals this package relies on, kept in one place.

redis-py offers no public way to do either, and both matter for how fast a stop
reaches a busy process. ``tests/test_redis_compat.py`` fails loudly if a redis-py
release renames or changes them.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from redis._parsers import _RESP2Parser

#: The pure-Python reply parser, for ``parser_class=`` (redis-py swaps in its RESP3
#: twin when the connection speaks RESP3, its default since 8.0). It reads a pub/sub
#: notification with fewer GIL releases than hiredis; each release costs a switch
#: interval (5 ms) while the main thread is busy in Python, which is exactly when a
#: stop must arrive.
PURE_PYTHON_PARSER: type = _RESP2Parser


def shutdown_pubsub_socket(pubsub: Any) -> bool:
    """Shut down the socket under a ``PubSub``, so a ``get_message`` blocked on it in
    another thread returns at once. False when there is no connected socket."""
    connection = getattr(pubsub, "connection", None)
    sock = getattr(connection, "_sock", None)
    if sock is None:
        return False
    with contextlib.suppress(OSError):  # already closed by the peer: nothing to wake
        sock.shutdown(socket.SHUT_RDWR)
    return True
