"""One run of this process in Redis: its record, heartbeat, acknowledgements, code
items and final status.

:class:`Vault` owns the threads and the public API; :class:`ProcessRun` owns what
the run writes. Registration is synchronous, so ``Vault()`` fails at once when the
name is held by a live process. Every later write is handed to the outbox (ordered,
retried, each one idempotent), so neither a checkpoint nor a notebook cell ever
waits on Redis.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis.exceptions

from . import identity, keys, notices, operations, scripts
from .connection import Connection
from .control import ControlState, new_epoch
from .errors import DuplicateItemError, TableVaultError
from .replies import Heartbeat, Registered, RequestState, Revival

ENV_PARENT_NAME = "TABLEVAULT_PARENT_PROCESS_NAME"
ENV_PARENT_INDEX = "TABLEVAULT_PARENT_PROCESS_INDEX"
ENV_PARENT_NAMESPACE = "TABLEVAULT_PARENT_NAMESPACE"

logger = logging.getLogger(__name__)

# (what, write) -> None: queue an idempotent write (the outbox's submit).
Submit = Callable[[str, Callable[[], object], bool], None]  # (what, call, wait for room)


class ProcessRun:
    """The run of process ``name``: register it, then keep its record current;
    ``control`` (the request state that checkpoints read) exists once registered."""

    def __init__(
        self,
        conn: Connection,
        ns: str,
        name: str,
        submit: Submit,
        *,
        user_id: str,
        execution_type: str,
        parent: tuple[str, int],
        heartbeat_interval: float,
        heartbeat_ttl: float,
    ) -> None:
        self._conn = conn
        self.namespace = ns
        self.name = name
        self._submit = submit
        self._user_id = user_id
        self._execution_type = execution_type
        self._parent = parent
        self._interval = heartbeat_interval
        self._ttl = heartbeat_ttl
        self.token = f"{identity.describe()['host']}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.run = 0
        self.code_count = 0
        self._code_length = 0
        self._item_ops: dict[int, str] = {}  # open code item index -> operation id
        self._lost_warned = self._ending = False  # _ending: final status queued, no revival
        self._fields: dict[str, str] = {}  # the record as registered: put back if it vanishes
        self._last_beat = 0.0  # time.time() of the last heartbeat that reached the server
        self.control: ControlState
        self._quick: Connection | None = None  # a checkpoint's own short-timeout calls
        # What a stop ends: "program", "cell" (notebook) or "statement" (the prompt).
        self.unit = "program"

    @property
    def channel(self) -> str:
        """The pub/sub channel requests to this process are announced on."""
        return keys.channel(self.namespace, self.name)

    # -- registration ----------------------------------------------------------------

    def _record_fields(self) -> dict[str, str]:
        return {
            "name": self.name,
            "user_id": self._user_id,
            "execution_type": self._execution_type,
            **identity.describe(),
            "started_at": repr(time.time()),
            "parent_process_name": self._parent[0],
            "parent_process_index": str(self._parent[1]),
            "heartbeat_token": self.token,
            "heartbeat_interval": repr(self._interval),
            "heartbeat_ttl": repr(self._ttl),
            "epoch": new_epoch(),
        }

    def register(self) -> None:
        """Claim the name (taking it over from a holder verified dead) and write the
        record, as an operation that cleanup finishes or undoes should this process
        die half-way; DuplicateItemError when a live process holds the name."""
        ns, name, client = self.namespace, self.name, self._conn.client
        parent = self._parent[0]
        fields = self._fields = self._record_fields()
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
                self.token,
                {"parent_process_name": parent, "started_at": started},
            )
            # The index first (an entry whose record never got written is harmless),
            # without moving a holder's entry should the name be refused.
            client.zadd(keys.processes(ns), {name: started}, nx=True)
            try:
                reply = self._claim(started, fields)
            except DuplicateItemError:
                operations.end(self._conn, ns, op_id)  # refused: nothing was written
                raise
            client.zadd(keys.processes(ns), {name: started})  # the latest run's start
            if parent:
                client.zadd(keys.children(ns, parent), {name: started})
            operations.end(self._conn, ns, op_id)
        self.run = reply.run
        self.code_count = reply.code_count
        self._code_length = reply.code_length
        self._last_beat = started
        self.control = ControlState(reply.request_seq, self._report, epoch=fields["epoch"])
        self.control.confirm = self.confirm_stop
        self.control.verify = self.verify

    def _claim(self, started: float, fields: dict[str, str]) -> Registered:
        """Run ``register``; when a holder answers, take over only if its process is
        verified dead (same host and PID namespace, PID gone) or is this one."""
        ns, name = self.namespace, self.name
        dead_holder = ""
        for _attempt in range(2):
            reply = scripts.register(
                self._conn,
                ns,
                name,
                token=self.token,
                ttl=self._ttl,
                dead_holder=dead_holder,
                now=started,
                fields=fields,
            )
            if not reply.held_by:
                return reply
            host, host_id, pid, pid_start = self._conn.client.hmget(
                keys.proc(ns, name), "host", "host_id", "pid", "pid_started_at"
            )
            holder_at = (host_id or "", int(pid or 0), float(pid_start or 0))
            if not (identity.holder_is_dead(*holder_at) or identity.is_this_process(*holder_at)):
                raise DuplicateItemError(
                    f"process name {name!r} is held by a live process on host {host} "
                    f"(PID {pid}); choose another name or stop that process first"
                )
            dead_holder = reply.held_by
        raise DuplicateItemError(f"process name {name!r} is held by another process")

    def export_to_children(self) -> None:
        """Processes started from now on record this one as their parent."""
        os.environ[ENV_PARENT_NAME] = self.name
        os.environ[ENV_PARENT_NAMESPACE] = self.namespace
        os.environ[ENV_PARENT_INDEX] = str(self.code_count)

    # -- the threads' calls ----------------------------------------------------------

    def resync(self) -> None:
        """Read the epoch, ``request_seq`` and the request key in one script and apply
        them (the listener, after a notification or a (re)subscribe)."""
        self.apply_state(scripts.request_state(self._conn, self.namespace, self.name))

    def apply_state(self, state: RequestState) -> None:
        """Apply a ``request_state`` reply."""
        self.control.apply_stored(state.request_seq, state.request, state.epoch)

    def heartbeat(self, listener_at: float) -> None:
        """Refresh the heartbeat (the outbox thread) and read the request state. A
        record that vanished, or was marked crashed while this run was out of reach, is
        put back at once (:meth:`_revive`); not once the run ends (its final status does)."""
        fresh, kw = self.beat_args(listener_at)
        beat = scripts.heartbeat(self._conn, self.namespace, self.name, **kw)
        lost = beat.outcome in ("missing", "crashed") and not self._ending
        self.beaten(self._revive(fresh) if lost else beat)

    def beat_args(self, listener_at: float, fresh: str = "") -> tuple[str, dict[str, Any]]:
        """A fresh epoch (``fresh``, or a new one), offered now, and the script's arguments."""
        fresh = fresh or new_epoch()
        self.control.offer_epoch(fresh)  # the beat may start the request state over in it
        kw = dict(token=self.token, ttl=self._ttl, listener_at=listener_at, fresh_epoch=fresh)
        since = {"run": self.run, "started": float(self._fields["started_at"])}
        return fresh, {**kw, "held": self.control.held(), **since}

    def beaten(self, beat: Heartbeat) -> bool:
        """Apply a heartbeat's reply (the outbox's or :mod:`beat`'s); False unless it
        refreshed this run's record."""
        if beat.beat or beat.outcome == "kept":
            self.control.apply_stored(beat.request_seq, beat.request, beat.epoch)
            self._last_beat = time.time()
            self._lost_warned = False
            return True
        if not self._lost_warned:
            self._lost_warned = True
            if beat.outcome == "taken":
                logger.warning(
                    "tablevault-redis: process name %r now belongs to another run; this "
                    "process is no longer recorded or controllable under it",
                    self.name,
                )
        return False

    def _revive(self, epoch: str, open_code: str | None = None) -> Heartbeat:
        """Put this run's record back (it vanished) or revive it (a cleaner gave it up
        for dead), with the request it acts on; the gap is recorded in the record."""
        control = self.control
        fields = {**self._fields, "run": str(self.run), "code_count": str(self.code_count)}
        fields.update(code_length=str(self._code_length), epoch=epoch)
        revival = Revival(
            ttl=self._ttl,
            epoch=epoch,
            status="paused" if control.waiting else "running",
            held=control.held(),
            open_code=self._open_code() if open_code is None else open_code,
            last_beat=self._last_beat,
            fields=fields,
        )
        reply = scripts.revive(self._conn, self.namespace, self.name, token=self.token, r=revival)
        if reply.outcome == "restored":
            self._index_again()
        if reply.outcome in ("restored", "revived"):
            logger.warning(
                "tablevault-redis: the record of process %r was %s after %.1f s out of "
                "reach (lost by the server, or marked crashed meanwhile)",
                self.name,
                reply.outcome,
                time.time() - self._last_beat,
            )
        return reply

    def _open_code(self) -> str:
        return str(max(self._item_ops)) if self._item_ops else ""

    def _index_again(self) -> None:
        """List the name again (and under its parent): the index may be lost with the record."""
        started = float(self._fields["started_at"])
        client = self._conn.client
        client.zadd(keys.processes(self.namespace), {self.name: started}, nx=True)
        if self._parent[0]:
            parent = keys.children(self.namespace, self._parent[0])
            client.zadd(parent, {self.name: started}, nx=True)

    # -- writes through the outbox ---------------------------------------------------

    def _write(
        self, what: str, script: Callable[..., object], *, room: bool = True, **kwargs: Any
    ) -> None:
        """Queue ``script`` for this process, timed now (``room``: Outbox.submit_job)."""
        now = time.time()
        call = functools.partial(script, self._conn, self.namespace, self.name, now=now, **kwargs)
        self._submit(f"{what} of process {self.name!r}", call, room)

    def _report(self, kind: str, seq: int, by: str) -> None:
        """A checkpoint acted on ``seq`` (paused, running, stopping), holding the
        control state's lock: so it never waits for room in the outbox."""
        notices.acted(kind, by, self.unit)
        self._write(kind, scripts.ack, room=False, kind=kind, seq=seq, by=by)

    def quick(self) -> Connection:
        """The short-timeout connection of a checkpoint's own calls, opened once (the
        signal fast path opens it at start: a first stop then waits for no connect)."""
        if self._quick is None:
            self._quick = self._conn.quick(keys.proc(self.namespace, self.name))
        return self._quick

    def confirm_stop(self, seq: int, by: str) -> bool:
        """Record ``stopping`` before a checkpoint first raises for stop ``seq``, on a
        short-timeout connection; False when the stop was withdrawn first. While Redis
        does not answer, the stop is acted on and its acknowledgement queued."""
        reply = self.verify("stopping", seq, by)
        if reply == "superseded":
            return False
        if reply != "stopping":
            notices.acted("stopping", by, self.unit)
            self._write("stopping", scripts.ack, kind="stopping", seq=seq, by=by)
        return True

    def verify(self, kind: str, seq: int, by: str) -> str:
        """Record ``kind`` (stopping, paused) for announced request ``seq`` if the
        server holds it (one round trip, short timeout); the ``ack`` reply, "" when
        Redis did not answer (see :meth:`ControlState.act`)."""
        try:
            reply = scripts.ack(self.quick(), self.namespace, self.name, kind=kind, seq=seq, by=by)
        except (redis.exceptions.RedisError, OSError, TableVaultError) as exc:
            logger.debug("verifying %s %d: %s", kind, seq, exc)
            return ""
        if reply == kind:
            notices.acted(kind, by, self.unit)
        return reply

    def cell_ended(self) -> None:
        """A notebook cell ended: a stop it raised is over, the next cell runs."""
        if (consumed := self.control.consume_stop()) is not None:
            kind, (seq, by) = "stop_consumed", consumed
            self._write(kind, scripts.ack, kind=kind, seq=seq, by=by)

    @property
    def stopped_by(self) -> str:
        """Who asked for the stop this process acted on, or ""."""
        return self.control.stopped_by

    def mark_stopped(self, by: str) -> None:
        """A stop acted on outside a checkpoint (SIGTERM)."""
        self.control.mark_stopped(by)

    def open_item(self, text: str) -> int:
        """Open the next code item with ``text``; returns its index."""
        index, start = self.code_count, self._code_length
        self.code_count += 1
        self._code_length += len(text)
        os.environ[ENV_PARENT_INDEX] = str(index)
        # Index the item's words with its operation first: the operation stays until
        # the item closes, so cleanup can finish or undo it if this process dies.
        op = operations.code_item_op(self.name, self.token, index, self.run, start, text)
        self._item_ops[index] = op.id
        begin = functools.partial(
            scripts.op_begin,
            self._conn,
            self.namespace,
            op.id,
            op.json,
            code_words=op.words,
            member=op.member,
        )
        self._submit(f"operation {op.id}", begin, True)
        self._write(
            f"open item {index}",
            scripts.open_code,
            index=index,
            run=self.run,
            text=text,
            start_position=start,
        )
        return index

    def close_item(self, index: int, status: str, error: str) -> None:
        """Close code item ``index`` with its outcome."""
        self._write(
            f"close item {index}",
            scripts.close_code,
            index=index,
            run=self.run,
            status=status,
            error=error,
        )
        self._end_item_op(index)

    def _end_item_op(self, index: int, room: bool = True) -> None:
        op_id = self._item_ops.pop(index, None)
        if op_id is not None:
            end = functools.partial(scripts.op_end, self._conn, self.namespace, op_id)
            self._submit(f"end of operation {op_id}", end, room)

    def finish(self, status: str, error: str, stopped_by: str) -> None:
        """Queue the final status (compare-and-set; it closes the open item too). Past
        the outbox's bound: an exit during a long outage must not wait for room."""
        self._ending = True
        outcome = {"status": status, "error": error, "stopped_by": stopped_by, "token": self.token}
        script = functools.partial(self._finish_script, open_code=self._open_code())
        self._write(f"final status {status}", script, room=False, **outcome)
        for index in list(self._item_ops):  # finish closed them
            self._end_item_op(index, room=False)
        if self._quick is not None:
            self._quick.client.close()  # its own client only: the rest is shared
            self._quick = None

    def _finish_script(self, *args: Any, open_code: str, **kwargs: Any) -> None:
        """``finish``; a record that vanished, was marked crashed meanwhile, or is an
        earlier run's restored copy is put back first (``revive`` tells those from one
        that is fine or another run's), item ``open_code`` open; one still gone is reported."""
        done = scripts.finish(*args, **kwargs)
        if done.outcome in ("missing", "kept") and self._revive(new_epoch(), open_code).beat:
            done = scripts.finish(*args, **kwargs)
        if done.outcome == "missing":
            logger.warning(
                "tablevault-redis: the final status of process %r could not be written: "
                "its record is gone or is not a hash",
                self.name,
            )
