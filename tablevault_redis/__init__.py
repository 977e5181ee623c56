"""tablevault-redis: record and coordinate long-running Python processes through Redis.

``Vault`` registers the running process and lets others stop, pause or resume it at
its checkpoints; ``VaultClient`` controls and inspects without registering.

The classes are imported on first use (PEP 562 ``__getattr__``): ``import
tablevault_redis`` alone, as the command line does, loads neither redis-py nor
psutil, and ``__version__`` reads the package metadata only when asked for.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    ConflictError,
    CorruptDataError,
    DuplicateItemError,
    ExecutionStopped,
    NotFoundError,
    StatementStopped,
    TableVaultError,
    ValidationError,
    VaultConnectionError,
    VaultExistsError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from .cleanup import CleanupReport
    from .client import VaultClient
    from .events import CodeEvent
    from .models import CodeItem, ProcessInfo
    from .operations import Operation
    from .query import ProcessMatch
    from .record_query import RecordMatch
    from .vault import Vault

# public name -> the module that defines it
_LAZY = {
    "CleanupReport": "cleanup",
    "CodeEvent": "events",
    "CodeItem": "models",
    "Operation": "operations",
    "ProcessInfo": "models",
    "ProcessMatch": "query",
    "RecordMatch": "record_query",
    "Vault": "vault",
    "VaultClient": "client",
}

# importlib.reload() runs this file again in the same namespace: forget what
# __getattr__ cached, so the values are looked up afresh.
for _cached in (*_LAZY, "__version__"):
    globals().pop(_cached, None)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    elif name == "__version__":
        value = _version()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY, "__version__"])


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tablevault-redis")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


__all__ = [
    "CleanupReport",
    "CodeEvent",
    "CodeItem",
    "ConflictError",
    "CorruptDataError",
    "DuplicateItemError",
    "ExecutionStopped",
    "NotFoundError",
    "Operation",
    "ProcessInfo",
    "ProcessMatch",
    "RecordMatch",
    "StatementStopped",
    "TableVaultError",
    "ValidationError",
    "Vault",
    "VaultClient",
    "VaultConnectionError",
    "VaultExistsError",
    "WaitTimeoutError",
]
