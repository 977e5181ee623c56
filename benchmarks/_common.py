"""Helpers shared by the benchmarks: a private redis-server, machine facts, results.

Benchmarks never touch the shared Redis on 127.0.0.1:6379: :func:`private_redis`
starts a redis-server child on a free port (the test suite's ``RedisServer``) and
removes it afterwards.
"""

from __future__ import annotations

import json
import os
import platform
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

# This checkout's package (not whichever one the environment has installed), and the
# test suite's server helpers.
for _path in (ROOT / "tests", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from servers import RedisServer  # noqa: E402  (tests/servers.py, found via sys.path)


def wait_gone(pidfd: int, timeout: float) -> float:
    """The monotonic time at which the process behind ``pidfd`` (``os.pidfd_open``,
    opened while it ran) has exited: the kernel says so at once. ``Popen.wait`` with a
    timeout polls with doubling sleeps (1, 2, 4, 8, 16 ms), so an exit it times lands
    on 7, 15 or 31 ms after the wait began."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    if not poller.poll(timeout * 1000):
        raise TimeoutError(f"process still alive after {timeout} s")
    return time.monotonic()


@contextmanager
def private_redis(**options: Any) -> Iterator[RedisServer]:
    """A throw-away redis-server on 127.0.0.1:<free port>, stopped on exit."""
    server = RedisServer(options or None)
    try:
        yield server
    finally:
        server.close()


def redis_version(server: RedisServer) -> str:
    client = server.client()
    try:
        return str(client.info("server").get("redis_version", "?"))
    finally:
        client.close()


def machine_info(**extra: Any) -> dict[str, Any]:
    """Where the numbers came from."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import redis

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "switch_interval_s": sys.getswitchinterval(),
        "redis_py": redis.__version__,
    }
    with suppress(OSError, subprocess.SubprocessError):
        info["commit"] = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    info.update(extra)
    return info


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linear interpolation between order statistics."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, median, p90, p99, min, max of a sample."""
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "min": min(values),
        "max": max(values),
    }


def entry(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    ratio: float | None = None,
    target: str | None = None,
    met: bool | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """One row of the ``benchmarks`` list."""
    row: dict[str, Any] = {
        "name": name,
        "value": _round(value),
        "unit": unit,
        "baseline": _round(baseline),
        "ratio": _round(ratio),
        "target": target,
        "met": met,
    }
    if detail:
        row["detail"] = {k: _round(v) for k, v in detail.items()}
    return row


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def emit(name: str, doc: dict[str, Any]) -> Path:
    """Print ``doc`` as JSON to stdout and write it to ``results/<name>.json``."""
    text = json.dumps(doc, indent=2)
    print(text, flush=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def worker_progress(workdir: Path) -> int:
    """The iteration count a worker script (tests/scripts/) writes to ``progress``."""
    try:
        return int((workdir / "progress").read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def start_worker(argv: list[str], env: dict[str, str], workdir: Path, timeout: float) -> Any:
    """Start a worker script and return once it has run 20 iterations."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while worker_progress(workdir) < 20:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the worker did not start")
        time.sleep(0.01)
    return proc
