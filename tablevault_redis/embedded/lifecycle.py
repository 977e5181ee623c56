"""Starting the embedded server exactly once, joining it, stopping it, describing it."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import filelock
import redis

from ..errors import VaultConnectionError
from . import process
from .binaries import RedisBinary, choose_server_binary, forced_binary_setting
from .data import (
    data_fingerprint,
    data_floor,
    data_size,
    forget_writer,
    read_writer,
    record_writer,
)
from .layout import EmbeddedPaths, make_private_dir, paths, recorded_socket

logger = logging.getLogger(__name__)


def effective_paths(p: EmbeddedPaths) -> EmbeddedPaths:
    """``p``, or the socket a live server of this state dir actually listens on.

    The socket path depends on ``XDG_RUNTIME_DIR``, which cron jobs, ssh sessions
    and services may lack or set differently; a second server on the same append-only
    file would corrupt it, so every process joins the one that runs.
    """
    recorded = recorded_socket(p)
    if recorded is None or recorded == p.socket or process.server_pid(p) is None:
        return p
    return EmbeddedPaths(state_dir=p.state_dir, socket=recorded)


def server_url() -> str:
    """The URL of the embedded server (``unix://...``), without starting it."""
    return effective_paths(paths()).url


def select_binary(p: EmbeddedPaths, binary: str | None = None) -> RedisBinary:
    """The redis-server to start on ``p``'s data: the newest found (or the forced
    one), never older than what wrote the data (else a clear error, data untouched)."""
    floor, writer = data_floor(p)
    return choose_server_binary(floor, writer, forced_binary_setting(binary))


def _start_locked(p: EmbeddedPaths, deadline: float, binary: str | None) -> None:
    """Start redis-server; the caller holds the lock and saw no server answering."""
    chosen = select_binary(p, binary)
    previous = read_writer(p)
    before = data_fingerprint(p)
    # Recorded before the start: the binary may rewrite the data as soon as it runs.
    record_writer(p, chosen)
    try:
        process.launch(p, chosen.path, deadline)
    except VaultConnectionError:
        if process.server_pid(p) is None and data_fingerprint(p) == before:
            forget_writer(p, previous)
        raise
    if previous is not None and previous.version != chosen.version:
        logger.info("embedded server data moved from %s to %s", previous, chosen)


def _join_or_start(p: EmbeddedPaths, deadline: float, timeout: float, binary: str | None) -> str:
    """Under the lock: re-check, wait for a server that is coming up, else start one."""
    p = effective_paths(paths())
    state = process.probe(p)
    if state == "up":
        return p.url
    if state == "loading" or process.server_pid(p) is not None:
        # Alive but not answering yet (AOF replay, or just forked).
        if process.wait_until_up(p, deadline):
            return p.url
        raise VaultConnectionError(
            f"the embedded server (pid {process.server_pid(p)}) at {p.socket} did not "
            f"answer within {timeout:g}s; log {p.log_file}:\n{process.log_tail(p)}"
        )
    _start_locked(p, deadline, binary)
    return p.url


def ensure_server(timeout: float = 10.0, *, binary: str | None = None) -> str:
    """Return the embedded server's URL, starting the server if nobody answers.

    Fast path: one PING on the socket. Otherwise the start is serialised with a file
    lock and re-checked under it, so concurrent callers start it exactly once. A
    server that is alive but still loading its AOF is waited for, not replaced.
    ``timeout`` (seconds) bounds the whole call, lock wait included. ``binary``
    forces the redis-server used for a start (default ``TABLEVAULT_REDIS_SERVER``,
    else the newest found); a running server is joined whatever its binary.
    """
    p = paths()
    if process.probe(p) == "up":
        return p.url
    deadline = time.monotonic() + timeout
    p = effective_paths(p)
    if p.socket != paths().socket and process.probe(p) == "up":
        return p.url
    make_private_dir(p.state_dir)
    make_private_dir(p.socket.parent)
    try:
        with filelock.FileLock(str(p.lock_file), timeout=timeout):
            return _join_or_start(p, deadline, timeout, binary)
    except filelock.Timeout:
        raise VaultConnectionError(
            f"timed out after {timeout:g}s waiting for the lock {p.lock_file} while "
            f"another process starts the embedded server at {p.socket}"
        ) from None


def stop_server(timeout: float = 10.0) -> bool:
    """Shut the embedded server down (its AOF keeps the data) and wait until it is gone.

    Returns False when nothing was running. ``timeout`` is in seconds.
    """
    p = effective_paths(paths())
    if not p.state_dir.is_dir():
        return False  # never started here
    # The start lock: a process starting the server meanwhile waits for the stop to
    # end instead of mistaking the stopping server for a live one.
    try:
        with filelock.FileLock(str(p.lock_file), timeout=timeout):
            return process.shutdown(p, timeout)
    except filelock.Timeout:
        raise VaultConnectionError(
            f"another process held {p.lock_file} for {timeout:g}s; try again"
        ) from None


def _running_info(p: EmbeddedPaths, status: dict[str, Any]) -> None:
    """Fill ``status`` from the live server's INFO."""
    c = process.client(p)
    try:
        info = c.info("server")
        status.update(
            running=True,
            pid=int(info.get("process_id") or 0) or status["pid"],
            redis_version=info.get("redis_version"),
            binary=info.get("executable") or None,
        )
    except (redis.RedisError, OSError):
        status["running"] = True
    finally:
        c.close()


def server_status() -> dict[str, Any]:
    """Describe the embedded server without starting it (for the CLI and dashboards).

    ``binary`` is the running server's, else the one a start would use (None when
    none fits); ``data_written_by`` is the recorded writer of the data.
    """
    p = effective_paths(paths())
    writer = read_writer(p)
    status: dict[str, Any] = {
        "running": False,
        "url": p.url,
        "socket": str(p.socket),
        "state_dir": str(p.state_dir),
        "pid": process.server_pid(p),
        "redis_version": None,
        "binary": None,
        "data_bytes": data_size(p),
        "data_written_by": str(writer) if writer else None,
    }
    if process.probe(p) == "up":
        _running_info(p, status)
    if status["binary"] is None:
        with contextlib.suppress(VaultConnectionError):
            status["binary"] = select_binary(p).path
    return status
