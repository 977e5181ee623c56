"""Record lists: creating, appending (with lineage) and reading records back.

A record list is a Redis list of JSON objects (see :mod:`values` for what a value
may be), appended by one Lua script that checks the record's columns, creates the
list on first use and writes the record's lineage (the process and code item that
wrote it, and its ``input_items``) into a parallel list, all in one atomic step: so
appends from many processes all land, in one total order that every reader sees,
and ``redis-cli LRANGE`` on the records list still shows the plain records.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import checks, keys, scripts
from .connection import Connection
from .errors import DuplicateItemError, NotFoundError, ValidationError, tag_errors
from .replies import Appended
from .values import Limits, record_text

Lineage = tuple[str, int, int]  # process name, code item index, run
Input = tuple[str, str, int, int]  # collection, item name, start, end
Span = tuple[str, int, int]  # item name, start, end: an input item before its lookup


@functools.lru_cache(maxsize=256)
def _json_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _columns(name: str, column_names: object) -> list[str]:
    if isinstance(column_names, (str, bytes)) or not isinstance(column_names, Sequence):
        raise ValidationError(f"column_names of {name!r} must be a list of strings")
    cols = [keys.check_name(c, f"column name of record list {name!r}") for c in column_names]
    if not cols:
        raise ValidationError(f"record list {name!r} needs at least one column")
    if len(set(cols)) != len(cols):
        raise ValidationError(f"record list {name!r} has duplicate column names: {cols}")
    return cols


def _record_columns(name: str, record: object) -> list[str]:
    if not isinstance(record, dict):
        raise ValidationError(
            f"a record for list {name!r} must be a dict, got {type(record).__name__}"
        )
    if not record:
        raise ValidationError(f"a record for list {name!r} must have at least one column")
    columns = []
    for key in record:
        if not isinstance(key, str):
            raise ValidationError(f"record list {name!r}: column names must be strings: {key!r}")
        columns.append(keys.check_name(key, f"column name of record list {name!r}"))
    return columns


def check_int(value: object, what: str, minimum: int | None = None) -> int | None:
    """``value`` if it is None or an int (not a bool) >= ``minimum``."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{what} must be an integer or None, got {value!r}")
    checks.index(value, what)
    if minimum is not None and value < minimum:
        raise ValidationError(f"{what} must be >= {minimum}, got {value}")
    return value


def input_spans(input_items: object) -> list[Span]:
    """``input_items`` checked locally: item names and ``[start, end]`` spans."""
    if input_items is None:
        return []
    if not isinstance(input_items, Mapping):
        raise ValidationError(
            "input_items must be a dict of item name -> [start_position, end_position]"
        )
    out = []
    for item, span in input_items.items():
        keys.check_name(item, "input item name")
        out.append((item, *_span(item, span)))
    return out


def _span(item: str, span: object) -> tuple[int, int]:
    if isinstance(span, (str, bytes)) or not isinstance(span, Sequence) or len(span) != 2:
        raise ValidationError(
            f"input_items[{item!r}] must be [start_position, end_position], got {span!r}"
        )
    start = check_int(span[0], f"input_items[{item!r}] start_position", 0)
    end = check_int(span[1], f"input_items[{item!r}] end_position", 0)
    if start is None or end is None or end < start:
        raise ValidationError(
            f"input_items[{item!r}] must be two integers with 0 <= start <= end, got {span!r}"
        )
    return start, end


class RecordsMixin:
    """Record lists, for :class:`VaultClient` (through :class:`ItemsMixin`)."""

    _conn: Connection
    namespace: str

    if TYPE_CHECKING:

        def _item_type(self, name: str) -> str | None: ...

    @property
    def limits(self) -> Limits:
        """Size and nesting limits of records and descriptions (:class:`values.Limits`;
        defaults from the ``TABLEVAULT_MAX_*`` environment variables). Assign a new
        ``Limits`` to change them for this client."""
        current = self.__dict__.get("_limits")
        if current is None:
            current = self.__dict__["_limits"] = Limits.from_env()
        return current

    @limits.setter
    def limits(self, value: Limits) -> None:
        if not isinstance(value, Limits):
            raise ValidationError(f"limits must be a values.Limits, got {value!r}")
        self.__dict__["_limits"] = value

    # -- hooks a Vault overrides --------------------------------------------------

    def _lineage(self) -> Lineage | None:
        """The writing process, its current code item index and run; None for a
        VaultClient, which is no process."""
        return None

    def _record_written(self, list_name: str, text: str) -> None:
        """Called after each successful append (a Vault counts its progress)."""

    # -- writing --------------------------------------------------------------------

    def _remember_columns(self, name: str, columns: list[str]) -> None:
        """Called when a list's columns were read or written (a Vault caches them)."""

    def _inputs(self, spans: list[Span]) -> list[Input]:
        """The input items with their collection, looked up: NotFoundError if unknown."""
        out = []
        for item, start, end in spans:
            kind = self._item_type(item)
            if kind is None:
                raise NotFoundError(
                    f"input item {item!r} is neither a process nor a record list in "
                    f"namespace {self.namespace!r}: nothing was written"
                )
            out.append((f"{kind}_list" if kind == "process" else kind, item, start, end))
        return out

    def _append(self, name: str, cols: list[str], text: str, create: bool, **kw: Any) -> Appended:
        lineage = self._lineage()
        process, code_index = (lineage[0], lineage[1]) if lineage else ("", None)
        with self._conn.translate():
            return scripts.record_append(
                self._conn,
                self.namespace,
                name,
                columns=cols,
                record=text,
                create=create,
                process=process,
                process_index=code_index,
                **kw,
            )

    def _entry_lineage(self, inputs: Sequence[Input | Span]) -> str:
        lineage = self._lineage()
        at = time.time()
        if lineage and not inputs:  # the common case, without json.dumps' overhead
            process, index, run = _json_str(lineage[0]), lineage[1], lineage[2]
            return f'{{"process":{process},"index":{index},"run":{run},"at":{at!r}}}'
        entry: dict[str, Any] = {
            "process": lineage[0] if lineage else "",
            "index": lineage[1] if lineage else None,
            "run": lineage[2] if lineage else None,
            "at": at,
        }
        if inputs:
            entry["inputs"] = {i[-3]: [i[-2], i[-1]] for i in inputs}
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))

    def _refuse_process_name(self, name: str) -> None:
        with self._conn.translate():
            taken = self._conn.client.exists(keys.proc(self.namespace, name))
        if taken:
            raise DuplicateItemError(
                f"cannot create record list {name!r}: a process of that name exists in "
                f"namespace {self.namespace!r}"
            )

    @tag_errors
    def create_record_list(self, name: str, column_names: Sequence[str]) -> None:
        """Create an empty record list with these columns. Creating it again with the
        same columns does nothing; with other columns it is a DuplicateItemError."""
        keys.check_name(name, "record list name")
        cols = _columns(name, column_names)
        self._refuse_process_name(name)
        reply = self._append(name, cols, "", create=True)
        if reply.outcome == "columns":
            raise DuplicateItemError(
                f"record list {name!r} already exists with columns {reply.columns}, not {cols}"
            )
        self._remember_columns(name, cols)

    @tag_errors
    def append_record(
        self,
        name: str,
        record: dict[str, Any],
        input_items: Mapping[str, Sequence[int]] | None = None,
        index: int | None = None,
    ) -> int | None:
        """Append ``record`` to list ``name`` and return its index; the first record
        creates the list with the record's keys as its columns.

        From a :class:`Vault` the write is queued to its writer thread instead, so a
        slow or unreachable Redis never stops the loop: the call returns ``None``
        (``index`` when one was given), and the record is written in order, exactly
        once, when the server answers. A record whose columns differ from the list's
        (known from an earlier read or write), or that breaks a limit or JSON, is
        still refused at once. See ``docs/api.md`` (buffered writes).

        ``input_items`` names what the record was made from (item name ->
        ``[start_position, end_position]``), read back by ``query_item_parent`` and
        ``query_item_child``. ``index`` writes at that position instead: an existing
        record is replaced, ``index`` equal to the length appends. A record whose
        keys are not exactly the list's columns, a value JSON cannot hold, an unknown
        input item or an index past the end raises and writes nothing.
        """
        keys.check_name(name, "record list name")
        check_int(index, "index", 0)
        cols = _record_columns(name, record)
        text = record_text(name, record, self.limits)
        return self._write_record(name, cols, text, input_spans(input_items), index)

    def _write_record(
        self, name: str, cols: list[str], text: str, spans: list[Span], index: int | None
    ) -> int | None:
        """Write a checked record now and return its index (a Vault queues it)."""
        inputs = self._inputs(spans)
        kw = {"lineage": self._entry_lineage(inputs), "index": index, "inputs": inputs}
        reply = self._append(name, cols, text, create=False, **kw)
        if reply.outcome == "missing":
            self._refuse_process_name(name)
            reply = self._append(name, cols, text, create=True, **kw)
        if reply.outcome == "columns":
            raise ValidationError(
                f"record list {name!r} has columns {reply.columns}, not {cols}: nothing was written"
            )
        if reply.outcome == "index":
            raise ValidationError(
                f"index {index} is past the end of record list {name!r} ({reply.length} "
                "records): nothing was written"
            )
        self._remember_columns(name, cols)
        self._record_written(name, text)
        return reply.index

    # -- reading --------------------------------------------------------------------

    def _list_meta(self, name: str) -> dict[str, str]:
        with self._conn.translate():
            meta = self._conn.client.hgetall(keys.record_list_meta(self.namespace, name))
        if not meta:
            raise NotFoundError(f"no record list named {name!r} in namespace {self.namespace!r}")
        return dict(meta)

    @tag_errors
    def get_record_list_columns(self, name: str) -> list[str]:
        """The columns of record list ``name``; NotFoundError if there is none."""
        keys.check_name(name, "record list name")
        columns = list(json.loads(self._list_meta(name)["columns"]))
        self._remember_columns(name, columns)
        return columns

    def _records(self, name: str, start: int, stop: int) -> list[dict[str, Any]]:
        with self._conn.translate():
            raw = self._conn.client.lrange(keys.records(self.namespace, name), start, stop)
        return [json.loads(r) for r in raw]

    def _lineages(self, name: str) -> list[dict[str, Any]]:
        """The lineage entry of every record of ``name`` ({} where none was kept)."""
        with self._conn.translate():
            pipe = self._conn.client.pipeline(transaction=False)
            pipe.llen(keys.records(self.namespace, name))
            pipe.lrange(keys.record_meta(self.namespace, name), 0, -1)
            n, raw = pipe.execute()
        out = [json.loads(r) for r in raw[:n]]
        return out + [{} for _ in range(n - len(out))]

    @tag_errors
    def get_records(self, name: str, process_name: str | None = None) -> list[dict[str, Any]]:
        """Every record of list ``name``, in order; with ``process_name``, only the
        records that process wrote."""
        keys.check_name(name, "record list name")
        self._list_meta(name)
        records = self._records(name, 0, -1)
        if process_name is None:
            return records
        keys.check_name(process_name, "process_name")
        lineages = self._lineages(name)
        mine = [m.get("process") == process_name for m in lineages]
        return [r for r, keep in zip(records, mine, strict=False) if keep]

    def _record_content(
        self, name: str, index: int | None, start: int | None, end: int | None
    ) -> Any:
        if index is not None:
            found = self._records(name, index, index)
            if not found:
                raise NotFoundError(f"record list {name!r} has no record {index}")
            return found[0]
        first = start or 0
        if end is None:
            return self._records(name, first, -1)
        if first >= 0 and end >= 0:
            return self._records(name, first, end - 1) if end > first else []
        return self._records(name, 0, -1)[start:end]
