"""What counts as a transient Redis error, and how long to wait before trying again.

The listener, the outbox, the client's requests and the command line's follow loop
all retry the same errors with the same growing delay; this module is the one place
that decides both.

Transient means the same command may succeed later without anyone changing it: the
server is down or restarting, still loading its data set, a replica mid-failover
(``READONLY``), out of memory, or a cluster moving slots. A refused login or a
missing permission is not transient: retrying cannot fix it.
"""

from __future__ import annotations

import random
import re

import redis.exceptions

from .errors import VaultConnectionError

_TRANSIENT_TYPES = (
    redis.exceptions.ConnectionError,  # includes BusyLoadingError (LOADING)
    redis.exceptions.TimeoutError,
    redis.exceptions.ReadOnlyError,  # a failover in progress
    redis.exceptions.ClusterError,  # CLUSTERDOWN, MASTERDOWN, slots moving
    redis.exceptions.TryAgainError,
    redis.exceptions.OutOfMemoryError,
    OSError,
)
# Redis 6.2 wraps an error raised inside a script ("Error running script ...
# -READONLY ..."), so for a reply the code is looked for anywhere in its text.
_TRANSIENT_CODES = re.compile(
    r"\b(LOADING|OOM|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS)\b"
)
_REFUSED_TYPES = (
    redis.exceptions.AuthenticationError,
    redis.exceptions.AuthorizationError,
    redis.exceptions.NoPermissionError,
)
_REFUSED_CODES = ("NOAUTH", "WRONGPASS", "NOPERM")


def is_refused(error: BaseException) -> bool:
    """The server refused this client: bad credentials or a missing ACL permission."""
    if isinstance(error, _REFUSED_TYPES):
        return True
    return isinstance(error, redis.exceptions.ResponseError) and str(error).startswith(
        _REFUSED_CODES
    )


def is_transient(error: BaseException) -> bool:
    """True when retrying the same command later may succeed (see the module docstring).

    A :class:`VaultConnectionError` carries the verdict on the client error it
    replaced, so library callers classify the error they caught.
    """
    if isinstance(error, VaultConnectionError):
        return error.transient
    if is_refused(error):
        return False
    if isinstance(error, _TRANSIENT_TYPES):
        return True
    return (
        isinstance(error, redis.exceptions.RedisError)
        and _TRANSIENT_CODES.search(str(error)) is not None
    )


class Backoff:
    """Exponentially growing delays between retries: ``start``, twice that, ... up to
    ``maximum``; :meth:`reset` after a success starts over.

    ``jitter`` (0 to 1) shortens each delay by a random fraction up to that share,
    so many processes retrying together do not hit a recovering server in step.
    """

    def __init__(
        self, start: float = 0.05, maximum: float = 1.0, *, factor: float = 2.0, jitter: float = 0.0
    ) -> None:
        if not 0 < start <= maximum:
            raise ValueError(f"backoff needs 0 < start <= maximum, got {start!r}, {maximum!r}")
        if factor < 1 or not 0 <= jitter <= 1:
            raise ValueError(f"backoff needs factor >= 1 and 0 <= jitter <= 1, got {factor!r}")
        self.start = start
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.failures = 0  # delays handed out since the last reset
        self._delay = start

    def next(self) -> float:
        """The delay before the next attempt, in seconds; each call grows it."""
        # Grown step by step, not as start * factor**failures: a retry loop that runs
        # for days must not overflow a float.
        delay = self._delay
        self._delay = min(delay * self.factor, self.maximum)
        self.failures += 1
        if self.jitter:
            delay *= 1 - self.jitter * random.random()
        return delay

    def reset(self) -> None:
        """A success: the next failure waits ``start`` again."""
        self.failures = 0
        self._delay = self.start
