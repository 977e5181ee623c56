"""Vault: the API of TableVault's process management page, on Redis.

Creating a Vault registers this process (a record, a heartbeat, its code; see
:class:`run.ProcessRun`), starts the listener and the outbox threads, and makes
``checkpoint_execution()`` able to stop or pause it. Where it can (see
:func:`link_pool.usable`), everything the Vault sends and receives shares one
connection (:mod:`link`). Everything that controls or
inspects other processes is inherited from :class:`VaultClient`.
"""

from __future__ import annotations

import atexit
import inspect
import logging
import os
import sys
import threading
from typing import Any

from . import beat, checks, exiting, identity, keys, link_pool, wakeup
from .client import VaultClient
from .errors import StatementStopped, ValidationError, VaultExistsError
from .listener import listener_for
from .outbox import Outbox, max_pending_setting
from .progress import ProgressMixin
from .prompt import PromptRecorder
from .recording import NotebookRecorder, ScriptRecorder, ThreadStops
from .run import ENV_PARENT_INDEX, ENV_PARENT_NAME, ENV_PARENT_NAMESPACE, ProcessRun

ENV_HEARTBEAT_INTERVAL = "TABLEVAULT_HEARTBEAT_INTERVAL"
ENV_HEARTBEAT_TTL = "TABLEVAULT_HEARTBEAT_TTL"
DEFAULT_HEARTBEAT_INTERVAL = 3.0  # seconds
DEFAULT_HEARTBEAT_TTL = 10.0  # seconds: a dead process is seen as crashed within this
_EXIT_FLUSH_TIMEOUT = 10.0  # seconds to keep trying to write the outcome at exit
_SUBSCRIBE_TIMEOUT = 10.0
_START_FLUSH_TIMEOUT = 10.0  # seconds Vault() waits for its first writes

logger = logging.getLogger(__name__)

_lock = threading.RLock()
_current: Vault | None = None


def _redis_user_suffix(acl_user: str) -> str:
    """A Vault's requests are named by its process; an ACL user is added when not the
    default one, so ``stopped_by`` stays the plain process name on servers without ACLs."""
    return "" if acl_user == "default" else f" (redis user {acl_user})"


def _seconds(value: Any, what: str, env: str) -> float:
    if value is None:
        raw = os.environ.get(env, "").strip()
        if not raw:
            return -1.0
        value, what = raw, f"{env}={raw!r}"
        try:
            value = float(raw)
        except ValueError:
            raise ValidationError(f"{what} must be a number of seconds") from None
    return checks.seconds(value, what, positive=True)


def _heartbeat_settings(interval_arg: Any, ttl_arg: Any) -> tuple[float, float]:
    """(interval, ttl) from the arguments, else the environment, else the defaults."""
    interval = _seconds(interval_arg, "heartbeat_interval", ENV_HEARTBEAT_INTERVAL)
    ttl = _seconds(ttl_arg, "heartbeat_ttl", ENV_HEARTBEAT_TTL)
    ttl = ttl if ttl > 0 else max(DEFAULT_HEARTBEAT_TTL, interval * 3)
    interval = interval if interval > 0 else min(DEFAULT_HEARTBEAT_INTERVAL, ttl / 3)
    if ttl <= interval:
        raise ValidationError(
            f"heartbeat_ttl ({ttl} s) must be longer than heartbeat_interval "
            f"({interval} s), or every process would look dead between beats"
        )
    return interval, ttl


# The original's other Vault arguments, accepted so its scripts run unchanged: its
# database settings mean nothing here (a warning says where the data goes instead),
# the rest are ignored (descriptions take embeddings of any size; no log files).
ARANGO_ARGUMENTS = frozenset(
    {
        "arango_url",
        "arango_db",
        "arango_username",
        "arango_password",
        "arango_root_username",
        "arango_root_password",
    }
)
IGNORED_ARGUMENTS = frozenset({"description_embedding_size", "log_file_location", "is_experiment"})


def _check_original_arguments(original: dict[str, Any]) -> None:
    """Refuse a keyword the original's Vault did not take either; warn about Arango's."""
    unknown = sorted(set(original) - ARANGO_ARGUMENTS - IGNORED_ARGUMENTS)
    if unknown:
        raise ValidationError(f"Vault() got an unexpected keyword argument {unknown[0]!r}")
    arango = sorted(set(original) & ARANGO_ARGUMENTS)
    if arango:
        logger.warning(
            "Vault(): %s ignored: processes are recorded in Redis (redis_url= or "
            "TABLEVAULT_REDIS_URL, namespace=)",
            ", ".join(arango),
        )


def _check_parent(name: Any, index: Any) -> None:
    if name:
        keys.check_name(name, "parent process name")
    elif name != "" and name is not None:
        raise ValidationError(f"parent process name must be a string: {name!r}")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ValidationError(f"parent_process_index must be an integer >= 0, got {index!r}")


def _in_spawn_reimport() -> bool:
    """True while a child started by multiprocessing's ``spawn`` or ``forkserver``
    (macOS's default, DataLoader workers) re-imports the parent's main module as
    ``__mp_main__``: its unguarded ``Vault()`` would claim the parent's name again,
    fail, and a pool would start the child again, forever."""
    process = sys.modules.get("multiprocessing.process")
    if process is None:  # no multiprocessing child would have it imported already
        return False
    # Set by multiprocessing.spawn while the child prepares (before parent_process()).
    if getattr(process.current_process(), "_inheriting", False):
        return True
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__mp_main__":
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _refuse_spawn_reimport(process_name: object) -> None:
    """End a spawned child's re-import with one line and exit status 1, no traceback:
    the cause and the fix."""
    if _in_spawn_reimport():
        raise SystemExit(
            f"tablevault-redis: Vault({process_name!r}) ran again in a multiprocessing "
            "child (start method 'spawn') re-importing the main script; guard it with "
            "if __name__ == '__main__':"
        )


def _parent_from_env(namespace: str) -> tuple[str, int]:
    name = os.environ.get(ENV_PARENT_NAME, "")
    if not name or os.environ.get(ENV_PARENT_NAMESPACE, namespace) != namespace:
        return "", 0
    try:
        return name, int(os.environ.get(ENV_PARENT_INDEX, "0"))
    except ValueError:
        return name, 0


class Vault(ProgressMixin, VaultClient):
    """This process's record, code and checkpoints, plus control of other processes.

    One Vault per Python process: calling ``Vault(...)`` again with the same
    arguments returns the same object; other arguments raise VaultExistsError (a
    ValidationError and a RuntimeError) until :meth:`close` ends the first one.
    The original's other arguments are accepted too: ``arango_*`` are ignored with
    a warning, ``description_embedding_size``, ``log_file_location`` and
    ``is_experiment`` silently.
    """

    _pending: str | None = None  # the pending request, mirrored from the ControlState

    def __new__(cls, *args: Any, **kwargs: Any) -> Vault:
        with _lock:
            cur = _current
            if cur is not None and cur._pid == os.getpid() and not cur._closed:
                wanted = cls._identity(*args, **kwargs)
                if wanted != cur._ident:
                    raise VaultExistsError(
                        f"this process already has a Vault ({cur._describe_ident()}); one "
                        "Vault per process: close() it before creating another"
                    )
                return cur
            return super().__new__(cls)

    # Arguments that say which process this is; the others (new_db, heartbeats) may
    # differ on a repeated call without meaning another process.
    _IDENTITY = (
        "user_id",
        "process_name",
        "parent_process_name",
        "parent_process_index",
        "redis_url",
        "namespace",
    )

    @classmethod
    def _identity(cls, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        try:
            bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
        except TypeError as e:
            raise ValidationError(f"Vault(): {e}") from None
        bound.apply_defaults()
        _check_original_arguments(bound.arguments.get("original") or {})
        return tuple(bound.arguments[name] for name in cls._IDENTITY)

    def _describe_ident(self) -> str:
        return f"process {self.process_name!r} of user {self.user_id!r}"

    def __init__(
        self,
        user_id: str,
        process_name: str,
        parent_process_name: str = "",
        parent_process_index: int = 0,
        *,
        redis_url: str | None = None,
        namespace: str = "tv",
        new_db: bool = False,
        new_arango_db: bool | None = None,
        heartbeat_interval: float | None = None,
        heartbeat_ttl: float | None = None,
        cluster: bool | None = None,
        max_buffered_writes: int | None = None,
        fast_signals: bool | None = None,
        fast_exit: bool | None = None,
        **original: Any,
    ) -> None:
        if getattr(self, "_initialized", False):
            return
        _refuse_spawn_reimport(process_name)
        _check_original_arguments(original)
        arguments = locals()
        self._ident = tuple(arguments[name] for name in self._IDENTITY)
        global _current
        self._pid, self._closed = os.getpid(), True
        keys.check_name(user_id, "user_id")
        keys.check_name(process_name, "process name")
        ns = keys.check_namespace(namespace)
        _check_parent(parent_process_name, parent_process_index)
        interval, ttl = _heartbeat_settings(heartbeat_interval, heartbeat_ttl)
        self._max_pending = max_pending_setting(max_buffered_writes)
        self._fast_signals = wakeup.settings(fast_signals, fast_exit)
        exiting.setup(fast_exit)
        if not parent_process_name:
            parent_process_name, parent_process_index = _parent_from_env(ns)
        with _lock:
            super().__init__(redis_url, ns, cluster=cluster)
            self.user_id, self.process_name = user_id, process_name
            self.parent_process_name = parent_process_name
            self.parent_process_index = parent_process_index
            self.heartbeat_interval, self.heartbeat_ttl = interval, ttl
            self.requester = process_name + _redis_user_suffix(self._conn.acl_user)
            self.execution_type = identity.execution_type()
            self._start(bool(new_arango_db) or new_db)
            self._closed = False
            self._initialized = True
            _current = self

    def _start(self, new_db: bool) -> None:
        """Register, start the threads, start recording; on failure, let go."""
        self._conn = link_pool.one_connection(self._conn, tick=self.heartbeat_interval)
        self._outbox = Outbox(
            self._conn, self._beat, self.heartbeat_interval, max_pending=self._max_pending
        )
        self._thread_stops = ThreadStops()
        self._process = ProcessRun(
            self._conn,
            self.namespace,
            self.process_name,
            self._outbox.submit,
            user_id=self.user_id,
            execution_type=self.execution_type,
            parent=(self.parent_process_name, self.parent_process_index),
            heartbeat_interval=self.heartbeat_interval,
            heartbeat_ttl=self.heartbeat_ttl,
        )
        if new_db:
            self._delete_namespace()
        try:
            self._process.register()
            self._control = self._process.control
            self._control.mirror_to(self)  # self._pending: read by every checkpoint
            self._start_threads()
            self._start_recording()
            # The script's code item is on the server before the program's work
            # starts: a kill -9 a moment later still leaves it recorded.
            self._outbox.flush(_START_FLUSH_TIMEOUT)
        except BaseException:
            self._conn.close()
            raise

    @property
    def run(self) -> int:
        """The run number of this process name (1 for its first run)."""
        return self._process.run

    def _delete_namespace(self) -> None:
        """``new_db=True``: remove every key of this namespace (and nothing else)."""
        client = self._conn.client
        with self._conn.translate():
            batch: list[str] = []
            for key in client.scan_iter(match=keys.namespace_pattern(self.namespace), count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    self._unlink(batch)
                    batch = []
            if batch:
                self._unlink(batch)

    def _unlink(self, names: list[str]) -> None:
        if self._conn.cluster:
            for name in names:  # keys of many slots: one command each
                self._conn.client.unlink(name)
        else:
            self._conn.client.unlink(*names)

    def _start_threads(self) -> None:
        process = self._process
        self._listener, fast = listener_for(
            self._conn, process, self._fast_signals, self.heartbeat_interval
        )
        self._wakeup = fast
        beat.attach(self._conn, process, self._listener, self._outbox)
        self._outbox.start()
        self._listener.start()
        # Subscribe and read the request key before the program starts its work, so
        # a request made during start-up is not lost.
        if not self._listener.subscribed.wait(_SUBSCRIBE_TIMEOUT):
            logger.warning(
                "tablevault-redis: could not subscribe to %s within %s s; requests will be "
                "seen at the next heartbeat",
                process.channel,
                _SUBSCRIBE_TIMEOUT,
            )

    def _beat(self) -> None:
        """The outbox thread's heartbeat."""
        self._process.heartbeat(self._listener.last_seen)

    def _start_recording(self) -> None:
        self._recorder: ScriptRecorder | NotebookRecorder | PromptRecorder
        if self.execution_type == "notebook":
            import IPython

            self._recorder = NotebookRecorder(self._process, IPython.get_ipython())
            self._process.unit = "cell"
        elif self.execution_type == "interactive":
            self._recorder = PromptRecorder(self._process)
            self._process.unit = "statement"
            self._process.control.stop_error = StatementStopped
        else:
            self._recorder = ScriptRecorder(self._process)
        self._process.export_to_children()
        self._recorder.start()
        self._thread_stops.install()
        atexit.register(self._at_exit)

    # -- public API ----------------------------------------------------------------

    def checkpoint_execution(self) -> None:
        """A safe point to stop or pause: with nothing pending, one attribute read."""
        if self._pending is not None:
            self._control.act()

    def close(self) -> None:
        """End this process's record as ``completed`` (or ``stopped`` if a stop was
        acted on), stop the threads and release the connection."""
        self._end(None)

    def _at_exit(self) -> None:
        self._end(None)

    def _end(self, exc: BaseException | None) -> None:
        """The shutdown, in order: stop watching the program, queue its outcome, give
        the outbox up to _EXIT_FLUSH_TIMEOUT s to write everything, stop the
        listener, release the connection. Runs once (close, ``with`` or exit)."""
        global _current
        with _lock:
            if self._closed:
                return
            self._closed = True
            atexit.unregister(self._at_exit)
            self._recorder.uninstall()
            self._thread_stops.uninstall()
            self._process.finish(*self._recorder.outcome(exc))
            self._outbox.stop(_EXIT_FLUSH_TIMEOUT)
            self._listener.close()
            if self._wakeup is not None:
                self._wakeup.close()
            super().close()
            if _current is self:
                _current = None

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._end(exc_info[1])


exiting.freeze_library()  # last: every module this one needs is imported by now
