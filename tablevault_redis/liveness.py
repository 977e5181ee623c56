"""What cleanup reads to judge which processes died: each process's state, and how
long the server has been up.

A live process beats again within its heartbeat interval of the server's return (plus
reconnecting), and its heartbeat lasts its TTL. So a lapsed heartbeat proves nothing
until the server has been up for TTL + interval + :data:`RESTART_MARGIN` seconds: a
restart without persistence loses every heartbeat, and an outage longer than the TTL
lets every one expire. Until then cleanup leaves such a process alone.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import redis.exceptions

from . import keys
from .connection import Connection, wrong_type
from .retry import is_refused

logger = logging.getLogger(__name__)

RESTART_MARGIN = 2.0  # seconds
_DEFAULT_TTL, _DEFAULT_INTERVAL = 10.0, 3.0  # for records that do not say theirs


@dataclass
class ProcessState:
    """What cleanup reads of one process. ``alive`` is the heartbeat token of its live
    run (None once the heartbeat expired); ``token``, ``code_count``, ``ttl`` and
    ``interval`` are its record's, i.e. those of its latest run."""

    status: str | None = None
    code_count: int = 0
    token: str | None = None
    alive: str | None = None
    request: bool = False
    ttl: float = _DEFAULT_TTL
    interval: float = _DEFAULT_INTERVAL

    @property
    def dead(self) -> bool:
        return self.alive is None

    def runs(self, token: str) -> bool:
        """Is the run with heartbeat ``token`` the one alive right now?"""
        return self.alive is not None and self.alive == token

    @property
    def judged_after(self) -> float:
        """Server uptime (s) after which a lapsed heartbeat means the process died."""
        return self.ttl + self.interval + RESTART_MARGIN


def read_process_state(
    conn: Connection, ns: str, names: list[str]
) -> tuple[dict[str, ProcessState], dict[str, str]]:
    """The state of each process in one round trip, and the processes whose keys
    cannot be read (a key of another type), with why."""
    pipe = conn.client.pipeline(transaction=False)
    for name in names:
        pipe.hmget(
            keys.proc(ns, name),
            "status",
            "code_count",
            "heartbeat_token",
            "heartbeat_ttl",
            "heartbeat_interval",
        )
        pipe.get(keys.alive(ns, name))
        pipe.exists(keys.request(ns, name))
    replies = pipe.execute(raise_on_error=False) if names else []
    state, unreadable = {}, {}
    for i, name in enumerate(names):
        fields, alive, request = replies[3 * i : 3 * i + 3]
        error = wrong_type(fields) or wrong_type(alive) or wrong_type(request)
        if error is not None:
            unreadable[name] = f"its keys cannot be read ({error})"
            continue
        status, code_count, token, ttl, interval = fields
        state[name] = ProcessState(
            status,
            int(_number(code_count, 0)),
            token,
            alive,
            bool(request),
            _number(ttl, _DEFAULT_TTL),
            _number(interval, _DEFAULT_INTERVAL),
        )
    return state, unreadable


def server_uptime(conn: Connection) -> float | None:
    """Seconds the server (on a cluster: its youngest node) has been up; None when
    this user may not run INFO."""
    try:
        info = conn.client.info("server")
    except redis.exceptions.RedisError as e:
        if not is_refused(e):
            raise
        logger.warning(
            "tablevault-redis: INFO refused, so cleanup cannot tell a server restart "
            "from a crash; a live process it marks crashed revives itself"
        )
        return None
    nodes = [info] if "uptime_in_seconds" in info else list(info.values())
    uptimes = [float(n["uptime_in_seconds"]) for n in nodes if isinstance(n, dict)]
    return min(uptimes) if uptimes else None


def _number(raw: str | None, default: float) -> float:
    """A number field of a record; ``default`` when missing or not a finite number."""
    try:
        value = float(raw or "")
    except ValueError:
        return default
    return value if math.isfinite(value) else default
