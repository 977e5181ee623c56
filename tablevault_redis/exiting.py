"""A quick interpreter exit that finalizes the program's own objects as usual.

Why: most of a stopped worker's exit is CPython tearing down what was imported, not
the program: redis-py alone brings asyncio, ssl, email and about 22,000 objects,
and at exit the interpreter runs a full garbage collection over everything while
the modules are still in place, then, once it has dropped them, collects and
deallocates them all again (``benchmarks/bench_control.py``, exit rows).

What this does, by default (``Vault(fast_exit=False)`` or ``TABLEVAULT_FAST_EXIT=0``
turns it off):

1. The last hook on the ``atexit`` list disables the automatic collector, so the
   collection CPython makes right after the ``atexit`` hooks, which finds nothing
   unreachable that the next step does not, is skipped.
2. A :class:`_Teardown` object sits in ``sys.modules``. CPython's finalization sets
   every ``sys.modules`` entry to None after all ``atexit`` hooks and thread joins,
   so its ``__del__`` runs then. It drops the program's modules (``__main__`` and
   everything outside the standard library and this library's own dependencies),
   keeps the library modules referenced, and runs one full collection: the
   program's objects are finalized as usual (files flushed and closed, ``__del__``
   methods run) while every module they might use is still intact. Then
   ``gc.freeze()``: the standard library's, redis-py's and this package's objects
   are left to the operating system instead of being collected again.

Objects that only the standard library or this library still reference at that
point are not finalized: ``logging`` handlers are flushed by ``logging.shutdown``
(an ``atexit`` hook), ``sys.stdout``/``sys.stderr`` by CPython before this runs,
and everything this library writes reaches Redis in the Vault's own ``atexit`` hook.

``Vault(fast_exit=True)`` or ``TABLEVAULT_FAST_EXIT=1`` adds ``gc.freeze()`` as an
``atexit`` hook: it also skips the collection of the program's own objects, so a
file the program did not close can lose its unwritten buffer (measured: a
``log = open(...)`` at module level ends up empty). Use it only for workers that
close what they write.
"""

from __future__ import annotations

import atexit
import functools
import gc
import sys
from types import ModuleType
from typing import Any

from . import checks

ENV_FAST_EXIT = "TABLEVAULT_FAST_EXIT"

# Top-level packages left to the operating system at exit besides the standard
# library: this package and what it imports.
LIBRARY_PACKAGES = frozenset({"tablevault_redis", "redis", "hiredis", "psutil"})
_KEY = "<tablevault_redis exit>"  # its sys.modules entry: no import statement can name it


def enabled(argument: object) -> bool:
    """Whether to freeze at ``atexit`` too (lossy): ``argument``, else the
    environment, else off."""
    return checks.switch(argument, "fast_exit", ENV_FAST_EXIT, default=False)


def teardown_enabled(argument: object) -> bool:
    """Whether to use the quick exit that keeps the program's finalization:
    ``argument``, else the environment, else on."""
    return checks.switch(argument, "fast_exit", ENV_FAST_EXIT, default=True)


@functools.cache
def install() -> None:
    """Register ``gc.freeze`` as an ``atexit`` hook, once. Hooks run last-in first-out,
    so the ones the program registers later (and the Vault's own) run before it."""
    atexit.register(gc.freeze)


def _library(name: str) -> bool:
    top = name.partition(".")[0]
    return top in sys.stdlib_module_names or top in LIBRARY_PACKAGES


class _Teardown:
    """The ``sys.modules`` entry whose finalization is the quick exit (see the module
    docstring). Anything that drops it before the interpreter finalizes (a program
    that replaces ``sys.modules``) only turns the quick exit off."""

    __slots__ = ("_modules",)

    def __init__(self) -> None:
        # Entries before this one are set to None before __del__ runs: keep the
        # library's modules among them referenced.
        self._modules = [m for n, m in list(sys.modules.items()) if _library(n)]

    def __getattr__(self, name: str) -> object:
        raise AttributeError(name)  # tools that scan sys.modules see no module here

    def __del__(self, sys: ModuleType = sys, gc: ModuleType = gc, library: Any = _library) -> None:
        # Bound as defaults: nothing here may need an import or a global lookup late
        # in the interpreter's finalization.
        if not sys.is_finalizing():
            return
        keep = list(self._modules)
        modules = sys.modules
        for name, module in list(modules.items()):
            if module is None or module is self:
                continue
            if library(name):
                keep.append(module)
            else:
                modules[name] = None  # what CPython does next; values only, same keys
        gc.collect()  # the program's objects, finalized with the library intact
        gc.freeze()
        del keep


@functools.cache
def install_teardown() -> None:
    """Put the quick exit in place, once per process."""
    sys.modules[_KEY] = _Teardown()  # type: ignore[assignment]


def setup(argument: object) -> None:
    """A Vault's ``fast_exit`` setting: the quick exit unless turned off, and the
    lossy freeze at ``atexit`` when asked for."""
    if teardown_enabled(argument):
        install_teardown()
