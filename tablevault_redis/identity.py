"""Who and where this process is: host, PID, the PID's start time, execution type.

psutil is imported only to look at another process: a worker reads its own start
time from ``/proc`` (psutil's own computation there), which keeps psutil's modules
out of its start-up and exit.
"""

from __future__ import annotations

import os
import socket
import sys
from functools import cache


@cache
def host_id() -> str:
    """Boot id plus PID namespace: two processes with the same host_id can compare PIDs.

    A hostname alone is not enough: a container or ``unshare --pid`` has its own PID
    numbers, and a PID from there means nothing here.
    """
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        boot = socket.gethostname()
    try:
        pidns = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        pidns = ""
    return f"{boot}:{pidns}"


def _proc_start_time(pid: int) -> float | None:
    """psutil's ``create_time()`` on Linux: the process's start, in clock ticks after
    boot (field 22 of ``/proc/<pid>/stat``), plus the boot time (``btime``); None
    where there is no such ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()
        with open("/proc/stat", "rb") as f:
            btime = next(ln for ln in f if ln.startswith(b"btime")).split()[1]
        return float(fields[19]) / os.sysconf("SC_CLK_TCK") + float(btime)
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def pid_start_time(pid: int) -> float | None:
    """The start time of ``pid`` in seconds since the epoch, or None if it is gone."""
    if sys.platform.startswith("linux"):
        started = _proc_start_time(pid)
        if started is not None:
            return started
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


def holder_is_dead(holder_host_id: str, pid: int, started_at: float) -> bool:
    """True only when we can be sure: same host and PID namespace, and that PID is gone
    or now belongs to a process that started at another time. A PID we may not look
    at (``hidepid``, another user's sandbox) counts as alive."""
    if holder_host_id != host_id():
        return False
    import psutil

    try:
        now_start = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, ProcessLookupError):
        return True
    except psutil.Error:
        return False
    return abs(now_start - started_at) > 1.0


def is_this_process(holder_host_id: str, pid: int, started_at: float) -> bool:
    """True when the holder is this very process (an earlier ``Vault()`` attempt of it
    whose reply was lost): one Vault per process means it holds nothing else."""
    me = os.getpid()
    mine = pid_start_time(me) or 0.0
    return holder_host_id == host_id() and pid == me and abs(mine - started_at) <= 1.0


def at_prompt() -> bool:
    """True at the plain interpreter's interactive prompt: it is running (``sys.ps1``
    exists) and ``__main__`` is no file (``python -i script.py`` is a script)."""
    main = sys.modules.get("__main__")
    return hasattr(sys, "ps1") and not getattr(main, "__file__", None)


def execution_type() -> str:
    """``notebook`` inside IPython (Jupyter kernel or terminal IPython),
    ``interactive`` at the plain interpreter's prompt, else ``script``."""
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        try:
            if ipython.get_ipython() is not None:
                return "notebook"
        except Exception:  # a half-imported IPython is not a notebook
            pass
    return "interactive" if at_prompt() else "script"


def describe() -> dict[str, str]:
    """The identity fields of the process record."""
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "host_id": host_id(),
        "pid": str(pid),
        "pid_started_at": repr(pid_start_time(pid) or 0.0),
    }
