"""tablevault-redis: record and coordinate long-running Python processes through Redis.

``Vault`` registers the running process and lets others stop, pause or resume it at
its checkpoints; ``VaultClient`` controls and inspects without registering.
"""

from importlib.metadata import PackageNotFoundError, version

from .cleanup import CleanupReport
from .client import VaultClient
from .errors import (
    ConflictError,
    CorruptDataError,
    DuplicateItemError,
    ExecutionStopped,
    NotFoundError,
    TableVaultError,
    ValidationError,
    VaultConnectionError,
    VaultExistsError,
    WaitTimeoutError,
)
from .events import CodeEvent
from .models import CodeItem, ProcessInfo
from .operations import Operation
from .query import ProcessMatch
from .record_query import RecordMatch
from .vault import Vault

try:
    __version__ = version("tablevault-redis")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

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
    "TableVaultError",
    "ValidationError",
    "Vault",
    "VaultClient",
    "VaultConnectionError",
    "VaultExistsError",
    "WaitTimeoutError",
]
