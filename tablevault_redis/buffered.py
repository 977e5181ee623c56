"""A Vault's records and descriptions go through its writer thread (the outbox).

So that a training loop never sees a Redis outage, ``append_record`` and
``create_description`` on a :class:`Vault` check what can be checked locally (names,
JSON, limits, and the list's columns once known), queue the write and return. The
outbox writes queued appends in order, many per round trip, and retries them while
Redis is unreachable. Each append carries this Vault's writer id and a sequence
number, and the append script skips a write it has applied already, so a retry
after a lost reply never duplicates a record.

A list's columns are cached after the first read or write; the first append to a
list this process has not seen is checked against Redis at once when Redis answers,
else when the write is made. A write refused then (other columns, an index past the
end, an input item that does not exist) cannot raise in the caller any more: it is
logged at ERROR level with the record, and counted in ``write_errors``.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from . import keys, scripts
from .connection import Connection
from .errors import (
    DuplicateItemError,
    NotFoundError,
    TableVaultError,
    ValidationError,
    VaultConnectionError,
)
from .outbox import Job, Outbox
from .records import Input, Lineage, Span
from .replies import Appended
from .values import abbreviate

logger = logging.getLogger(__name__)

_READ_BARRIER_TIMEOUT = 30.0  # seconds a read waits for this process's queued writes


@dataclass
class WriteState:
    """What a Vault knows about the lists it writes, and its writer identity."""

    writer: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    seq: int = 0  # this Vault's writes so far: the next one gets seq + 1
    columns: dict[str, list[str]] = field(default_factory=dict)  # list -> columns
    checked: set[str] = field(default_factory=set)  # names known not to be processes
    items: set[str] = field(default_factory=set)  # items known to exist
    kinds: dict[str, str] = field(default_factory=dict)  # input item -> its collection
    errors: int = 0  # queued writes refused when written
    lock: threading.Lock = field(default_factory=threading.Lock)


class BufferedWritesMixin:
    """Queued record and description writes, for :class:`Vault`."""

    _conn: Connection
    namespace: str
    process_name: str
    _outbox: Outbox

    if TYPE_CHECKING:

        def _lineage(self) -> Lineage | None: ...
        def _entry_lineage(self, inputs: Sequence[Input | Span]) -> str: ...
        def _inputs(self, spans: list[Span]) -> list[Input]: ...
        def _item_type(self, name: str) -> str | None: ...
        def _write_description(
            self, item: str, dname: str, new: str, new_words: list[str]
        ) -> None: ...
        def _record_written(self, list_name: str, text: str) -> None: ...

    @property
    def _writes(self) -> WriteState:
        state = self.__dict__.get("_write_state")
        if state is None:
            state = self.__dict__["_write_state"] = WriteState()
            self._read_own_writes()
        return state

    def _read_own_writes(self) -> None:
        """From the first queued write on, every read through this Vault's connection
        first waits (while Redis answers) for the writes queued before it, so the
        caller reads back what it wrote. Installed on the connection object, as every
        reader goes through its ``translate()``."""
        conn, outbox = self._conn, self._outbox
        plain = conn.translate

        def translate() -> Any:
            outbox.barrier(_READ_BARRIER_TIMEOUT)
            return plain()

        setattr(conn, "translate", translate)  # noqa: B010  (an instance hook, not a method)

    @property
    def pending_writes(self) -> int:
        """Writes queued and not yet written (records, descriptions, code, status)."""
        return self._outbox.pending()

    @property
    def write_errors(self) -> int:
        """Queued writes Redis refused when they were made (each one logged)."""
        return self._writes.errors

    def flush_writes(self, timeout: float = 30.0) -> bool:
        """Wait until every queued write is written; False if ``timeout`` s passed."""
        return self._outbox.flush(timeout)

    def _remember_columns(self, name: str, columns: list[str]) -> None:
        state = self._writes
        state.columns[name] = list(columns)
        state.checked.add(name)
        state.items.add(name)

    def _ask_redis(self, read: Callable[[], Any]) -> Any:
        """``read()`` while the writer thread reaches Redis; None when it cannot (an
        outage: the check is made when the write is)."""
        if not self._outbox.connected:
            return None
        try:
            return read()
        except VaultConnectionError as e:
            if not e.transient:
                raise
            return None

    def _known_columns(self, name: str) -> list[str] | None:
        """The list's columns if known (cached, or read now); None for a new list or
        when Redis cannot say now. DuplicateItemError for a process's name."""
        state = self._writes
        if name in state.columns:
            return state.columns[name]

        def read() -> tuple[str | None, int]:
            with self._conn.translate():
                pipe = self._conn.client.pipeline(transaction=False)
                pipe.hget(keys.record_list_meta(self.namespace, name), "columns")
                pipe.exists(keys.proc(self.namespace, name))
                found, is_proc = pipe.execute()
            return found, is_proc

        reply = self._ask_redis(read)
        if reply is None:
            return None
        found, is_proc = reply
        if found:
            self._remember_columns(name, _columns_json(found))
            return state.columns[name]
        if is_proc:
            raise DuplicateItemError(
                f"cannot create record list {name!r}: a process of that name exists in "
                f"namespace {self.namespace!r}"
            )
        state.checked.add(name)
        return None

    def _write_record(
        self, name: str, cols: list[str], text: str, spans: list[Span], index: int | None
    ) -> int | None:
        known = self._known_columns(name)
        if known is not None and sorted(known) != sorted(cols):
            raise ValidationError(
                f"record list {name!r} has columns {known}, not {cols}: nothing was written"
            )
        inputs = self._known_inputs(spans)
        state = self._writes
        with state.lock:
            state.seq += 1
            seq = state.seq
            state.columns.setdefault(name, list(cols))  # later records are held to them
            what = f"record {seq} of list {name!r}"
            entry = (self._lineage(), self._entry_lineage(spans))  # as of this call
            add = functools.partial(
                self._add_append, name, cols, text, spans, inputs, index, seq, entry
            )
            job = Job(what, lambda: None, batch=add, data=(seq, text, entry))
            if index is None and not spans:  # a plain append: joinable with its neighbours
                job.group, job.joiner = (name, tuple(cols), entry[0]), self._add_appends
            self._outbox.submit_job(job)
        self._record_written(name, text)
        return index

    def _known_inputs(self, spans: list[Span]) -> list[Input] | None:
        """The input items with their collections (cached, else looked up now:
        NotFoundError at once); None when Redis cannot say now."""
        kinds = self._writes.kinds
        if any(item not in kinds for item, _s, _e in spans):
            found = self._ask_redis(lambda: self._inputs(spans))
            if found is None:
                return None
            kinds.update((item, kind) for kind, item, _s, _e in found)
        return [(kinds[item], item, start, end) for item, start, end in spans]

    def _add_append(
        self,
        name: str,
        cols: list[str],
        text: str,
        spans: list[Span],
        inputs: list[Input] | None,
        index: int | None,
        seq: int,
        entry: tuple[Lineage | None, str],
        batch: scripts.Batch,
    ) -> Callable[[list[Any]], None]:
        """The writer thread: add one queued append to ``batch``."""
        state = self._writes
        if name not in state.checked:  # first write of a list not looked up before
            if self._conn.client.exists(keys.proc(self.namespace, name)):
                return lambda _r: self._refused(name, text, "a process has that name")
            state.checked.add(name)
        if inputs is None:
            inputs = self._inputs_when_written(name, spans)
        lineage, lineage_json = entry
        scripts.record_append(
            self._conn,
            self.namespace,
            name,
            columns=cols,
            record=text,
            create=True,
            lineage=lineage_json,
            index=index,
            process=lineage[0] if lineage else "",
            process_index=lineage[1] if lineage else None,
            inputs=inputs,
            writer=state.writer,
            seq=seq,
            client=batch,
        )
        return lambda replies: self._appended(name, cols, text, replies[0])

    def _add_appends(self, batch: scripts.Batch, jobs: list[Job]) -> Callable[[list[Any]], None]:
        """The writer thread: add a run of queued plain appends to one list (one
        group: same columns and lineage, no index, no input items) to ``batch`` as
        one call."""
        group = cast(tuple[str, tuple[str, ...], "Lineage | None"], jobs[0].group)
        name, cols, lineage = group
        entries = [(seq, text, lineage_json) for seq, text, (_l, lineage_json) in _data(jobs)]
        state = self._writes
        if name not in state.checked:  # first write of a list not looked up before
            if self._conn.client.exists(keys.proc(self.namespace, name)):
                return lambda _r: self._refused_all(name, entries, "a process has that name")
            state.checked.add(name)
        scripts.record_append_many(
            self._conn,
            self.namespace,
            name,
            columns=list(cols),
            entries=entries,
            writer=state.writer,
            process=lineage[0] if lineage else "",
            process_index=lineage[1] if lineage else None,
            client=batch,
        )

        def handle(replies: list[Any]) -> None:
            reply: Appended = replies[0]
            if reply.outcome == "columns" and reply.columns:
                state.columns[name] = reply.columns
                why = f"the list has columns {reply.columns}, not {list(cols)}"
                self._refused_all(name, entries, why)
            elif reply.outcome == "ok":
                state.items.add(name)

        return handle

    def _refused_all(self, name: str, entries: list[tuple[int, str, str]], why: str) -> None:
        for _seq, text, _lineage in entries:
            self._refused(name, text, why)

    def _inputs_when_written(self, name: str, spans: list[Span]) -> list[Input]:
        """Input items looked up by the writer thread (they could not be at the call)."""
        found = []
        for item, start, end in spans:
            kind = self._item_type(item)
            if kind is None:
                self._refused(name, "", f"input item {item!r} does not exist: not linked")
                continue
            found.append((f"{kind}_list" if kind == "process" else kind, item, start, end))
        return found

    def _appended(self, name: str, cols: list[str], text: str, reply: Appended) -> None:
        if reply.outcome == "columns" and reply.columns:
            self._writes.columns[name] = reply.columns
            self._refused(name, text, f"the list has columns {reply.columns}, not {cols}")
        elif reply.outcome == "index":
            self._refused(name, text, f"the index is past the end ({reply.length} records)")
        elif reply.outcome in ("ok", "dup"):
            self._writes.items.add(name)

    def _refused(self, name: str, text: str, why: str) -> None:
        self._writes.errors += 1
        logger.error(
            "tablevault-redis: a queued record for list %r was refused when written: %s; "
            "record: %s",
            name,
            why,
            abbreviate(text, 200),
        )

    # -- descriptions -----------------------------------------------------------------

    def _store_description(self, item: str, dname: str, new: str, new_words: list[str]) -> None:
        state = self._writes
        known: bool | None = item == self.process_name or item in state.items
        if not known:
            kind = self._ask_redis(lambda: self._item_type(item) or "")
            if kind == "":
                raise NotFoundError(
                    f"no process or record list named {item!r} in namespace {self.namespace!r}"
                )
            known = None if kind is None else True
            if known:
                state.items.add(item)
        call = functools.partial(self._describe_job, item, dname, new, new_words, not known)
        self._outbox.submit(f"description {dname!r} of {item!r}", call)

    def _describe_job(
        self, item: str, dname: str, new: str, new_words: list[str], check: bool
    ) -> None:
        """The writer thread: write a queued description."""
        try:
            if check and self._item_type(item) is None:
                raise NotFoundError(f"no process or record list named {item!r}")
            self._write_description(item, dname, new, new_words)
        except VaultConnectionError:
            raise
        except TableVaultError as e:
            self._writes.errors += 1
            logger.error(
                "tablevault-redis: a queued description %r of %r was refused: %s", dname, item, e
            )


def _data(jobs: list[Job]) -> list[tuple[int, str, tuple[Lineage | None, str]]]:
    """(seq, record JSON, (lineage, lineage JSON)) of each queued append."""
    return [job.data for job in jobs]


def _columns_json(text: str) -> list[str]:
    return list(json.loads(text))
