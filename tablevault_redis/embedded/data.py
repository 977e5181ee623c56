"""Which Redis wrote the embedded server's data, so that no older one ever opens it.

Redis reads data written by older versions but not newer ones, and an older
server can even start empty next to data it does not recognise (6.2 ignores
Redis 7's ``appendonlydir/``) and leave it stranded. So before every start the
chosen binary and its version are recorded in ``redis-binary.json``; data from
before that record existed is judged by its layout.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from ..connection import parse_redis_version, version_text
from .binaries import RedisBinary, Version
from .layout import EmbeddedPaths

logger = logging.getLogger(__name__)

#: Redis 7 keeps its append-only files in this folder; 6.x uses one appendonly.aof.
MULTI_PART_AOF_DIR = "appendonlydir"
_NO_FLOOR: Version = (0, 0, 0)


def read_writer(p: EmbeddedPaths) -> RedisBinary | None:
    """The binary recorded as the last to open the data, or None (never recorded,
    or the record is unreadable, which is logged and then judged by layout)."""
    try:
        record = json.loads(p.writer_file.read_text())
        return RedisBinary(str(record["binary"]), parse_redis_version(str(record["version"])))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("ignoring unreadable %s: %s", p.writer_file, exc)
        return None


def data_floor(p: EmbeddedPaths) -> tuple[Version, str]:
    """The oldest Redis version that may open the data, and what wrote it (in words)."""
    writer = read_writer(p)
    if writer is not None:
        return writer.version, f"Redis {version_text(writer.version)} ({writer.path})"
    if (p.state_dir / MULTI_PART_AOF_DIR).is_dir():
        return (7, 0, 0), "Redis >= 7.0 (it keeps an appendonlydir/ folder)"
    return _NO_FLOOR, "nothing yet"


def record_writer(p: EmbeddedPaths, binary: RedisBinary) -> None:
    """Record ``binary`` as the data's writer (atomically: a torn record would be
    ignored and weaken the check)."""
    record = {
        "binary": binary.path,
        "version": version_text(binary.version),
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tmp = p.writer_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.chmod(0o600)
    os.replace(tmp, p.writer_file)


def forget_writer(p: EmbeddedPaths, previous: RedisBinary | None) -> None:
    """Put back the record from before a start that never touched the data."""
    if previous is not None:
        record_writer(p, previous)
    else:
        p.writer_file.unlink(missing_ok=True)


def data_fingerprint(p: EmbeddedPaths) -> list[tuple[str, int, int]]:
    """Name, size and mtime of every data file: equal before and after a failed start
    means that binary never wrote the data."""
    files = [p.state_dir / "appendonly.aof", p.state_dir / "dump.rdb"]
    multi = p.state_dir / MULTI_PART_AOF_DIR
    if multi.is_dir():
        files += sorted(multi.iterdir())
    return [(f.name, st.st_size, st.st_mtime_ns) for f in files if f.is_file() and (st := f.stat())]


def data_size(p: EmbeddedPaths) -> int:
    """Bytes of append-only data: ``appendonly.aof`` (6.x) or ``appendonlydir/`` (7+)."""
    total = 0
    single = p.state_dir / "appendonly.aof"
    if single.is_file():
        total += single.stat().st_size
    multi: Path = p.state_dir / MULTI_PART_AOF_DIR
    if multi.is_dir():
        total += sum(f.stat().st_size for f in multi.iterdir() if f.is_file())
    return total
