"""Lineage queries: which process wrote what, and which items were made from which.

Every record carries its lineage in a list parallel to the records (``recmeta``):
the process and code item that wrote it and the ``input_items`` it named. A record
spans the positions ``[index, index + 1)`` of its list; a code item the character
positions ``[start_position, start_position + len(text))`` of its process. Range
filters keep the entries whose span overlaps ``[start_position, end_position)``
(either bound may be None), the same rule as ``query_item_content``. Process ids
are written ``"process_list/<name>"``, as the original's.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import keys
from .connection import Connection
from .errors import NotFoundError, tag_errors
from .models import CodeItem

PROCESS_PREFIX = "process_list/"


def overlaps(start: int, end: int, lo: int | None, hi: int | None) -> bool:
    """Whether the span ``[start, end)`` overlaps the query range ``[lo, hi)``."""
    return (hi is None or start < hi) and (lo is None or end > lo)


def collection_of(kind: str) -> str:
    """The original's collection name of an item type: ``process_list`` or
    ``record_list``."""
    return "process_list" if kind == "process" else kind


def _process_ids(pairs: list[tuple[str, int]]) -> list[dict[str, Any]]:
    seen = sorted(set(pairs))
    return [{"process_id": PROCESS_PREFIX + p, "index": i} for p, i in seen]


class LineageMixin:
    """Lineage queries, for :class:`VaultClient` (through :class:`ItemsMixin`)."""

    _conn: Connection
    namespace: str

    if TYPE_CHECKING:

        def _item_type(self, name: str) -> str | None: ...
        def _require_item(self, item_name: str) -> str: ...
        def _lineages(self, name: str) -> list[dict[str, Any]]: ...
        def _list_meta(self, name: str) -> dict[str, str]: ...
        def get_code_items(self, process_name: str) -> list[CodeItem]: ...

    @tag_errors
    def query_item_creation_process(self, item_name: str) -> list[dict[str, Any]]:
        """The process that created an item: ``[{"process_id", "index"}]``, or ``[]``
        when no process did (a VaultClient, or a process without a parent)."""
        keys.check_name(item_name, "item name")
        if self._require_item(item_name) == "process":
            with self._conn.translate():
                parent, index = self._conn.client.hmget(
                    keys.proc(self.namespace, item_name),
                    "parent_process_name",
                    "parent_process_index",
                )
            return _process_ids([(parent, int(index or 0))]) if parent else []
        meta = self._list_meta(item_name)
        if not meta.get("process"):
            return []
        return _process_ids([(meta["process"], int(meta.get("process_index") or 0))])

    @tag_errors
    def query_item_process(
        self, item_name: str, start_position: int | None = None, end_position: int | None = None
    ) -> list[dict[str, Any]]:
        """The processes (and their code item indexes) that wrote the entries of an
        item in a position range: ``[{"process_id", "index"}, ...]``, distinct, sorted."""
        keys.check_name(item_name, "item name")
        lo, hi = start_position, end_position
        if self._require_item(item_name) == "process":
            return _process_ids(
                [
                    (item_name, c.index)
                    for c in self.get_code_items(item_name)
                    if overlaps(c.start_position, c.start_position + len(c.text), lo, hi)
                ]
            )
        return _process_ids(
            [
                (m["process"], int(m.get("index") or 0))
                for i, m in enumerate(self._lineages(item_name))
                if m.get("process") and overlaps(i, i + 1, lo, hi)
            ]
        )

    @tag_errors
    def query_process_item(self, process_name: str) -> list[dict[str, Any]]:
        """The items a process created or wrote: ``[{"name", "start_position",
        "end_position"}, ...]`` sorted by name. Entries written give the span they
        cover; an item it created (a record list, a child process) has None bounds;
        its own code is listed under its own name."""
        keys.check_name(process_name, "process name")
        ns = self.namespace
        with self._conn.translate():
            pipe = self._conn.client.pipeline(transaction=False)
            pipe.hmget(keys.proc(ns, process_name), "name", "code_length")
            pipe.hgetall(keys.process_writes(ns, process_name))
            pipe.zrange(keys.children(ns, process_name), 0, -1)
            (found, code_length), writes, children = pipe.execute()
        if found is None:
            raise NotFoundError(f"no process named {process_name!r} in namespace {ns!r}")
        rows: list[tuple[str, int | None, int | None]] = [(c, None, None) for c in children]
        if int(code_length or 0):
            rows.append((process_name, 0, int(code_length)))
        for field, value in writes.items():
            kind, _sep, name = field.partition(":")
            if kind == "c":
                rows.append((name, None, None))
            elif kind == "e":
                start, _sep, end = value.partition(":")
                rows.append((name, int(start), int(end)))
        rows = sorted(set(rows), key=lambda r: (r[0], r[1] is not None, r[1] or 0))
        return [{"name": n, "start_position": s, "end_position": e} for n, s, e in rows]

    @tag_errors
    def query_item_parent(
        self, item_name: str, start_position: int | None = None, end_position: int | None = None
    ) -> list[list[Any]]:
        """What an item's entries in a position range were made from, one row per
        input: ``[start, end, input_collection, input_name, input_start, input_end]``."""
        keys.check_name(item_name, "item name")
        if self._require_item(item_name) == "process":
            return []
        kinds: dict[str, str] = {}
        rows = []
        for i, meta in enumerate(self._lineages(item_name)):
            if not meta.get("inputs") or not overlaps(i, i + 1, start_position, end_position):
                continue
            for dep, (dep_start, dep_end) in sorted(meta["inputs"].items()):
                if dep not in kinds:
                    kinds[dep] = collection_of(self._item_type(dep) or "")
                rows.append([i, i + 1, kinds[dep], dep, dep_start, dep_end])
        return rows

    @tag_errors
    def query_item_child(
        self, item_name: str, start_position: int | None = None, end_position: int | None = None
    ) -> list[list[Any]]:
        """The entries made from an item's positions in a range, one row per entry:
        ``[start, end, child_collection, child_name, child_start, child_end]``, where
        ``[start, end)`` is the part of this item the child named."""
        keys.check_name(item_name, "item name")
        self._require_item(item_name)
        with self._conn.translate():
            raw = self._conn.client.lrange(keys.dependents(self.namespace, item_name), 0, -1)
        rows = [json.loads(r) for r in raw]
        return [r for r in rows if overlaps(r[0], r[1], start_position, end_position)]
