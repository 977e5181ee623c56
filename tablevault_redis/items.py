"""Record lists and descriptions: the items the reference examples write.

A record list is a Redis list of JSON objects, appended by one Lua script that
checks the record's columns and (on first use) creates the list in the same atomic
step, so appends from many processes all land, in one total order that every
reader sees. Descriptions are JSON in a hash per item, with their words indexed for
``query_process_list(description_text=...)``. Nothing here is ever unpickled.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import keys, scripts
from .connection import Connection
from .errors import DuplicateItemError, NotFoundError, ValidationError
from .models import CodeItem
from .query import words
from .replies import Appended

ITEM_TYPES = ("process", "record_list")
_DESCRIBE_RETRIES = 20


def _record_json(name: str, record: object) -> tuple[list[str], str]:
    """The record's columns and its JSON text; ValidationError for anything JSON
    cannot hold exactly (NaN, infinities, non-string keys, objects)."""
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
    _check_json_value(name, record, "record")
    try:
        text = json.dumps(record, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        text.encode("utf-8")
    except (TypeError, ValueError) as e:  # UnicodeEncodeError is a ValueError
        raise ValidationError(f"record for list {name!r} is not JSON-serialisable: {e}") from None
    return columns, text


def _check_json_value(name: str, value: object, where: str) -> None:
    """Refuse what json.dumps would change on the way: non-string keys (``{1: 2}``
    comes back as ``{"1": 2}``) and tuples (come back as lists), at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(
                    f"record for list {name!r}: {where} has a non-string key {key!r}; JSON "
                    "keys are strings"
                )
            _check_json_value(name, item, f"{where}[{key!r}]")
    elif isinstance(value, tuple):
        raise ValidationError(
            f"record for list {name!r}: {where} is a tuple; use a list (JSON has no tuples)"
        )
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json_value(name, item, f"{where}[{i}]")


def _columns(name: str, column_names: object) -> list[str]:
    if isinstance(column_names, (str, bytes)) or not isinstance(column_names, Sequence):
        raise ValidationError(f"column_names of {name!r} must be a list of strings")
    cols = [keys.check_name(c, f"column name of record list {name!r}") for c in column_names]
    if not cols:
        raise ValidationError(f"record list {name!r} needs at least one column")
    if len(set(cols)) != len(cols):
        raise ValidationError(f"record list {name!r} has duplicate column names: {cols}")
    return cols


def _embedding(embedding: object) -> list[float] | None:
    if embedding is None:
        return None
    if isinstance(embedding, (str, bytes)) or not hasattr(embedding, "__iter__"):
        raise ValidationError("embedding must be a sequence of numbers or None")
    out = []
    for x in embedding:
        if isinstance(x, bool):
            raise ValidationError(f"embedding values must be numbers, got {x!r}")
        try:
            value = float(x)
        except (TypeError, ValueError):
            raise ValidationError(f"embedding values must be numbers, got {x!r}") from None
        if not math.isfinite(value):
            raise ValidationError(f"embedding values must be finite, got {x!r}")
        out.append(value)
    return out


class ItemsMixin:
    """Record lists, descriptions and reading items back, for :class:`VaultClient`."""

    _conn: Connection
    namespace: str

    if TYPE_CHECKING:

        def get_code_items(self, process_name: str) -> list[CodeItem]: ...

    # -- record lists --------------------------------------------------------------

    def _append(self, name: str, cols: list[str], record: str, create: bool) -> Appended:
        with self._conn.translate():
            return scripts.record_append(
                self._conn, self.namespace, name, columns=cols, record=record, create=create
            )

    def _refuse_process_name(self, name: str) -> None:
        with self._conn.translate():
            taken = self._conn.client.exists(keys.proc(self.namespace, name))
        if taken:
            raise DuplicateItemError(
                f"cannot create record list {name!r}: a process of that name exists in "
                f"namespace {self.namespace!r}"
            )

    def _check_reply(self, name: str, cols: list[str], reply: Appended) -> int:
        if reply.outcome == "columns":
            raise ValidationError(
                f"record list {name!r} has columns {reply.columns}, not {cols}: nothing was written"
            )
        return reply.index

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

    def append_record(self, name: str, record: dict[str, Any]) -> int:
        """Append ``record`` to list ``name`` and return its index; the first record
        creates the list with the record's keys as its columns. A record whose keys
        are not exactly the list's columns, or that JSON cannot hold, raises
        ValidationError and writes nothing."""
        keys.check_name(name, "record list name")
        cols, text = _record_json(name, record)
        reply = self._append(name, cols, text, create=False)
        if reply.outcome == "missing":
            self._refuse_process_name(name)
            reply = self._append(name, cols, text, create=True)
        return self._check_reply(name, cols, reply)

    def get_record_list_columns(self, name: str) -> list[str]:
        """The columns of record list ``name``; NotFoundError if there is none."""
        keys.check_name(name, "record list name")
        with self._conn.translate():
            raw = self._conn.client.hget(keys.record_list_meta(self.namespace, name), "columns")
        if raw is None:
            raise NotFoundError(f"no record list named {name!r} in namespace {self.namespace!r}")
        return list(json.loads(raw))

    def _records(self, name: str, start: int, stop: int) -> list[dict[str, Any]]:
        with self._conn.translate():
            raw = self._conn.client.lrange(keys.records(self.namespace, name), start, stop)
        return [json.loads(r) for r in raw]

    # -- descriptions ----------------------------------------------------------------

    def _item_type(self, name: str) -> str | None:
        ns = self.namespace
        with self._conn.translate():
            pipe = self._conn.client.pipeline(transaction=False)
            pipe.exists(keys.record_list_meta(ns, name))
            pipe.exists(keys.proc(ns, name))
            is_list, is_proc = pipe.execute()
        if is_list:
            return "record_list"
        if is_proc:
            return "process"
        return None

    def create_description(
        self,
        item_name: str,
        description: str,
        embedding: Sequence[float] | None = None,
        description_name: str = "BASE",
    ) -> None:
        """Attach (or replace) description ``description_name`` of a process or a
        record list; ``query_process_list(description_text=...)`` finds a process by
        its descriptions' words. ``embedding`` is stored as a JSON list of floats."""
        keys.check_name(item_name, "item name")
        keys.check_name(description_name, "description name")
        if not isinstance(description, str):
            raise ValidationError(
                f"description of {item_name!r} must be a string, got {type(description).__name__}"
            )
        vector = _embedding(embedding)
        if self._item_type(item_name) is None:
            raise NotFoundError(
                f"no process or record list named {item_name!r} in namespace {self.namespace!r}"
            )
        ns = self.namespace
        desc_key = keys.descriptions(ns, item_name)
        new = json.dumps(
            {"text": description, "embedding": vector, "created_at": time.time()},
            ensure_ascii=False,
        )
        new_words = words(description)
        for _attempt in range(_DESCRIBE_RETRIES):
            with self._conn.translate():
                old = self._conn.client.hget(desc_key, description_name) or ""
                old_words = words(json.loads(old).get("text", "")) if old else []
                done = scripts.describe(
                    self._conn,
                    ns,
                    item_name,
                    description_name=description_name,
                    current=old,
                    new=new,
                    old_words=old_words,
                    new_words=new_words,
                )
            if done:
                return
        raise ValidationError(
            f"description {description_name!r} of {item_name!r} kept changing while it "
            "was written; try again"
        )

    def get_descriptions(self, item_name: str) -> dict[str, dict[str, Any]]:
        """The descriptions of an item: name -> ``{"text", "embedding", "created_at"}``."""
        keys.check_name(item_name, "item name")
        with self._conn.translate():
            raw = self._conn.client.hgetall(keys.descriptions(self.namespace, item_name))
        return {k: json.loads(v) for k, v in sorted(raw.items())}

    # -- reading back ----------------------------------------------------------------

    def query_item_content(
        self,
        item_name: str,
        index: int | None = None,
        start_position: int | None = None,
        end_position: int | None = None,
    ) -> Any:
        """The content of an item.

        For a process: the text of code item ``index``, or all its code sliced by
        ``start_position``/``end_position`` (character positions). For a record
        list: record ``index`` (a dict), or the records from ``start_position`` up to
        (not including) ``end_position`` as a list of dicts (negative positions count
        from the end, as in Python slices).
        """
        keys.check_name(item_name, "item name")
        for value, what in ((index, "index"), (start_position, "start_position"),
                            (end_position, "end_position")):  # fmt: skip
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ValidationError(f"{what} must be an integer or None, got {value!r}")
        kind = self._item_type(item_name)
        if kind is None:
            raise NotFoundError(
                f"no process or record list named {item_name!r} in namespace {self.namespace!r}"
            )
        if kind == "process":
            items = self.get_code_items(item_name)
            if index is not None:
                # Negative indexes count from the end, as for record lists.
                wanted = index + len(items) if index < 0 else index
                for item in items:
                    if item.index == wanted:
                        return item.text
                raise NotFoundError(f"process {item_name!r} has no code item {index}")
            return "".join(item.text for item in items)[start_position:end_position]
        if index is not None:
            found = self._records(item_name, index, index)
            if not found:
                raise NotFoundError(f"record list {item_name!r} has no record {index}")
            return found[0]
        start = start_position or 0
        if end_position is None:
            return self._records(item_name, start, -1)
        if start >= 0 and end_position >= 0:
            return self._records(item_name, start, end_position - 1) if end_position > start else []
        return self._records(item_name, 0, -1)[start_position:end_position]

    def query_item_list(self, item_name: str) -> list[Any]:
        """The items inside an item: a process's code items (``CodeItem``, by index)
        or a record list's records (dicts, in order)."""
        keys.check_name(item_name, "item name")
        kind = self._item_type(item_name)
        if kind == "process":
            return list(self.get_code_items(item_name))
        if kind == "record_list":
            return self._records(item_name, 0, -1)
        raise NotFoundError(
            f"no process or record list named {item_name!r} in namespace {self.namespace!r}"
        )

    def query_item_names(self, item_type: str | None = None) -> list[str]:
        """Names of the items of ``item_type`` (``"process"``, ``"record_list"``, or
        None for both), sorted."""
        if item_type is not None and item_type not in ITEM_TYPES:
            raise ValidationError(f"item_type must be one of {ITEM_TYPES} or None: {item_type!r}")
        ns = self.namespace
        names: set[str] = set()
        with self._conn.translate():
            if item_type in (None, "process"):
                names.update(self._conn.client.zrange(keys.processes(ns), 0, -1))
            if item_type in (None, "record_list"):
                names.update(self._conn.client.zrange(keys.record_lists(ns), 0, -1))
        return sorted(names)
