"""VaultClient: control and inspect processes without becoming one.

Controllers, dashboards and the command line use this class; :class:`Vault` extends
it with the process record of its own process. Public methods validate names and
turn script replies into named errors; the atomic steps are the Lua scripts.
"""

from __future__ import annotations

import difflib
import getpass
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable
from typing import Any

from . import checks, keys, process_reads, scripts
from .cleanup import CleanupMixin
from .connection import Connection, connect, redact, wrong_type
from .errors import (
    ConflictError,
    CorruptDataError,
    NotFoundError,
    TableVaultError,
    ValidationError,
    VaultConnectionError,
    WaitTimeoutError,
)
from .events import CodeEventsMixin
from .items import ItemsMixin
from .models import FINAL_STATUSES, CodeItem, ProcessInfo, died_at, fold_code_events
from .operations import OperationsMixin
from .pages import PagesMixin
from .query import QueryMixin
from .replies import Withdrawn
from .retention import RetentionMixin
from .retry import Backoff, is_transient

logger = logging.getLogger(__name__)

_REQUEST_ATTEMPTS = 3  # over about 0.3 s: rides out a dropped connection, not an outage
ACTIONS = ("stop", "pause", "resume")
_BULK = 500  # names per request_many call: 15-25 ms of server time each


class VaultClient(
    ItemsMixin,
    QueryMixin,
    OperationsMixin,
    CleanupMixin,
    CodeEventsMixin,
    PagesMixin,
    RetentionMixin,
):
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
        (reply,) = self._send_requests(action, [name])
        if reply.refused:
            raise self._refusal(action, name, reply.refused, reply.detail, reply.by)
        seq = reply.seq
        if wait:
            self._wait_acted(action, name, seq, timeout)
        return seq

    def request_many(self, action: str, names: Iterable[str]) -> list[int | TableVaultError]:
        """Send ``action`` (stop, pause or resume) to every process of ``names`` in
        one pipeline; per name, in order, the request's sequence number or the error
        a single call would raise (nothing is raised for a refused name)."""
        if action not in ACTIONS:
            raise ValidationError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
        if isinstance(names, str):
            raise ValidationError("names must be a list of process names, not a string")
        checked = [keys.check_name(n) for n in names]
        replies = self._send_requests(action, checked) if checked else []
        return [
            self._refusal(action, name, r.refused, r.detail, r.by) if r.refused else r.seq
            for name, r in zip(checked, replies, strict=True)
        ]

    def _send_requests(self, action: str, names: list[str]) -> list[Any]:
        """The requests for every name, in one round trip (a Batch).

        A dropped connection may have lost the replies, not the requests: retrying
        with the same ids gets the first attempt's answers instead of second requests.
        """
        ids = [uuid.uuid4().hex for _ in names]
        backoff = Backoff(start=0.1, maximum=0.4)
        for attempt in range(_REQUEST_ATTEMPTS):
            try:
                with self._conn.translate():
                    return self._queue_requests(action, names, ids)
            except VaultConnectionError as e:
                if attempt + 1 == _REQUEST_ATTEMPTS or not is_transient(e):
                    raise
                time.sleep(backoff.next())
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _queue_requests(self, action: str, names: list[str], ids: list[str]) -> list[Any]:
        """One ``request`` script per name, or on a standalone server one
        ``request_many`` per :data:`_BULK` names, each sent once built: stopping
        10,000 processes then costs the server 20 script calls instead of 10,000 (a
        cluster spreads the names over many slots, which one call cannot cross)."""
        batch, ns, by = scripts.Batch(self._conn), self.namespace, self.requester
        if len(names) == 1 or self._conn.cluster:
            for name, request_id in zip(names, ids, strict=True):
                scripts.request(
                    self._conn, ns, name, action=action, by=by, request_id=request_id, client=batch
                )
            return batch.execute()
        streamed = scripts.StreamedBatch(self._conn)
        for i in range(0, len(names), _BULK):
            chunk, chunk_ids = names[i : i + _BULK], ids[i : i + _BULK]
            scripts.request_many(
                self._conn, ns, chunk, action=action, by=by, request_ids=chunk_ids, client=streamed
            )
        return [reply for replies in streamed.execute() for reply in replies]

    def withdraw_request(self, process_name: str) -> Withdrawn:
        """Withdraw the stop or pause request pending for ``process_name`` before the
        process acts on it; returns what was withdrawn (``action``, ``by`` who had
        asked, ``requested_at``; ``seq`` the new request number).

        Anyone may withdraw (the CLI's requester differs at every call). Refused
        with :class:`ValidationError` when nothing is pending or the process ended,
        with :class:`ConflictError` when it already acted: a checkpoint raised for
        the stop (it is stopping), or it is paused (resume it instead).
        """
        keys.check_name(process_name)
        with self._conn.translate():
            reply = scripts.withdraw(self._conn, self.namespace, process_name, by=self.requester)
        name = process_name
        if reply.refused == "not_found":
            raise self._not_found(name)
        if reply.refused == "ended":
            raise ValidationError(
                f"nothing to withdraw: process {name!r} has ended (status {reply.detail})"
            )
        if reply.refused == "nothing_pending":
            raise ValidationError(
                f"nothing to withdraw: no stop or pause request is pending for process "
                f"{name!r} (it is {reply.detail})"
            )
        if reply.refused == "acted_on":
            already = "is stopping" if reply.detail == "stop" else "is paused (resume it)"
            raise ConflictError(
                f"cannot withdraw the {reply.detail} request from {reply.by!r}: process "
                f"{name!r} already acted on it and {already}"
            )
        return reply

    def _refusal(
        self, action: str, name: str, reason: str, detail: str, by: str
    ) -> TableVaultError:
        if reason == "not_found":
            return self._not_found(name)
        if reason == "corrupt":
            return CorruptDataError(
                f"cannot {action} process {name!r}: its record is a {detail}, not a hash "
                "(overwritten by something else); it is put back by the process itself "
                "within one heartbeat interval if it is alive"
            )
        if reason == "ended":
            return ValidationError(
                f"cannot {action} process {name!r}: it has ended (status {detail})"
            )
        if reason == "not_alive":
            return ValidationError(
                f"cannot {action} process {name!r}: it is not alive (its heartbeat expired; "
                "it crashed or was killed)"
            )
        if reason == "conflict":
            return ConflictError(
                f"cannot {action} process {name!r}: a {detail} request from {by!r} "
                "is already pending"
            )
        if reason == "not_paused":
            return ValidationError(
                f"cannot resume process {name!r}: it is {detail}, neither paused nor asked to pause"
            )
        return ValidationError(f"cannot {action} process {name!r}: {reason}")

    def _not_found(self, name: str) -> NotFoundError:
        """ "No process named ...", with the closest names of the namespace as a hint."""
        message = f"no process named {name!r} in namespace {self.namespace!r}"
        try:
            with self._conn.translate():
                known = self._conn.client.zrange(keys.processes(self.namespace), 0, -1)
        except VaultConnectionError:
            known = []
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        if close:
            message += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
        return NotFoundError(message)

    def wait_for_request(self, action: str, process_name: str, seq: int, *, timeout: float) -> None:
        """Return once ``process_name`` acted on its ``action`` request number ``seq``
        (from :meth:`request_many`), or ended; :class:`WaitTimeoutError` after
        ``timeout`` seconds (the request stays pending)."""
        keys.check_name(process_name)
        if action not in ACTIONS:
            raise ValidationError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
        self._wait_acted(action, process_name, seq, timeout)

    def _wait_acted(self, action: str, name: str, seq: int, timeout: float) -> None:
        """Poll the record until the target acted on request ``seq``."""
        ns = self.namespace
        deadline = time.monotonic() + timeout
        poll = Backoff(start=0.002, maximum=0.05)  # quick for a quick target, then calm
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
            time.sleep(poll.next())

    # -- inspection ----------------------------------------------------------

    def _read_records(self, names: list[str], report: bool = True) -> list[ProcessInfo]:
        """The records of ``names`` (only the fields shown, see process_reads); a record
        that cannot be read (a key of another type) is skipped and reported once (unless
        ``report`` is false: the caller raises instead), so one bad key never hides the
        others."""
        out: list[ProcessInfo] = []
        with self._conn.translate():
            read = process_reads.read(self._conn, self.namespace, names)
            for name, info in zip(names, read, strict=True):
                if isinstance(info, ProcessInfo) or info is None:
                    self.unreadable.discard(name)
                    if info is not None:
                        out.append(info)
                    continue
                wrong = wrong_type(info)  # any other error is raised
                if wrong is not None:
                    if report:
                        self._report_unreadable(name, wrong)
                    self.unreadable.add(name)
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
        found = self._read_records([process_name], report=False)
        if not found and process_name in self.unreadable:
            raise CorruptDataError(
                f"the record of process {process_name!r} in namespace {self.namespace!r} "
                "cannot be read: its key holds something this library did not write"
            )
        if not found:
            raise self._not_found(process_name)
        return found[0]

    def list_children(self, process_name: str) -> list[ProcessInfo]:
        """The processes started with ``process_name`` as their parent, oldest first."""
        self.get_process(process_name)
        with self._conn.translate():
            names = self._conn.client.zrange(keys.children(self.namespace, process_name), 0, -1)
        return self._read_records(names)

    def get_code_items(self, process_name: str) -> list[CodeItem]:
        """The code items of a process, by index (every run of the name). An item left
        open by a process seen dead reads as ``crashed``."""
        info = self.get_process(process_name)
        with self._conn.translate():
            events = self._conn.client.xrange(keys.code(self.namespace, process_name))
        return fold_code_events(process_name, events, died_at(info))

    def list_namespaces(self) -> dict[str, int]:
        """Every namespace on the server that has processes, with how many (ended ones
        included), by name. Scans the key space: meant for people, not hot loops."""
        with self._conn.translate():
            found = {
                ns
                for key in self._conn.client.scan_iter(match=keys.PROCESSES_PATTERN, count=1000)
                if (ns := keys.namespace_of_processes_key(key)) is not None
            }
            names = sorted(found)
            pipe = self._conn.client.pipeline(transaction=False)
            for ns in names:
                pipe.zcard(keys.processes(ns))
            counts = pipe.execute() if names else []
        return {ns: int(n) for ns, n in zip(names, counts, strict=True) if n}
