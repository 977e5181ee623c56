"""Where the embedded server keeps its files, and which socket a running one uses."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from ..errors import VaultConnectionError

APP_NAME = "tablevault-redis"
#: Unix socket paths are limited to 104-108 bytes by the OS; stay safely below.
MAX_SOCKET_PATH_BYTES = 100


@dataclass(frozen=True)
class EmbeddedPaths:
    """Where the embedded server keeps its files (see the package docstring)."""

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
    def writer_file(self) -> Path:
        """Which redis-server binary and version last opened the data (JSON)."""
        return self.state_dir / "redis-binary.json"

    @property
    def url(self) -> str:
        """The ``unix://`` URL clients use."""
        return f"unix://{self.socket}"

    def to_dict(self) -> dict[str, str]:
        """Every path (as text) and the URL, for JSON output."""
        names = ("state_dir", "socket", "lock_file", "pid_file", "log_file", "config_file")
        out = {name: str(getattr(self, name)) for name in (*names, "writer_file")}
        return {**out, "url": self.url}


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


def make_private_dir(path: Path) -> None:
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


def recorded_socket(p: EmbeddedPaths) -> Path | None:
    """The socket named in the generated redis.conf of the last start, if any."""
    try:
        text = p.config_file.read_text()
    except OSError:
        return None
    match = re.search(r'^unixsocket "((?:[^"\\]|\\.)*)"$', text, re.MULTILINE)
    if match is None:
        return None
    return Path(re.sub(r"\\(.)", r"\1", match.group(1)))
