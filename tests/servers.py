"""Real redis-server processes for tests: one standalone server (groups: server_groups.py).

Tests run against real servers (no fakes) so that Lua, pub/sub, ACLs, AOF and
cluster slot rules behave as in production. Every process started here is
registered and killed at interpreter exit, so a failing or interrupted test run
leaves no server behind.
"""

from __future__ import annotations

import atexit
import contextlib
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tablevault_redis.embedded import find_redis_binary

OptionValue = str | int | Sequence[str] | None
_POLL = 0.02  # seconds between readiness probes
_LIVE: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Last-resort cleanup for servers whose owner never called stop()."""
    for proc in list(_LIVE):
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            proc.wait(timeout=5)
    _LIVE.clear()


def _no_retry() -> Retry:
    """No retries: redis-py's default backoff turns each refused probe into seconds."""
    return Retry(NoBackoff(), 0)


def _port_free(port: int) -> bool:
    """True when 127.0.0.1:port can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, cluster_bus: bool = False) -> int:
    """A free TCP port; with ``cluster_bus`` also port+10000 (the cluster bus) is free.

    The bus needs port+10000 <= 65535, which the kernel's ephemeral range does not
    guarantee, so cluster ports are drawn from 20000-39999 instead.
    """
    if not cluster_bus:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 40000)
        if _port_free(port) and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def _quote(value: str) -> str:
    """Quote a redis.conf value (spaces and quotes survive)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _conf_value(value: str | int) -> str:
    """An option value as written: verbatim redis.conf syntax, ``""`` when empty.

    Verbatim so multi-word directives (``user alice on >pw ~* +@all``) work; quote
    values containing spaces yourself.
    """
    text = str(value)
    return '""' if text == "" else text


class RedisServer:
    """A redis-server child process on 127.0.0.1 with its own temporary directory.

    ``options`` are redis.conf directives merged over the defaults
    (``save ""``, ``appendonly no``) and written verbatim in redis.conf syntax; a
    value of None drops a default, a list repeats the directive (e.g. several
    ``user`` lines). ``username``/``password``
    are the credentials used for PING, SHUTDOWN, ``.url`` and ``.client()``; the
    password defaults to ``options["requirepass"]``.
    """

    DEFAULTS: Mapping[str, OptionValue] = {"save": "", "appendonly": "no"}

    def __init__(
        self,
        options: Mapping[str, OptionValue] | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        binary: str | None = None,
        port: int | None = None,
        cluster_bus: bool = False,
        startup_timeout: float = 10.0,
        start: bool = True,
        tls: Mapping[str, str] | None = None,
    ) -> None:
        self.options: dict[str, OptionValue] = {**self.DEFAULTS, **(options or {})}
        # TLS only (no plain port): {"cert": path, "key": path, "ca": path}.
        self.tls = dict(tls) if tls else None
        requirepass = self.options.get("requirepass")
        self.username = username
        self.password = (
            password
            if password is not None
            else (str(requirepass) if isinstance(requirepass, str | int) else None)
        )
        self.binary = binary or find_redis_binary("redis-server")
        self.dir = Path(tempfile.mkdtemp(prefix="tvr-redis-"))
        self._fixed_port = port is not None
        self._cluster_bus = cluster_bus
        self.port = port or free_port(cluster_bus=cluster_bus)
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        if start:
            self.start()

    # -- addresses ---------------------------------------------------------------

    @property
    def host(self) -> str:
        """Always the loopback address."""
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """``redis://[user:pass@]127.0.0.1:PORT/0`` with the configured credentials."""
        auth = ""
        if self.password is not None:
            auth = f"{self.username or ''}:{self.password}@"
        elif self.username:
            auth = f"{self.username}@"
        if self.tls:
            return f"rediss://{auth}{self.host}:{self.port}/0?ssl_ca_certs={self.tls['ca']}"
        return f"redis://{auth}{self.host}:{self.port}/0"

    @property
    def unix_socket(self) -> str | None:
        """The ``unixsocket`` option, when one was given."""
        value = self.options.get("unixsocket")
        return str(value) if isinstance(value, str) else None

    @property
    def log_file(self) -> Path:
        """The server's log (stdout and stderr)."""
        return self.dir / "redis.log"

    @property
    def running(self) -> bool:
        """True while the child process has not exited."""
        return self.proc is not None and self.proc.poll() is None

    def client(self, **kwargs: Any) -> redis.Redis:
        """A ``redis.Redis`` on this server (``decode_responses=True`` unless overridden)."""
        params: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "decode_responses": True,
            "socket_timeout": 10.0,
        }
        if self.tls:
            params.update(ssl=True, ssl_ca_certs=self.tls["ca"])
        params.update(kwargs)
        return redis.Redis(**params)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the log, for failure messages."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- lifecycle ---------------------------------------------------------------

    def _write_config(self) -> Path:
        """Write redis.conf; a file (not argv) so values with spaces stay intact."""
        lines = [f"port {self.port}", "bind 127.0.0.1", f"dir {_quote(str(self.dir))}"]
        if self.tls:
            lines[0] = "port 0"
            lines += [
                f"tls-port {self.port}",
                f"tls-cert-file {_quote(self.tls['cert'])}",
                f"tls-key-file {_quote(self.tls['key'])}",
                f"tls-ca-cert-file {_quote(self.tls['ca'])}",
                "tls-auth-clients no",
            ]
        for name, value in self.options.items():
            if value is None:
                continue
            values = [value] if isinstance(value, str | int) else list(value)
            lines.extend(f"{name} {_conf_value(v)}" for v in values)
        conf = self.dir / "redis.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> None:
        """Start the server and wait until PING answers; retries on a port race."""
        if self.running:
            return
        attempts = 1 if self._fixed_port else 5
        for attempt in range(attempts):
            if self._launch():
                return
            if attempt + 1 < attempts and "in use" in self.log_tail():
                self.port = free_port(cluster_bus=self._cluster_bus)
                continue
            break
        raise RuntimeError(
            f"redis-server ({self.binary}) on port {self.port} did not start:\n{self.log_tail()}"
        )

    def _launch(self) -> bool:
        """One start attempt; True once PING answers, False if the process died."""
        conf = self._write_config()
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, str(conf)],
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        _LIVE.add(self.proc)
        return self._wait_ping()

    def _wait_ping(self) -> bool:
        """True once PING answers; False (process reaped) if it died or never answered."""
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        probe = self.client(socket_connect_timeout=1.0, socket_timeout=1.0, retry=_no_retry())
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    _LIVE.discard(self.proc)
                    return False
                with contextlib.suppress(redis.ConnectionError, redis.TimeoutError, OSError):
                    if probe.ping():
                        return True
                time.sleep(_POLL)
        finally:
            probe.close()
        self._reap(signal.SIGKILL)
        return False

    def _reap(self, sig: signal.Signals, timeout: float = 10.0) -> None:
        """Send ``sig`` if still running, then wait for the process to end."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        _LIVE.discard(proc)

    def stop(self, timeout: float = 10.0) -> None:
        """SHUTDOWN NOSAVE (the AOF, if enabled, is still flushed), then wait."""
        if not self.running:
            self._reap(signal.SIGKILL)
            return
        client = self.client(socket_connect_timeout=1.0, socket_timeout=2.0, retry=_no_retry())
        try:
            client.execute_command("SHUTDOWN", "NOSAVE")
        except (redis.RedisError, OSError):
            pass  # a dropped connection is what success looks like
        finally:
            client.close()
        try:
            assert self.proc is not None
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._reap(signal.SIGTERM, timeout)
        self._reap(signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed beyond what the OS already has."""
        self._reap(signal.SIGKILL)

    def restart(self) -> None:
        """Stop if running, then start again on the same port with the same dir."""
        self.stop()
        fixed, self._fixed_port = self._fixed_port, True
        try:
            self.start()
        finally:
            self._fixed_port = fixed

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer {self.host}:{self.port} {state}>"


# The multi-process groups live in server_groups.py (imported here so that
# ``from servers import RedisClusterServers`` keeps working).
from server_groups import (  # noqa: E402
    RedisClusterServers,
    RedisSentinelServers,
    SentinelNode,
)

__all__ = [
    "RedisClusterServers",
    "RedisSentinelServers",
    "RedisServer",
    "SentinelNode",
    "free_port",
]
