"""The process tree's logic: which processes show, and under which parent.

Kept apart from its drawing (``render.draw_tree``) so it can be tested on plain
:class:`ProcessInfo` lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..models import ProcessInfo


@dataclass
class ProcessNode:
    """One process and the nodes of the children shown under it."""

    info: ProcessInfo
    children: list[ProcessNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``ProcessInfo.to_dict()`` plus a ``children`` list of the same."""
        return {**self.info.to_dict(), "children": [c.to_dict() for c in self.children]}


def _kept(procs: Sequence[ProcessInfo], by_name: dict[str, ProcessInfo]) -> set[str]:
    """The live processes and every ancestor of one: ended processes keep their place
    only where a live one descends from them."""
    keep: set[str] = set()
    for p in procs:
        if p.alive:
            cur: ProcessInfo | None = p
            while cur is not None and cur.name not in keep:
                keep.add(cur.name)
                cur = by_name.get(cur.parent_process_name)
    return keep


def _is_root(p: ProcessInfo, by_name: dict[str, ProcessInfo]) -> bool:
    return p.parent_process_name not in by_name or p.parent_process_name == p.name


def build_forest(
    procs: Sequence[ProcessInfo], *, name: str | None = None, include_ended: bool = False
) -> list[ProcessNode]:
    """The trees of ``procs`` (oldest first): all of them, or ``name`` and its
    descendants. Without ``include_ended`` (and without ``name``), ended processes
    show only as ancestors of live ones. Re-runs can make a cycle (a's parent b, b's
    parent a): each process shows once, and what only a cycle reaches becomes a root.
    """
    by_name = {p.name: p for p in procs}
    kids: dict[str, list[ProcessInfo]] = {}
    for p in procs:
        if p.parent_process_name in by_name and p.parent_process_name != p.name:
            kids.setdefault(p.parent_process_name, []).append(p)
    keep = set(by_name) if include_ended or name is not None else _kept(procs, by_name)
    seen: set[str] = set()

    def node(p: ProcessInfo) -> ProcessNode:
        seen.add(p.name)
        children = [c for c in kids.get(p.name, []) if c.name in keep and c.name not in seen]
        return ProcessNode(p, [node(c) for c in children])

    if name is not None:
        roots = [by_name[name]] if name in by_name else []
    else:
        roots = [p for p in procs if _is_root(p, by_name)]
    forest = [node(r) for r in roots if r.name in keep and r.name not in seen]
    if name is None:
        forest += [node(p) for p in procs if p.name in keep and p.name not in seen]
    return forest
