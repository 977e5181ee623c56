"""An opt-in quicker interpreter exit: ``Vault(fast_exit=True)`` or
``TABLEVAULT_FAST_EXIT=1``.

Why: most of a stopped worker's exit (about 60 ms of the 75 ms measured here,
``benchmarks/bench_control.py``, exit rows) is CPython tearing down what the worker
imported (redis-py brings asyncio) and collecting its reference cycles. With
``gc.freeze()`` as the last ``atexit`` hook, every object moves to the permanent
generation and the collections at shutdown skip them: the exit takes about 10 ms.

Why it is not the default: objects are then not finalized at exit, so a file the
program did not close keeps its unwritten buffer, even one a module-level name holds
(measured: a ``log = open(...)`` at module level ends up empty). Files closed by
``with`` or ``close()`` are unaffected, and everything this library writes reaches
Redis before the hook runs. Use it for workers that close what they write.
"""

from __future__ import annotations

import atexit
import functools
import gc

from . import checks

ENV_FAST_EXIT = "TABLEVAULT_FAST_EXIT"


def enabled(argument: object) -> bool:
    """Whether to exit fast: ``argument``, else the environment, else off."""
    return checks.switch(argument, "fast_exit", ENV_FAST_EXIT, default=False)


@functools.cache
def install() -> None:
    """Register ``gc.freeze`` as an ``atexit`` hook, once. Hooks run last-in first-out,
    so the ones the program registers later (and the Vault's own) run before it."""
    atexit.register(gc.freeze)
