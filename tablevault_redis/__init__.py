"""tablevault-redis: record and coordinate long-running Python processes through Redis.

``Vault`` registers the running process and lets others stop, pause or resume it at
its checkpoints; ``VaultClient`` controls and inspects without registering.
"""

from .client import VaultClient
from .errors import (
    ConflictError,
    DuplicateItemError,
    ExecutionStopped,
    NotFoundError,
    TableVaultError,
    ValidationError,
    VaultConnectionError,
    WaitTimeoutError,
)
from .models import CodeItem, ProcessInfo
from .operations import CleanupReport, Operation
from .query import ProcessMatch
from .vault import Vault

__version__ = "0.1.0"

__all__ = [
    "CleanupReport",
    "CodeItem",
    "ConflictError",
    "DuplicateItemError",
    "ExecutionStopped",
    "NotFoundError",
    "Operation",
    "ProcessInfo",
    "ProcessMatch",
    "TableVaultError",
    "ValidationError",
    "Vault",
    "VaultClient",
    "VaultConnectionError",
    "WaitTimeoutError",
]
