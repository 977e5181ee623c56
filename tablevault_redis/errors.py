"""Errors raised by tablevault-redis: one root, one class per kind of failure."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


class TableVaultError(Exception):
    """Root of every error this library raises on purpose.

    As in the original TableVault, every error has a ``code`` (a short word per
    class), and ``operation`` (the method that raised it) and ``key`` (the item or
    process it was about) where the library knows them, else None; ``collection``
    is accepted and kept as the original's is (None unless given).
    """

    code: str = "unknown"

    def __init__(
        self,
        message: str = "",
        *,
        operation: str | None = None,
        key: str | None = None,
        collection: str | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.key = key
        self.collection = collection


class ValidationError(TableVaultError, ValueError):
    """An argument or a request was malformed or not allowed in the current state."""

    code = "validation_error"


class NotFoundError(TableVaultError, LookupError):
    """A named process, code item, list or description does not exist."""

    code = "not_found"


class DuplicateItemError(TableVaultError):
    """An item with that name already exists, or a live process holds that name."""

    code = "duplicate_item"


class ConflictError(TableVaultError):
    """Another pending request, or another controller, got there first."""

    code = "conflict"


class CorruptDataError(TableVaultError):
    """A key of the namespace holds something this library did not write (another
    type, or a value it cannot read), so the operation cannot use it."""

    code = "corrupt_data"


class VaultConnectionError(TableVaultError, ConnectionError):
    """The Redis server could not be reached, refused access or cannot serve now.

    ``transient`` says whether trying again later may succeed (the server was down,
    loading or failing over) rather than needing a fix (bad credentials, too old).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient

    code = "db_error"


class VaultExistsError(ValidationError, RuntimeError):
    """This process already has a Vault with other arguments. A RuntimeError too, as
    the original's is."""

    code = "vault_exists"


def tag_errors(func: F) -> F:
    """Fill ``operation`` (the method's name) and ``key`` (its first argument, when
    a string) of a TableVaultError raised by ``func`` that does not say them yet."""

    @functools.wraps(func)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(self, *args, **kwargs)
        except TableVaultError as e:
            if e.operation is None:
                e.operation = func.__name__
            if e.key is None and args and isinstance(args[0], str):
                e.key = args[0]
            raise

    return cast(F, wrapper)


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


class StatementStopped(KeyboardInterrupt):
    """Raised at a checkpoint instead of :class:`ExecutionStopped` when the Vault was
    created in the plain interactive interpreter (``python`` at a prompt).

    The prompt ends the whole session on any ``SystemExit``, so this stop is a
    ``KeyboardInterrupt``, as Ctrl-C is: the statement is aborted, ``finally``
    blocks run, ``except Exception`` does not swallow it, and the session goes on
    at the next prompt (the Vault prints one line instead of a traceback).
    """

    def __init__(self, requested_by: str = "") -> None:
        super().__init__(requested_by)
        self.requested_by = requested_by

    def __str__(self) -> str:
        who = f" by {self.requested_by}" if self.requested_by else ""
        return f"statement stopped{who}"


class WaitTimeoutError(TableVaultError, TimeoutError):
    """A request was made but its target did not act on it within the timeout."""

    code = "timeout"
