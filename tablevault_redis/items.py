"""Items: processes and record lists, by name, type, metadata and content.

The readers here return the original TableVault's shapes: ``query_item_list`` a
metadata dict, ``query_item_content`` a process's code items as dicts (``text``,
``status``, ``error``, ``start_position``, ``index``) or a list's records. Richer
typed views live under their own names (``get_code_items``, ``get_records``,
``get_process``). Writing record lists is in :mod:`records`, descriptions in
:mod:`descriptions`, lineage queries in :mod:`lineage`. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import keys
from .connection import Connection
from .description_query import DescriptionQueryMixin
from .descriptions import DescriptionsMixin
from .errors import NotFoundError, ValidationError, tag_errors
from .lineage import LineageMixin, collection_of, overlaps
from .models import CodeItem, ProcessInfo
from .record_query import RecordQueryMixin
from .records import RecordsMixin, check_int

# The original's type names first; ours ("process") stay accepted as aliases.
ITEM_TYPES = ("process_list", "record_list", "process")
# The original's other list types: no such items exist here, so none are named.
ABSENT_TYPES = ("file_list", "document_list", "embedding_list")

# Code item status, in the original's words: "start" while it runs, "complete" when
# it ended normally, "failed" with the error; ours for a stop ("stopped") and for a
# process that died while the item ran ("crashed").
CODE_STATUS = {"open": "start", "completed": "complete"}

# The original's process fields, read from the process record.
_PROCESS_FIELDS = ("pid", "execution_type", "user_id", "interrupt_request", "interrupt_action")


def code_item_dict(item: CodeItem) -> dict[str, Any]:
    """A code item in the original's shape."""
    return {
        "text": item.text,
        "status": CODE_STATUS.get(item.status, item.status),
        "error": item.error,
        "start_position": item.start_position,
        "index": item.index,
    }


class ItemsMixin(
    RecordsMixin, DescriptionsMixin, DescriptionQueryMixin, LineageMixin, RecordQueryMixin
):
    """Items by name: their type, names, metadata and content, for :class:`VaultClient`."""

    _conn: Connection
    namespace: str

    if TYPE_CHECKING:

        def get_code_items(self, process_name: str) -> list[CodeItem]: ...

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

    def _require_item(self, item_name: str) -> str:
        kind = self._item_type(item_name)
        if kind is None:
            raise NotFoundError(
                f"no process or record list named {item_name!r} in namespace {self.namespace!r}"
            )
        return kind

    @tag_errors
    def query_item_type(self, item_name: str) -> str | None:
        """``"process_list"`` or ``"record_list"``, as the original; None if there is
        no item of that name."""
        keys.check_name(item_name, "item name")
        kind = self._item_type(item_name)
        return None if kind is None else collection_of(kind)

    @tag_errors
    def query_item_names(self, item_type: str | None = None) -> list[str]:
        """Names of the items of ``item_type`` (``"process_list"`` or ``"process"``,
        ``"record_list"``, or None for both), sorted; ``[]`` for the original's
        ``"file_list"``, ``"document_list"`` and ``"embedding_list"``."""
        if item_type in ABSENT_TYPES:
            return []
        if item_type is not None and item_type not in ITEM_TYPES:
            raise ValidationError(
                f"item_type must be one of {ITEM_TYPES + ABSENT_TYPES} or None: {item_type!r}"
            )
        ns = self.namespace
        names: set[str] = set()
        with self._conn.translate():
            if item_type in (None, "process", "process_list"):
                names.update(self._conn.client.zrange(keys.processes(ns), 0, -1))
            if item_type in (None, "record_list"):
                names.update(self._conn.client.zrange(keys.record_lists(ns), 0, -1))
        return sorted(names)

    @tag_errors
    def query_item_list(self, item_name: str) -> dict[str, Any]:
        """The metadata of an item, as the original's: ``name``, ``n_items`` (code
        items or records), ``length`` (characters of code, or records), ``deleted``
        (-1: items are never deleted), ``process_name``/``process_index`` (who created
        it; "" and 0 when no process did); for a record list ``column_names``; for a
        process ``pid``, ``execution_type``, ``creator_user_id``,
        ``interrupt_request``, ``interrupt_action`` and ``status``."""
        keys.check_name(item_name, "item name")
        if self._require_item(item_name) == "process":
            return self._process_meta(item_name)
        meta = self._list_meta(item_name)
        with self._conn.translate():
            n = int(self._conn.client.llen(keys.records(self.namespace, item_name)))
        return {
            "name": item_name,
            "n_items": n,
            "length": n,
            "deleted": -1,
            "column_names": json.loads(meta["columns"]),
            "process_name": meta.get("process", ""),
            "process_index": int(meta.get("process_index") or 0),
            "created_at": float(meta.get("created_at") or 0),
        }

    def _process_meta(self, name: str) -> dict[str, Any]:
        with self._conn.translate():
            rec = self._conn.client.hgetall(keys.proc(self.namespace, name))
            alive = self._conn.client.exists(keys.alive(self.namespace, name))
        info = ProcessInfo.from_record(rec, bool(alive))
        fields = {f: rec.get(f, "") for f in _PROCESS_FIELDS}
        return {
            "name": name,
            "n_items": int(rec.get("code_count") or 0),
            "length": int(rec.get("code_length") or 0),
            "deleted": -1,
            "process_name": rec.get("parent_process_name", ""),
            "process_index": int(rec.get("parent_process_index") or 0),
            "pid": int(fields["pid"] or 0),
            "execution_type": fields["execution_type"],
            "creator_user_id": fields["user_id"],
            "interrupt_request": fields["interrupt_request"],
            "interrupt_action": fields["interrupt_action"],
            "status": info.status,
        }

    @tag_errors
    def query_item_content(
        self,
        item_name: str,
        index: int | None = None,
        start_position: int | None = None,
        end_position: int | None = None,
        process_name: str | None = None,
    ) -> Any:
        """The content of an item, in the original's shapes.

        For a process: code item ``index`` as ``{"text", "status", "error",
        "start_position", "index"}`` (status ``start``, ``complete``, ``failed``,
        ``stopped`` or ``crashed``), or without ``index`` the list of those whose
        characters overlap ``[start_position, end_position)``, by position. For a
        record list: record ``index`` (a dict), or the records from
        ``start_position`` up to (not including) ``end_position`` (negative
        positions count from the end, as in Python slices). ``process_name`` keeps
        only the records that process wrote.
        """
        keys.check_name(item_name, "item name")
        check_int(index, "index")
        check_int(start_position, "start_position")
        check_int(end_position, "end_position")
        kind = self._require_item(item_name)
        if process_name is not None:
            if kind == "process" or index is not None:
                raise ValidationError(
                    "process_name applies to a record list's range of records, not to "
                    f"{'a process' if kind == 'process' else 'one index'}"
                )
            return self.get_records(item_name, process_name)[start_position:end_position]
        if kind == "record_list":
            return self._record_content(item_name, index, start_position, end_position)
        items = self.get_code_items(item_name)
        if index is not None:
            # Negative indexes count from the end, as for record lists.
            wanted = index + len(items) if index < 0 else index
            for item in items:
                if item.index == wanted:
                    return code_item_dict(item)
            raise NotFoundError(f"process {item_name!r} has no code item {index}")
        return [
            code_item_dict(c)
            for c in sorted(items, key=lambda c: c.start_position)
            if overlaps(
                c.start_position, c.start_position + len(c.text), start_position, end_position
            )  # fmt: skip
        ]
