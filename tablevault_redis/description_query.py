"""Descriptions found across every item, as the original's ``query_description``
(by words) and ``query_description_embedding`` (by cosine similarity).

Both return the original's rows, ``[description_name, description_text, item_name,
item_type]`` (``item_type`` ``"process_list"`` or ``"record_list"``). Words come from
the description word index; embeddings are ranked exactly, over every stored
description of the query's dimension, as ``description_embedding`` filters are
(:mod:`descriptions`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import keys
from .connection import Connection
from .descriptions import cosine_ranking, embedding_values
from .errors import ValidationError, tag_errors
from .query import _query_words
from .records import check_int


def _k(k: object) -> int:
    value = check_int(k, "k", 0)
    if value is None:
        raise ValidationError("k must be an integer >= 0, got None")
    return value


class DescriptionQueryMixin:
    """``query_description`` and ``query_description_embedding``, for
    :class:`VaultClient` (through :class:`ItemsMixin`)."""

    _conn: Connection
    namespace: str

    if TYPE_CHECKING:

        def _sinter(self, index_keys: list[str]) -> set[str]: ...

    @tag_errors
    def query_description(
        self, description_text: str, k: int = 500, text_analyzer: str = "text_en"
    ) -> list[list[str]]:
        """Descriptions (of any item) containing every word of ``description_text``,
        at most ``k``, by item and description name: ``[[description_name,
        description_text, item_name, item_type], ...]``. ``text_analyzer`` is
        accepted for the original's calls; words are split as in every text query."""
        limit = _k(k)
        if not isinstance(text_analyzer, str):
            raise ValidationError(f"text_analyzer must be a string, got {text_analyzer!r}")
        query = _query_words(description_text, "description_text")
        if query is None:
            return []
        members = self._sinter([keys.description_word(self.namespace, w) for w in query])
        pairs = sorted(tuple(m.partition("\x1f")[::2]) for m in members)
        return self._description_rows([(item, dname) for item, dname in pairs])[:limit]

    @tag_errors
    def query_description_embedding(
        self, embedding: Sequence[float], k: int = 500, use_approx: bool = False
    ) -> list[list[str]]:
        """The ``k`` descriptions (of any item) whose embeddings are most cosine-similar
        to ``embedding``, best first: ``[[description_name, description_text,
        item_name, item_type], ...]``. Exact always (``use_approx`` is accepted for the
        original's calls); descriptions of another dimension are left out."""
        limit = _k(k)
        query = embedding_values(embedding)
        if not query:
            raise ValidationError("embedding must be a non-empty list of numbers")
        candidates = []
        for item, descs in self._all_descriptions().items():
            for dname, raw in descs.items():
                vec = json.loads(raw).get("embedding")
                if vec:
                    candidates.append(((item, dname), vec))
        ranked = cosine_ranking(query, candidates, limit)
        return self._description_rows([pair for _score, pair in ranked])

    def _all_descriptions(self) -> dict[str, dict[str, str]]:
        """Every process's and record list's descriptions (raw JSON), by item."""
        ns = self.namespace
        with self._conn.translate():
            pipe = self._conn.client.pipeline(transaction=False)
            pipe.zrange(keys.processes(ns), 0, -1)
            pipe.zrange(keys.record_lists(ns), 0, -1)
            procs, lists = pipe.execute()
            items = sorted(set(procs) | set(lists))
            pipe = self._conn.client.pipeline(transaction=False)
            for item in items:
                pipe.hgetall(keys.descriptions(ns, item))
            replies = pipe.execute() if items else []
        return {item: d for item, d in zip(items, replies, strict=True) if d}

    def _description_rows(self, pairs: list[tuple[str, str]]) -> list[list[str]]:
        """``[name, text, item, item_type]`` per (item, description name), in order;
        a description or item gone since it was found is left out."""
        if not pairs:
            return []
        ns = self.namespace
        with self._conn.translate():
            pipe = self._conn.client.pipeline(transaction=False)
            for item, dname in pairs:
                pipe.hget(keys.descriptions(ns, item), dname)
                pipe.exists(keys.record_list_meta(ns, item))
                pipe.exists(keys.proc(ns, item))
            replies = pipe.execute()
        rows = []
        for n, (item, dname) in enumerate(pairs):
            raw, is_list, is_proc = replies[3 * n : 3 * n + 3]
            if raw is None or not (is_list or is_proc):
                continue
            text: Any = json.loads(raw).get("text", "")
            rows.append([dname, text, item, "record_list" if is_list else "process_list"])
        return rows
