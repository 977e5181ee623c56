"""``query_record_list``: find records by their text, their lists' descriptions and
the code that wrote them.

Record text is matched by reading the candidate lists (their records are not word
indexed: a record's words would cost an index write per word on every append), so a
query costs the records of the lists it looks at; ``filtered`` and the description
filters narrow those lists first. Code text is matched through the code word index
and each record's lineage (the process and code item that wrote it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from . import keys
from .connection import Connection
from .errors import tag_errors
from .query import Hit, _allowed, _query_words
from .text import words


class RecordMatch(NamedTuple):
    """One matching record; unpacks as the original's
    ``[name, index, start_position, matched_descriptions, matched_processes]``
    (``start_position`` equals ``index``: each record spans one position)."""

    name: str
    index: int  # type: ignore[assignment]  # the original's name; shadows tuple.index
    start_position: int
    matched_descriptions: list[str]
    matched_processes: list[list[Any]]

    def to_dict(self) -> dict[str, Any]:
        """The match as a JSON-ready dict."""
        return self._asdict()


class RecordQueryMixin:
    """``query_record_list``, for :class:`VaultClient` (through :class:`ItemsMixin`)."""

    _conn: Connection
    namespace: str

    if TYPE_CHECKING:

        def _names(self, index_key: str, allowed: set[str] | None) -> list[str]: ...
        def _described(
            self, items: list[str], desc_q: list[str] | None, embedding: object
        ) -> tuple[dict[str, list[str]], dict[str, float]]: ...
        def _code_hits(self, query: list[str]) -> list[Hit]: ...
        def _lineages(self, name: str) -> list[dict[str, Any]]: ...

    @tag_errors
    def query_record_list(
        self,
        record_text: str | None = None,
        description_embedding: Sequence[float] | None = None,
        description_text: str | None = None,
        code_text: str | None = None,
        filtered: Iterable[str] | None = None,
    ) -> list[RecordMatch]:
        """Records matching every given filter, sorted by list name and index (by
        the list's description similarity first when ``description_embedding`` is
        given).

        ``record_text``: every word occurs in the record's JSON text.
        ``description_text``/``description_embedding``: the list has a description
        matching by words or among the 500 most similar embeddings
        (``matched_descriptions``). ``code_text``: the code item that wrote the
        record has every word (``matched_processes`` is ``[[process, index]]``).
        ``filtered``: only these lists (``[]`` or None: all). Text filters follow
        :meth:`query_process_list`'s rules.
        """
        record_q = _query_words(record_text, "record_text")
        code_q = _query_words(code_text, "code_text")
        desc_q = _query_words(description_text, "description_text")
        lists = self._names(keys.record_lists(self.namespace), _allowed(filtered, "list name"))
        described: dict[str, list[str]] = {}
        scores: dict[str, float] = {}
        if desc_q is not None or description_embedding is not None:
            described, scores = self._described(lists, desc_q, description_embedding)
            lists = [n for n in lists if n in described]
        writers = None
        if code_q is not None:
            writers = {(h[0], h[1]) for h in self._code_hits(code_q)}
        out = []
        for name, texts in zip(lists, self._record_texts(lists, record_q is not None), strict=True):
            for index, processes in self._matching_records(name, texts, record_q, writers):
                out.append(RecordMatch(name, index, index, described.get(name, []), processes))
        out.sort(key=lambda m: (-scores.get(m.name, 0.0), m.name, m.index))
        return out

    def _record_texts(self, lists: list[str], read: bool) -> list[list[str | None]]:
        """Per list, its records' JSON texts (``read``), or as many Nones: one round
        trip for all the lists."""
        if not lists:
            return []
        with self._conn.translate():
            pipe = self._conn.client.pipeline(transaction=False)
            for name in lists:
                if read:
                    pipe.lrange(keys.records(self.namespace, name), 0, -1)
                else:
                    pipe.llen(keys.records(self.namespace, name))
            replies = pipe.execute()
        return [list(r) if read else [None] * int(r) for r in replies]

    def _matching_records(
        self,
        name: str,
        texts: list[str | None],
        record_q: list[str] | None,
        writers: set[tuple[str, int]] | None,
    ) -> list[tuple[int, list[list[Any]]]]:
        """(index, matched processes) of the records of ``name`` that pass."""
        lineages = self._lineages(name) if writers is not None else []
        out: list[tuple[int, list[list[Any]]]] = []
        for i, text in enumerate(texts):
            if record_q is not None and text is not None and not set(record_q) <= set(words(text)):
                continue
            if writers is None:
                out.append((i, []))
                continue
            meta = lineages[i] if i < len(lineages) else {}
            writer = (meta.get("process") or "", meta.get("index"))
            if writer in writers:
                out.append((i, [list(writer)]))
        return out
