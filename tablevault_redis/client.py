"""VaultClient: control and inspect processes without becoming one.

Controllers, dashboards and the command line use this class; :class:`Vault` extends
it with the process record of its own process. Public methods validate names and
turn script replies into named errors; the atomic steps are the Lua scripts.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import time
import uuid
from typing import Any

from . import checks, keys, scripts
from .cleanup import CleanupMixin
from .connection import Connection, connect, redact, wrong_type
from .errors import (
    ConflictError,
    CorruptDataError,
    NotFoundError,
    ValidationError,
    VaultConnectionError,
    WaitTimeoutError,
)
from .events import CodeEventsMixin
from .items import ItemsMixin
from .models import FINAL_STATUSES, CodeItem, ProcessInfo, fold_code_events
from .operations import OperationsMixin
from .query import QueryMixin
from .retry import Backoff, is_transient

logger = logging.getLogger(__name__)

_REQUEST_ATTEMPTS = 3  # over about 0.3 s: rides out a dropped connection, not an outage


class VaultClient(ItemsMixin, QueryMixin, OperationsMixin, CleanupMixin, CodeEventsMixin):
    """Stop, pause, resume and inspect the processes of one namespace; read and write
    record lists and descriptions, query, list operations and clean up (mixins)."""

    def __init__(
        self,
        redis_url: str | None = None,
        namespace: str = "tv",
        *,
        cluster: bool | None = None,
    ) -> None:
        self.namespace = keys.check_namespace(namespace)
        self._conn: Connection = connect(redis_url, cluster=cluster)
        self.requester = (
            f"client:{getpass.getuser()}@{socket.gethostname()}:{os.getpid()}"
            f" (redis user {self._conn.acl_user})"
        )
        # Process names whose record could not be read (skipped by list_processes and
        # the like); each is logged once per client.
        self.unreadable: set[str] = set()
        self._reported: set[str] = set()

    @property
    def redis(self) -> Any:
        """The underlying redis-py client (``redis.Redis`` or ``redis.RedisCluster``)."""
        return self._conn.client

    @property
    def redis_url(self) -> str:
        """The server's URL, passwords masked."""
        return redact(self._conn.url)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} namespace={self.namespace!r} {self._conn!r}>"

    def close(self) -> None:
        """Release the connection."""
        self._conn.close()

    def __enter__(self) -> VaultClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- control -------------------------------------------------------------

    def stop_execution(
        self, process_name: str, *, wait: bool = False, timeout: float = 30.0
    ) -> int:
        """Ask ``process_name`` to stop at its next checkpoint; returns the request's
        sequence number. With ``wait=True``, return only once it has stopped (or
        ``timeout`` seconds passed: :class:`WaitTimeoutError`)."""
        return self._request("stop", process_name, wait, timeout)

    def pause_execution(
        self, process_name: str, *, wait: bool = False, timeout: float = 30.0
    ) -> int:
        """Ask ``process_name`` to wait inside its next checkpoint until resumed."""
        return self._request("pause", process_name, wait, timeout)

    def resume_execution(
        self, process_name: str, *, wait: bool = False, timeout: float = 30.0
    ) -> int:
        """Let a paused process continue, or cancel a pause not yet reached."""
        return self._request("resume", process_name, wait, timeout)

    def _request(self, action: str, name: str, wait: bool, timeout: float) -> int:
        keys.check_name(name)
        timeout = checks.seconds(timeout, "timeout")
        request_id = uuid.uuid4().hex
        backoff = Backoff(start=0.1, maximum=0.4)
        # A dropped connection may have lost the reply, not the request: retrying with
        # the same id gets the first attempt's answer instead of a second request.
        for attempt in range(_REQUEST_ATTEMPTS):
            try:
                with self._conn.translate():
                    reply = scripts.request(
                        self._conn,
                        self.namespace,
                        name,
                        action=action,
                        by=self.requester,
                        request_id=request_id,
                    )
                break
            except VaultConnectionError as e:
                if attempt + 1 == _REQUEST_ATTEMPTS or not is_transient(e):
                    raise
                time.sleep(backoff.next())
        if reply.refused:
            self._refuse(action, name, reply.refused, reply.detail, reply.by)
        seq = reply.seq
        if wait:
            self._wait_acted(action, name, seq, timeout)
        return seq

    def _refuse(self, action: str, name: str, reason: str, detail: str, by: str) -> None:
        where = f"in namespace {self.namespace!r}"
        if reason == "not_found":
            raise NotFoundError(f"no process named {name!r} {where}")
        if reason == "corrupt":
            raise CorruptDataError(
                f"cannot {action} process {name!r}: its record is a {detail}, not a hash "
                "(overwritten by something else); it is put back by the process itself "
                "within one heartbeat interval if it is alive"
            )
        if reason == "ended":
            raise ValidationError(
                f"cannot {action} process {name!r}: it has ended (status {detail})"
            )
        if reason == "not_alive":
            raise ValidationError(
                f"cannot {action} process {name!r}: it is not alive (its heartbeat expired; "
                "it crashed or was killed)"
            )
        if reason == "conflict":
            raise ConflictError(
                f"cannot {action} process {name!r}: a {detail} request from {by!r} "
                "is already pending"
            )
        if reason == "not_paused":
            raise ValidationError(
                f"cannot resume process {name!r}: it is {detail}, neither paused nor asked to pause"
            )
        raise ValidationError(f"cannot {action} process {name!r}: {reason}")

    def _wait_acted(self, action: str, name: str, seq: int, timeout: float) -> None:
        """Poll the record until the target acted on request ``seq``."""
        ns = self.namespace
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            with self._conn.translate():
                pipe = self._conn.client.pipeline(transaction=False)
                pipe.hmget(
                    keys.proc(ns, name), "status", "request_seq", "interrupt_action", "paused_seq"
                )
                pipe.exists(keys.alive(ns, name))
                (status, cur_seq, pending, paused_seq), alive = pipe.execute()
            cur = int(cur_seq or 0)
            if status in FINAL_STATUSES or not alive or cur > seq:
                return
            if action == "stop" and pending != "stop":
                return
            if action == "pause" and status == "paused" and paused_seq == str(seq):
                return
            if action == "resume" and status != "paused":
                return
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(
                    f"process {name!r} has not acted on the {action} request within "
                    f"{timeout} s (status {status}); the request stays pending"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    # -- inspection ----------------------------------------------------------

    def _read_records(self, names: list[str]) -> list[ProcessInfo]:
        """The records of ``names``; a record that cannot be read (a key of another
        type) is skipped and reported once, so one bad key never hides the others."""
        ns = self.namespace
        out = []
        with self._conn.translate():
            pipe = self._conn.client.pipeline(transaction=False)
            for name in names:
                pipe.hgetall(keys.proc(ns, name))
                pipe.exists(keys.alive(ns, name))
            replies = pipe.execute(raise_on_error=False) if names else []
            for name, fields, alive in zip(names, replies[::2], replies[1::2], strict=True):
                wrong = wrong_type(fields) or wrong_type(alive)
                if wrong is not None:
                    self._report_unreadable(name, wrong)
                    continue
                self.unreadable.discard(name)
                if fields:
                    out.append(ProcessInfo.from_record(fields, bool(alive)))
        return out

    def _report_unreadable(self, name: str, error: Exception) -> None:
        self.unreadable.add(name)
        if name not in self._reported:
            self._reported.add(name)
            logger.warning(
                "tablevault-redis: skipped process %r of namespace %r: its record cannot "
                "be read (%s)",
                name,
                self.namespace,
                error,
            )

    def list_processes(self, *, include_ended: bool = True) -> list[ProcessInfo]:
        """Every process of the namespace, oldest first."""
        with self._conn.translate():
            names = self._conn.client.zrange(keys.processes(self.namespace), 0, -1)
        infos = self._read_records(names)
        return infos if include_ended else [p for p in infos if p.alive]

    def get_process(self, process_name: str) -> ProcessInfo:
        """The record of one process; :class:`NotFoundError` if there is none."""
        keys.check_name(process_name)
        found = self._read_records([process_name])
        if not found and process_name in self.unreadable:
            raise CorruptDataError(
                f"the record of process {process_name!r} in namespace {self.namespace!r} "
                "cannot be read: its key holds something this library did not write"
            )
        if not found:
            raise NotFoundError(
                f"no process named {process_name!r} in namespace {self.namespace!r}"
            )
        return found[0]

    def list_children(self, process_name: str) -> list[ProcessInfo]:
        """The processes started with ``process_name`` as their parent, oldest first."""
        self.get_process(process_name)
        with self._conn.translate():
            names = self._conn.client.zrange(keys.children(self.namespace, process_name), 0, -1)
        return self._read_records(names)

    def get_code_items(self, process_name: str) -> list[CodeItem]:
        """The code items of a process, by index (every run of the name)."""
        self.get_process(process_name)
        with self._conn.translate():
            events = self._conn.client.xrange(keys.code(self.namespace, process_name))
        return fold_code_events(process_name, events)
