"""Vault: the API of TableVault's process management page, on Redis.

Creating a Vault registers this process (a record, a heartbeat, its code), starts
the listener and the outbox threads, and makes ``checkpoint_execution()`` able to
stop or pause it. Everything that controls or inspects other processes is inherited
from :class:`VaultClient`.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from . import identity, keys, operations, scripts
from .client import VaultClient
from .control import ControlState
from .errors import DuplicateItemError, ValidationError
from .listener import Listener
from .outbox import Outbox
from .recording import NotebookRecorder, ScriptRecorder

logger = logging.getLogger(__name__)

ENV_PARENT_NAME = "TABLEVAULT_PARENT_PROCESS_NAME"
ENV_PARENT_INDEX = "TABLEVAULT_PARENT_PROCESS_INDEX"
ENV_PARENT_NAMESPACE = "TABLEVAULT_PARENT_NAMESPACE"
ENV_HEARTBEAT_INTERVAL = "TABLEVAULT_HEARTBEAT_INTERVAL"
ENV_HEARTBEAT_TTL = "TABLEVAULT_HEARTBEAT_TTL"
DEFAULT_HEARTBEAT_INTERVAL = 3.0  # seconds
DEFAULT_HEARTBEAT_TTL = 10.0  # seconds: a dead process is seen as crashed within this
_EXIT_FLUSH_TIMEOUT = 10.0  # seconds to keep trying to write the outcome at exit
_SUBSCRIBE_TIMEOUT = 10.0
_START_FLUSH_TIMEOUT = 10.0  # seconds Vault() waits for its first writes

_lock = threading.RLock()
_current: Vault | None = None


def _seconds(value: Any, what: str, env: str) -> float:
    if value is None:
        raw = os.environ.get(env, "").strip()
        if not raw:
            return -1.0
        value, what = raw, f"{env}={raw!r}"
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{what} must be a number of seconds, got {value!r}") from None
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise ValidationError(f"{what} must be a positive number of seconds, got {value!r}")
    return seconds


def _parent_from_env(namespace: str) -> tuple[str, int]:
    name = os.environ.get(ENV_PARENT_NAME, "")
    if not name or os.environ.get(ENV_PARENT_NAMESPACE, namespace) != namespace:
        return "", 0
    try:
        return name, int(os.environ.get(ENV_PARENT_INDEX, "0"))
    except ValueError:
        return name, 0


class Vault(VaultClient):
    """This process's record, code and checkpoints, plus control of other processes.

    One Vault per Python process: calling ``Vault(...)`` again with the same
    arguments returns the same object; other arguments raise ValidationError until
    :meth:`close` ends the first one.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Vault:
        with _lock:
            cur = _current
            if cur is not None and cur._pid == os.getpid() and not cur._closed:
                wanted = cls._identity(*args, **kwargs)
                if wanted != cur._ident:
                    raise ValidationError(
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
    ) -> None:
        if getattr(self, "_initialized", False):
            return
        arguments = locals()
        self._ident = tuple(arguments[name] for name in self._IDENTITY)
        global _current
        self._pid = os.getpid()
        self._closed = True
        keys.check_name(user_id, "user_id")
        keys.check_name(process_name, "process name")
        ns = keys.check_namespace(namespace)
        if parent_process_name:
            keys.check_name(parent_process_name, "parent process name")
        elif parent_process_name != "" and parent_process_name is not None:
            raise ValidationError(f"parent process name must be a string: {parent_process_name!r}")
        if (
            not isinstance(parent_process_index, int)
            or isinstance(parent_process_index, bool)
            or parent_process_index < 0
        ):
            raise ValidationError(
                f"parent_process_index must be an integer >= 0, got {parent_process_index!r}"
            )
        interval = _seconds(heartbeat_interval, "heartbeat_interval", ENV_HEARTBEAT_INTERVAL)
        ttl = _seconds(heartbeat_ttl, "heartbeat_ttl", ENV_HEARTBEAT_TTL)
        ttl = ttl if ttl > 0 else max(DEFAULT_HEARTBEAT_TTL, interval * 3)
        interval = interval if interval > 0 else min(DEFAULT_HEARTBEAT_INTERVAL, ttl / 3)
        if ttl <= interval:
            raise ValidationError(
                f"heartbeat_ttl ({ttl} s) must be longer than heartbeat_interval "
                f"({interval} s), or every process would look dead between beats"
            )
        if not parent_process_name:
            parent_process_name, parent_process_index = _parent_from_env(ns)
        if new_arango_db is not None:
            new_db = bool(new_arango_db) or new_db

        with _lock:
            super().__init__(redis_url, ns, cluster=cluster)
            self.user_id = user_id
            self.process_name = process_name
            self.parent_process_name = parent_process_name
            self.parent_process_index = parent_process_index
            self.heartbeat_interval = interval
            self.heartbeat_ttl = ttl
            self.requester = process_name
            self.execution_type = identity.execution_type()
            self._stopped_by = ""
            self._item_ops: dict[int, str] = {}  # open code item index -> operation id
            self._token = f"{identity.describe()['host']}:{self._pid}:{uuid.uuid4().hex[:12]}"
            if new_db:
                self._delete_namespace()
            try:
                self._register()
                self._start_threads()
                self._start_recording()
                # The script's code item is on the server before the program's work
                # starts: a kill -9 a moment later still leaves it recorded.
                self._outbox.flush(_START_FLUSH_TIMEOUT)
            except BaseException:
                self._conn.close()
                raise
            self._closed = False
            self._initialized = True
            _current = self

    # -- registration ------------------------------------------------------------

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

    def _record_fields(self) -> dict[str, str]:
        ident = identity.describe()
        return {
            "name": self.process_name,
            "user_id": self.user_id,
            "execution_type": self.execution_type,
            **ident,
            "started_at": repr(time.time()),
            "parent_process_name": self.parent_process_name,
            "parent_process_index": str(self.parent_process_index),
            "heartbeat_token": self._token,
            "heartbeat_interval": repr(self.heartbeat_interval),
            "heartbeat_ttl": repr(self.heartbeat_ttl),
        }

    def _register(self) -> None:
        ns, name = self.namespace, self.process_name
        client = self._conn.client
        fields = self._record_fields()
        started = float(fields["started_at"])
        with self._conn.translate():
            if client.zscore(keys.record_lists(ns), name) is not None:
                raise DuplicateItemError(
                    f"process name {name!r} is taken by a record list in namespace {ns!r}"
                )
            op_id = operations.begin(
                self._conn,
                ns,
                operations.REGISTER,
                name,
                self._token,
                {"parent_process_name": self.parent_process_name, "started_at": started},
            )
            # The index first (an entry whose record never got written is harmless),
            # without moving a holder's entry should the name be refused.
            client.zadd(keys.processes(ns), {name: started}, nx=True)
            dead_holder = ""
            for _attempt in range(2):
                reply = scripts.register(
                    self._conn,
                    ns,
                    name,
                    token=self._token,
                    ttl=self.heartbeat_ttl,
                    dead_holder=dead_holder,
                    now=started,
                    fields=fields,
                )
                if not reply.held_by:
                    break
                holder = reply.held_by
                host, host_id, pid, pid_start = client.hmget(
                    keys.proc(ns, name), "host", "host_id", "pid", "pid_started_at"
                )
                holder_at = (host_id or "", int(pid or 0), float(pid_start or 0))
                if identity.holder_is_dead(*holder_at) or identity.is_this_process(*holder_at):
                    dead_holder = holder
                    continue
                operations.end(self._conn, ns, op_id)  # refused: nothing was written
                raise DuplicateItemError(
                    f"process name {name!r} is held by a live process on host {host} "
                    f"(PID {pid}); choose another name or stop that process first"
                )
            else:
                operations.end(self._conn, ns, op_id)
                raise DuplicateItemError(f"process name {name!r} is held by another process")
            client.zadd(keys.processes(ns), {name: started})  # the latest run's start
            if self.parent_process_name:
                client.zadd(keys.children(ns, self.parent_process_name), {name: started})
            operations.end(self._conn, ns, op_id)
        self.run = reply.run
        self._code_count = reply.code_count
        self._code_length = reply.code_length
        self._request_seq = reply.request_seq

    def _start_threads(self) -> None:
        ns, name = self.namespace, self.process_name
        self._control = ControlState(self._request_seq, self._report)
        self._outbox = Outbox(self._conn, self._heartbeat, self.heartbeat_interval)
        self._listener = Listener(
            self._conn,
            keys.channel(ns, name),
            self._control,
            self._resync,
            health_check_interval=self.heartbeat_interval,
        )
        self._outbox.start()
        self._listener.start()
        # Subscribe and read the request key before the program starts its work, so
        # a request made during start-up is not lost.
        if not self._listener.subscribed.wait(_SUBSCRIBE_TIMEOUT):
            logger.warning(
                "tablevault-redis: could not subscribe to %s within %s s; "
                "requests will be seen at the next heartbeat",
                keys.channel(ns, name),
                _SUBSCRIBE_TIMEOUT,
            )

    def _start_recording(self) -> None:
        self._recorder: ScriptRecorder | NotebookRecorder
        if self.execution_type == "notebook":
            import IPython

            self._recorder = NotebookRecorder(self, IPython.get_ipython())
        else:
            self._recorder = ScriptRecorder(self)
        os.environ[ENV_PARENT_NAME] = self.process_name
        os.environ[ENV_PARENT_NAMESPACE] = self.namespace
        os.environ[ENV_PARENT_INDEX] = str(self._code_count)
        self._recorder.start()

    # -- threads' callbacks ------------------------------------------------------

    def _resync(self) -> None:
        """Read ``request_seq`` and the request key in one script and apply them."""
        state = scripts.request_state(self._conn, self.namespace, self.process_name)
        self._control.apply_stored(state.request_seq, state.request)

    def _heartbeat(self) -> None:
        beat = scripts.heartbeat(
            self._conn,
            self.namespace,
            self.process_name,
            token=self._token,
            ttl=self.heartbeat_ttl,
            listener_at=self._listener.last_seen,
        )
        self._control.apply_stored(beat.request_seq, beat.request)
        if not beat.beat and not getattr(self, "_lost_warned", False):
            self._lost_warned = True
            logger.warning(
                "tablevault-redis: process record %r has ended or was taken over by "
                "another run; this process no longer heartbeats",
                self.process_name,
            )

    def _write(self, what: str, script: Callable[..., object], **kwargs: Any) -> None:
        """Queue script ``script`` of this process for the outbox, with ``kwargs``."""
        ns, name = self.namespace, self.process_name
        self._outbox.submit(
            f"{what} of process {name!r}", functools.partial(script, self._conn, ns, name, **kwargs)
        )

    def _report(self, kind: str, seq: int, by: str) -> None:
        """Called by a checkpoint (main thread) when it acts on a request."""
        if kind == "stop":
            self._stopped_by = by  # the outcome at exit: stopped, by whom
            return
        self._write(kind, scripts.ack, kind=kind, seq=seq, by=by, now=time.time())

    def _cell_ended(self) -> None:
        """A notebook cell ended: a stop it raised is over, the next cell runs."""
        consumed = self._control.consume_stop()
        if consumed is not None:
            seq, by = consumed
            self._stopped_by = ""  # the kernel lives on: the process itself goes on
            self._write(
                "stop_consumed", scripts.ack, kind="stop_consumed", seq=seq, by=by, now=time.time()
            )

    # -- Hooks for the recorders -------------------------------------------------

    def _open_item(self, text: str) -> int:
        index = self._code_count
        start = self._code_length
        self._code_count += 1
        self._code_length += len(text)
        os.environ[ENV_PARENT_INDEX] = str(index)
        # Index the item's words with its operation first: the operation stays until
        # the item closes, so cleanup can finish or undo it if this process dies.
        op = operations.code_item_op(self.process_name, self._token, index, self.run, start, text)
        self._item_ops[index] = op.id
        self._outbox.submit(
            f"operation {op.id}",
            functools.partial(
                scripts.op_begin,
                self._conn,
                self.namespace,
                op.id,
                op.json,
                code_words=op.words,
                member=op.member,
            ),
        )
        self._write(
            f"open item {index}",
            scripts.open_code,
            index=index,
            run=self.run,
            text=text,
            start_position=start,
            now=time.time(),
        )
        return index

    def _close_item(self, index: int, status: str, error: str) -> None:
        self._write(
            f"close item {index}",
            scripts.close_code,
            index=index,
            run=self.run,
            status=status,
            error=error,
            now=time.time(),
        )
        self._end_item_op(index)

    def _end_item_op(self, index: int) -> None:
        op_id = self._item_ops.pop(index, None)
        if op_id is not None:
            self._outbox.submit(
                f"end of operation {op_id}",
                functools.partial(scripts.op_end, self._conn, self.namespace, op_id),
            )

    def _finish(self, status: str, error: str, stopped_by: str) -> None:
        """Write the final status (compare-and-set) and stop the threads."""
        self._write(
            f"final status {status}",
            scripts.finish,
            status=status,
            error=error,
            stopped_by=stopped_by,
            token=self._token,
            now=time.time(),
        )
        for index in list(self._item_ops):  # finish closed them
            self._end_item_op(index)
        self._outbox.stop(_EXIT_FLUSH_TIMEOUT)
        self._listener.close()

    # -- public API ----------------------------------------------------------------

    def checkpoint_execution(self) -> None:
        """A safe point to stop or pause: with nothing pending, one attribute read."""
        if self._control.pending is not None:
            self._control.act()

    def close(self) -> None:
        """End this process's record as ``completed`` (or ``stopped`` if a stop was
        acted on), stop the threads and release the connection."""
        global _current
        with _lock:
            if self._closed:
                return
            self._closed = True
            self._recorder.uninstall()
            self._recorder.end(None)
            super().close()
            if _current is self:
                _current = None

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if not self._closed:
            self._recorder.uninstall()
            self._recorder.end(exc_info[1])
        self.close()
