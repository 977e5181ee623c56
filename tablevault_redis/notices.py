"""The one line a process says on its stderr when it is paused, resumed or stopped.

A person watching a terminal or a notebook otherwise sees the output freeze or end
with no reason given. The lines go through :mod:`logging` at WARNING, so a program
that configured nothing still shows them (Python's last-resort handler prints
WARNING and above to stderr), and one that did can route or silence the logger
``tablevault_redis.notices``.
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)

# What a stop ends, by how the process runs its code (see :class:`run.ProcessRun`).
_STOP_ENDS = {
    "program": "the program ends (finally blocks and atexit handlers run)",
    "cell": "the running cell ends; the kernel stays",
    "statement": "the running statement ends; the session goes on",
}


def _where() -> str:
    thread = threading.current_thread()
    return "" if thread is threading.main_thread() else f" in thread {thread.name!r}"


def acted(kind: str, by: str, unit: str) -> None:
    """A checkpoint acted on a request: ``kind`` paused | running | stopping."""
    who = f" by {by}" if by else ""
    if kind == "paused":
        logger.warning(
            "tablevault-redis: paused%s at a checkpoint%s; waiting for resume", who, _where()
        )
    elif kind == "running":
        logger.warning("tablevault-redis: resumed; running again")
    elif kind == "stopping":
        ends = _STOP_ENDS.get(unit, _STOP_ENDS["program"])
        if _where() and unit == "program":
            ends = "this thread ends; the main thread stops at its next checkpoint"
        logger.warning("tablevault-redis: stopped%s at a checkpoint%s; %s", who, _where(), ends)


def signalled(signame: str) -> None:
    """SIGTERM or SIGHUP arrived and is handled as a stop."""
    logger.warning(
        "tablevault-redis: %s received; stopping (finally blocks and atexit handlers run)",
        signame,
    )


def signalled_again(signame: str, first: str) -> None:
    """Another stop signal while the first one's stop runs: ignored, said once."""
    logger.warning(
        "tablevault-redis: %s received while stopping for %s; ignored (the stop goes on)",
        signame,
        first,
    )
