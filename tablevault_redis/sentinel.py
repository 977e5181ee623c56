"""Redis Sentinel: a client of the current primary of a ``redis+sentinel://`` URL.

redis-py's Sentinel pool asks the Sentinels for the primary on every new
connection and turns a ``READONLY`` reply into a reconnect. One gap is closed
here: just after a failover a Sentinel that has not caught up yet still names the
old primary, now a replica, whose reads are stale (a live process would look
dead). A connection is therefore checked against the role the server reported in
its ``HELLO`` handshake, and refused (a transient ``ConnectionError``: the caller
retries) when that is not ``master``.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
import redis.sentinel

from .urls import SentinelURL


class _PrimaryCheck:
    """Mixed into redis-py's Sentinel-managed connections (see the module docstring)."""

    def on_connect_check_health(self, check_health: bool = True) -> None:
        super().on_connect_check_health(check_health=check_health)  # type: ignore[misc]
        meta: Any = getattr(self, "handshake_metadata", None) or {}
        role = meta.get("role", meta.get(b"role"))
        if isinstance(role, bytes):
            role = role.decode()
        if self.connection_pool.is_master and role not in (None, "master"):  # type: ignore[attr-defined]
            self.disconnect()  # type: ignore[attr-defined]
            raise redis.exceptions.ConnectionError(
                f"{self.host}:{self.port} is a {role}, not the primary: "  # type: ignore[attr-defined]
                "a failover is in progress"
            )


class PrimaryConnection(_PrimaryCheck, redis.sentinel.SentinelManagedConnection):
    pass


class PrimarySSLConnection(_PrimaryCheck, redis.sentinel.SentinelManagedSSLConnection):
    pass


def sentinel_client(
    target: SentinelURL, options: dict[str, Any], connect_timeout: float
) -> tuple[Any, Any]:
    """redis-py's Sentinel manager for ``target`` and a client of its primary.

    The URL's credentials go to the data nodes, ``sentinel_username`` and
    ``sentinel_password`` to the Sentinels; TLS options go to both."""
    tls = {k: v for k, v in target.options.items() if k.startswith("ssl")}
    sentinel_kwargs: dict[str, Any] = dict(
        socket_connect_timeout=connect_timeout,
        socket_timeout=connect_timeout,
        decode_responses=True,
        username=target.sentinel_username,
        password=target.sentinel_password,
        **tls,
    )
    if target.tls:
        sentinel_kwargs["ssl"] = True
    manager = redis.sentinel.Sentinel(
        target.sentinels,
        sentinel_kwargs=sentinel_kwargs,
        **{**options, **target.options},
        db=target.db,
        username=target.username,
        password=target.password,
        connection_class=PrimarySSLConnection if target.tls else PrimaryConnection,
    )
    return manager, manager.master_for(target.service, health_check_interval=30)
