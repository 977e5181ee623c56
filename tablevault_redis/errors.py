"""Errors raised by tablevault-redis: one root, one class per kind of failure."""

from __future__ import annotations


class TableVaultError(Exception):
    """Root of every error this library raises on purpose."""


class ValidationError(TableVaultError, ValueError):
    """An argument or a request was malformed or not allowed in the current state."""


class NotFoundError(TableVaultError, LookupError):
    """A named process, code item, list or description does not exist."""


class DuplicateItemError(TableVaultError):
    """An item with that name already exists, or a live process holds that name."""


class ConflictError(TableVaultError):
    """Another pending request, or another controller, got there first."""


class VaultConnectionError(TableVaultError, ConnectionError):
    """The Redis server could not be reached, refused access or cannot serve now.

    ``transient`` says whether trying again later may succeed (the server was down,
    loading or failing over) rather than needing a fix (bad credentials, too old).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class ExecutionStopped(SystemExit):
    """Raised at a checkpoint when another process asked this one to stop.

    A ``SystemExit`` subclass, so ``finally`` blocks and ``atexit`` handlers run,
    ``except Exception`` does not swallow it, a script exits (status 0: the stop
    was asked for) and IPython aborts the cell but keeps the kernel.
    """

    def __init__(self, requested_by: str = "", code: int = 0) -> None:
        super().__init__(code)
        self.requested_by = requested_by

    def __str__(self) -> str:
        who = f" by {self.requested_by}" if self.requested_by else ""
        return f"execution stopped{who}"


class WaitTimeoutError(TableVaultError, TimeoutError):
    """A request was made but its target did not act on it within the timeout."""
