"""Descriptions of processes and record lists, and ranking them by embedding.

A description is JSON in a hash per item (``desc:<item>``), with its words indexed
for ``description_text`` queries. ``description_embedding`` queries rank every
stored embedding of the same dimension by exact cosine similarity: no vector index
to build or keep in step, at a cost linear in the number of descriptions (see
``benchmarks/bench_embeddings.py`` for the figures), in pure Python: numpy is not
needed (building its arrays from the stored lists cost more than it saved).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from operator import mul
from typing import TYPE_CHECKING, Any

from . import keys, scripts
from .connection import Connection
from .errors import ValidationError, tag_errors
from .records import Lineage
from .text import words
from .values import Limits, check_description_size

_DESCRIBE_RETRIES = 20
DESCRIPTION_TOP_K = 500  # descriptions an embedding query keeps, as the original's k


def embedding_values(embedding: object, what: str = "embedding") -> list[float] | None:
    """``embedding`` as a list of finite floats (None stays None)."""
    if embedding is None:
        return None
    tolist = getattr(embedding, "tolist", None)
    if callable(tolist) and not isinstance(embedding, (list, tuple)):
        embedding = tolist()  # numpy arrays, tensors
    if isinstance(embedding, (str, bytes)) or not hasattr(embedding, "__iter__"):
        raise ValidationError(f"{what} must be a sequence of numbers or None")
    out = []
    for x in embedding:
        if isinstance(x, bool):
            raise ValidationError(f"{what} values must be numbers, got {x!r}")
        try:
            value = float(x)
        except (TypeError, ValueError):
            raise ValidationError(f"{what} values must be numbers, got {x!r}") from None
        if not math.isfinite(value):
            raise ValidationError(f"{what} values must be finite, got {x!r}")
        out.append(value)
    return out


def cosine_ranking(
    query: Sequence[float], candidates: Iterable[tuple[Any, Sequence[float]]], k: int
) -> list[tuple[float, Any]]:
    """The ``k`` candidates most similar to ``query``, best first, as (similarity,
    key). Candidates of another dimension, and zero vectors, have no similarity and
    are left out."""
    qnorm = math.hypot(*query)
    if qnorm == 0:
        raise ValidationError("description_embedding must not be all zeros")
    same = [(key, vec) for key, vec in candidates if len(vec) == len(query)]
    if not same:
        return []
    # Pure Python: the embeddings arrive as lists, and building a numpy array from
    # them costs more than this loop (benchmarks/bench_embeddings.py).
    scored = []
    for key, vec in same:
        norm = math.hypot(*vec)
        if norm:
            scored.append((sum(map(mul, query, vec)) / (qnorm * norm), key))
    scored.sort(key=lambda pair: -pair[0])
    return scored[:k]


class DescriptionsMixin:
    """Descriptions, for :class:`VaultClient` (through :class:`ItemsMixin`)."""

    _conn: Connection
    namespace: str

    if TYPE_CHECKING:

        def _lineage(self) -> Lineage | None: ...
        def _require_item(self, item_name: str) -> str: ...
        @property
        def limits(self) -> Limits: ...

    @tag_errors
    def create_description(
        self,
        item_name: str,
        description: str,
        embedding: Sequence[float] | None = None,
        description_name: str = "BASE",
    ) -> None:
        """Attach (or replace) description ``description_name`` of a process or a
        record list; ``query_process_list(description_text=...)`` finds a process by
        its descriptions' words, ``description_embedding=...`` by its ``embedding``
        (stored as a JSON list of floats). A Vault records itself as the writer, and
        queues the write to its writer thread like its records (``append_record``).
        A description whose JSON is past ``limits.max_description_bytes`` is refused."""
        keys.check_name(item_name, "item name")
        keys.check_name(description_name, "description name")
        if not isinstance(description, str):
            raise ValidationError(
                f"description of {item_name!r} must be a string, got {type(description).__name__}"
            )
        vector = embedding_values(embedding)
        lineage = self._lineage()
        new = json.dumps(
            {
                "text": description,
                "embedding": vector,
                "created_at": time.time(),
                "process": lineage[0] if lineage else "",
                "process_index": lineage[1] if lineage else None,
            },
            ensure_ascii=False,
        )
        check_description_size(item_name, new, self.limits)
        self._store_description(item_name, description_name, new, words(description))

    def _store_description(self, item: str, dname: str, new: str, new_words: list[str]) -> None:
        """Write a checked description now (a Vault queues it)."""
        self._require_item(item)
        self._write_description(item, dname, new, new_words)

    def _write_description(self, item: str, dname: str, new: str, new_words: list[str]) -> None:
        desc_key = keys.descriptions(self.namespace, item)
        for _attempt in range(_DESCRIBE_RETRIES):
            with self._conn.translate():
                old = self._conn.client.hget(desc_key, dname) or ""
                old_words = words(json.loads(old).get("text", "")) if old else []
                done = scripts.describe(
                    self._conn,
                    self.namespace,
                    item,
                    description_name=dname,
                    current=old,
                    new=new,
                    old_words=old_words,
                    new_words=new_words,
                )
            if done:
                return
        raise ValidationError(
            f"description {dname!r} of {item!r} kept changing while it was written; try again"
        )

    @tag_errors
    def get_descriptions(self, item_name: str) -> dict[str, dict[str, Any]]:
        """The descriptions of an item: name -> ``{"text", "embedding", "created_at",
        "process", "process_index"}``."""
        keys.check_name(item_name, "item name")
        with self._conn.translate():
            raw = self._conn.client.hgetall(keys.descriptions(self.namespace, item_name))
        return {k: json.loads(v) for k, v in sorted(raw.items())}

    @tag_errors
    def query_item_description(self, item_name: str) -> list[list[str]]:
        """The descriptions of an item as ``[[description_name, description_text],
        ...]``, sorted by name; NotFoundError for an unknown item."""
        keys.check_name(item_name, "item name")
        self._require_item(item_name)
        return [[name, d.get("text", "")] for name, d in self.get_descriptions(item_name).items()]

    def _embedding_matches(
        self, description_embedding: object, item_names: Sequence[str]
    ) -> dict[str, dict[str, float]]:
        """Item -> {description name: similarity} for the descriptions of
        ``item_names`` among the :data:`DESCRIPTION_TOP_K` most similar."""
        query = embedding_values(description_embedding, "description_embedding")
        if not query:
            raise ValidationError("description_embedding must be a non-empty list of numbers")
        with self._conn.translate():
            pipe = self._conn.client.pipeline(transaction=False)
            for item in item_names:
                pipe.hgetall(keys.descriptions(self.namespace, item))
            replies = pipe.execute() if item_names else []
        candidates = []
        for item, descs in zip(item_names, replies, strict=True):
            for dname, raw in descs.items():
                vec = json.loads(raw).get("embedding")
                if vec:
                    candidates.append(((item, dname), vec))
        out: dict[str, dict[str, float]] = {}
        for score, (item, dname) in cosine_ranking(query, candidates, DESCRIPTION_TOP_K):
            out.setdefault(item, {})[dname] = score
        return out
