"""``query_process_list``: find code items by their words, their parent's code and
their descriptions, through word indexes kept by the writes.

Each code item's words are added to ``cword:<word>`` sets when it opens (with its
operation, in one atomic step); each description's to ``dword:<word>`` sets when it
is written. A text filter is then one ``SINTER`` over the sets of its words, so a
query costs what it matches, not the number of processes on the server. All index
sets share the namespace's hash tag, so ``SINTER`` works on Redis Cluster too.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from . import keys
from .connection import Connection
from .errors import ValidationError
from .models import fold_code_events
from .text import words


class ProcessMatch(NamedTuple):
    """One matching code item; unpacks as the original's
    ``[name, index, start_position, matched_descriptions, matched_processes]``."""

    name: str
    index: int  # type: ignore[assignment]  # the original's name; shadows tuple.index
    start_position: int
    matched_descriptions: list[str]
    matched_processes: list[list[Any]]

    def to_dict(self) -> dict[str, Any]:
        """The match as a JSON-ready dict."""
        return self._asdict()


def _query_words(text: str | None, what: str) -> list[str] | None:
    if text is None or text == "":  # the original's "no filter"
        return None
    if not isinstance(text, str):
        raise ValidationError(f"{what} must be a string, got {type(text).__name__}")
    found = words(text)
    if not found:
        raise ValidationError(f"{what} {text!r} has no words to search for")
    return found


def _allowed(filtered: Iterable[str] | None, what: str) -> set[str] | None:
    """The names ``filtered`` keeps, or None for no restriction (None or empty)."""
    if filtered is None:
        return None
    if isinstance(filtered, str):
        raise ValidationError("filtered must be a list of names, not a string")
    allowed = {keys.check_name(n, what) for n in filtered}
    return allowed or None


class Hit(NamedTuple):
    """One code item found in the index: its process, index, start position and run."""

    name: str
    index: int  # type: ignore[assignment]  # the item's index; shadows tuple.index
    start_position: int
    run: int


def _split_code_member(member: str) -> Hit | None:
    parts = member.split("\x1f")
    if len(parts) != 4:
        return None
    try:
        return Hit(parts[0], int(parts[1]), int(parts[2]), int(parts[3]))
    except ValueError:
        return None


def _parent_links(current: list[Any], snapshots: list[str]) -> list[tuple[Any, Any, Any]]:
    """(run, parent name, parent index) of the current run and of each snapshot."""
    links = [tuple(current)]
    for raw in snapshots:
        try:
            snap = json.loads(raw)
            links.append(
                (snap.get("run"), snap.get("parent_process_name"), snap.get("parent_process_index"))
            )
        except (ValueError, AttributeError):
            continue
    return links


class QueryMixin:
    """``query_process_list`` for :class:`VaultClient`."""

    _conn: Connection
    namespace: str

    def _sinter(self, index_keys: list[str]) -> set[str]:
        with self._conn.translate():
            if len(index_keys) == 1:
                return set(self._conn.client.smembers(index_keys[0]))
            return set(self._conn.client.sinter(index_keys))

    def _code_hits(self, query: list[str]) -> list[Hit]:
        members = self._sinter([keys.code_word(self.namespace, w) for w in query])
        return [hit for m in members if (hit := _split_code_member(m)) is not None]

    def query_process_list(
        self,
        code_text: str | None = None,
        parent_code_text: str | None = None,
        description_embedding: Sequence[float] | None = None,
        description_text: str | None = None,
        filtered: Iterable[str] | None = None,
    ) -> list[ProcessMatch]:
        """Code items matching every filter, by process name and index (by similarity
        first with ``description_embedding``).

        Text filters match when every word occurs (case-insensitive ``\\w+``
        tokens; ``""`` is no filter): ``code_text`` in the code item,
        ``parent_code_text`` in the parent's code item that spawned its process
        (``matched_processes``: ``[parent, index]``). A description matches
        ``description_text`` by its words or ``description_embedding`` by being
        among the 500 most cosine-similar (either suffices, as in the original;
        ``matched_descriptions``). ``filtered`` keeps the named processes (``[]``
        or None: all). No filter at all returns every code item.
        """
        code_q = _query_words(code_text, "code_text")
        parent_q = _query_words(parent_code_text, "parent_code_text")
        desc_q = _query_words(description_text, "description_text")
        allowed = _allowed(filtered, "process name in filtered")
        described, scores = self._described_among(
            keys.processes(self.namespace), allowed, desc_q, description_embedding
        )
        if desc_q is not None or description_embedding is not None:
            allowed = set(described)
        spawned: dict[str, dict[int, list[Any]]] = {}
        if parent_q is not None and (allowed is None or allowed):
            spawned = self._spawned_by(parent_q)
            allowed = set(spawned) if allowed is None else allowed & set(spawned)
        if allowed is not None and not allowed:
            return []
        hits = self._hits(code_q, allowed)
        if parent_q is not None:
            # A reused name may have had another parent in another run: only the
            # items of the runs that the matching parent spawned count.
            hits = [h for h in hits if h[3] in spawned.get(h[0], {})]
        hits.sort(key=lambda h: (-scores.get(h[0], 0.0), h[0], h[1], h[3]))
        return [
            ProcessMatch(name, index, start, described.get(name, []), parents)
            for name, index, start, run in hits
            for parents in ([list(spawned[name][run])] if parent_q is not None else [],)
        ]

    def _hits(self, code_q: list[str] | None, allowed: set[str] | None) -> list[Hit]:
        """The code items with every word of ``code_q`` (all without), of ``allowed``."""
        if code_q is None:
            return self._all_items(allowed)
        return [h for h in self._code_hits(code_q) if allowed is None or h[0] in allowed]

    def _described_among(
        self, index_key: str, allowed: set[str] | None, desc_q: list[str] | None, embedding: object
    ) -> tuple[dict[str, list[str]], dict[str, float]]:
        """:meth:`_described` over the names of ``index_key`` (nothing without a
        description filter)."""
        if desc_q is None and embedding is None:
            return {}, {}
        return self._described(self._names(index_key, allowed), desc_q, embedding)

    def _names(self, index_key: str, allowed: set[str] | None) -> list[str]:
        """The names in sorted set ``index_key``, restricted to ``allowed``."""
        with self._conn.translate():
            names = self._conn.client.zrange(index_key, 0, -1)
        return [n for n in names if allowed is None or n in allowed]

    def _described(
        self, items: list[str], desc_q: list[str] | None, embedding: object
    ) -> tuple[dict[str, list[str]], dict[str, float]]:
        """Of ``items``, those with a description matching ``desc_q`` or among the
        most similar to ``embedding``: item -> description names, item -> best
        similarity (only with an embedding)."""
        names: dict[str, set[str]] = defaultdict(set)
        scores: dict[str, float] = {}
        wanted = set(items)
        if desc_q is not None:
            for member in self._sinter([keys.description_word(self.namespace, w) for w in desc_q]):
                item, _sep, dname = member.partition("\x1f")
                if item in wanted:
                    names[item].add(dname)
        if embedding is not None:
            for item, found in self._embedding_matches(embedding, items).items():
                names[item].update(found)
                scores[item] = max(found.values())
        return {item: sorted(d) for item, d in names.items()}, scores

    if TYPE_CHECKING:

        def _embedding_matches(
            self, description_embedding: object, item_names: Sequence[str]
        ) -> dict[str, dict[str, float]]: ...

    def _spawned_by(self, parent_q: list[str]) -> dict[str, dict[int, list[Any]]]:
        """Runs of processes whose parent's code item at their ``parent_process_index``
        matches ``parent_q``: child name -> {run: [parent, index]}.

        Every run of a child keeps its own parent (the current record, and the
        snapshots of earlier runs), since a reused name may have had another parent.
        """
        ns = self.namespace
        by_parent: dict[str, set[int]] = defaultdict(set)
        for parent, index, _start, _run in self._code_hits(parent_q):
            by_parent[parent].add(index)
        if not by_parent:
            return {}
        parents = sorted(by_parent)
        with self._conn.translate():
            pipe = self._conn.client.pipeline(transaction=False)
            for parent in parents:
                pipe.zrange(keys.children(ns, parent), 0, -1)
            children = sorted({c for cs in pipe.execute() for c in cs})
            pipe = self._conn.client.pipeline(transaction=False)
            for child in children:
                pipe.hmget(
                    keys.proc(ns, child), "run", "parent_process_name", "parent_process_index"
                )
                pipe.lrange(keys.runs(ns, child), 0, -1)
            replies = pipe.execute() if children else []
        out: dict[str, dict[int, list[Any]]] = {}
        for i, child in enumerate(children):
            for run, pname, pindex in _parent_links(replies[2 * i], replies[2 * i + 1]):
                try:
                    run_no, index = int(run or 0), int(pindex if pindex not in (None, "") else -1)
                except (TypeError, ValueError):
                    continue
                if pname in by_parent and index in by_parent[pname]:
                    out.setdefault(child, {})[run_no] = [pname, index]
        return out

    def _all_items(self, allowed: set[str] | None) -> list[Hit]:
        """Every opened code item of the allowed processes (all when None)."""
        ns = self.namespace
        with self._conn.translate():
            if allowed is None:
                names = self._conn.client.zrange(keys.processes(ns), 0, -1)
            else:
                names = sorted(allowed)
            pipe = self._conn.client.pipeline(transaction=False)
            for name in names:
                pipe.xrange(keys.code(ns, name))
            streams = pipe.execute() if names else []
        hits = []
        for name, events in zip(names, streams, strict=True):
            for item in fold_code_events(name, events):
                hits.append(Hit(name, item.index, item.start_position, item.run))
        return hits
