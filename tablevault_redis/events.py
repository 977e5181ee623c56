"""Reading and following a process's code stream: what ``logs`` and ``logs -f`` show.

Each code item writes two entries to the process's code stream: ``open`` (index, run,
text, start position, start time) when it starts and ``close`` (index, status, error,
end time) when it ends. :meth:`CodeEventsMixin.code_events` reads them;
:meth:`CodeEventsMixin.follow_code` waits for new ones. Every event carries its
stream id, so a reader that stops can continue exactly where it left off.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import keys
from .connection import Connection
from .errors import ValidationError, VaultConnectionError
from .models import CodeItem, died_at, fold_code_events, parse_float, parse_int
from .retry import Backoff

if TYPE_CHECKING:
    from .models import ProcessInfo

logger = logging.getLogger(__name__)

_STREAM_ID = re.compile(r"\d+(-\d+)?")
_MAX_BACKOFF = 2.0  # seconds between reconnection attempts while following
_READ_COUNT = 100  # entries per XREAD round


@dataclass(frozen=True)
class CodeEvent:
    """One entry of a process's code stream: a code item opened or closed.

    ``run``, ``text``, ``start_position`` and ``started_at`` belong to ``open``
    events; ``status``, ``error`` and ``ended_at`` to ``close`` events; the others
    are None. ``fields`` is the entry exactly as written (strings).
    """

    process_name: str
    id: str  # the stream entry id; pass it as ``after`` to continue past this event
    event: str  # "open" or "close"
    index: int
    run: int | None = None
    text: str | None = None
    start_position: int | None = None
    started_at: float | None = None
    status: str | None = None
    error: str | None = None
    ended_at: float | None = None
    fields: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_entry(cls, process_name: str, entry_id: str, fields: Mapping[str, str]) -> CodeEvent:
        index = parse_int(fields.get("index"))
        return cls(
            process_name=process_name,
            id=entry_id,
            event=fields.get("event", ""),
            index=-1 if index is None else index,
            run=parse_int(fields.get("run")),
            text=fields.get("text"),
            start_position=parse_int(fields.get("start_position")),
            started_at=parse_float(fields.get("started_at")),
            status=fields.get("status"),
            error=fields.get("error"),
            ended_at=parse_float(fields.get("ended_at")),
            fields=dict(fields),
        )

    def to_dict(self) -> dict[str, Any]:
        """``process_name``, ``id``, then the entry's fields in stream order, numbers as
        numbers and times as float seconds (fields this version does not know: as is)."""
        out: dict[str, Any] = {"process_name": self.process_name, "id": self.id}
        for key, raw in self.fields.items():
            out[key] = getattr(self, key) if key in _TYPED_FIELDS else raw
        return out

    def as_item(self) -> CodeItem | None:
        """For an ``open`` event, the code item it opened (status ``open``); else None."""
        if self.event != "open":
            return None
        items = fold_code_events(self.process_name, [(self.id, dict(self.fields))])
        return items[0] if items else None


_TYPED_FIELDS = frozenset(
    ("event", "index", "run", "text", "start_position", "started_at", "status", "error", "ended_at")
)


def code_items(events: Sequence[CodeEvent], process: ProcessInfo | None = None) -> list[CodeItem]:
    """The code items these events describe, by index (an item's ``close`` event
    updates what its ``open`` event started). Given the ``process`` record, an item
    left open by a process seen dead reads as ``crashed``."""
    if not events:
        return []
    entries = [(e.id, dict(e.fields)) for e in events]
    died = died_at(process) if process is not None else None
    return fold_code_events(events[0].process_name, entries, died)


def _check_after(after: str) -> str:
    if not isinstance(after, str) or not _STREAM_ID.fullmatch(after):
        raise ValidationError(
            f"after must be a stream id such as '0' or '1717171717177-0', got {after!r}"
        )
    return after


def _stream_entries(reply: Any) -> list[tuple[str, dict[str, str]]]:
    """XREAD's reply as (id, fields) pairs.

    RESP2 gives ``[[key, entries]]``; redis-py's RESP3 gives ``{key: [entries]}``.
    """
    if not reply:
        return []
    if isinstance(reply, dict):
        batches = [batch for value in reply.values() for batch in value]
    else:
        batches = [entries for _key, entries in reply]
    return [(entry_id, fields) for batch in batches for entry_id, fields in batch]


OutageCallback = Callable[[VaultConnectionError | None], None]


class CodeEventsMixin:
    """``code_events`` and ``follow_code`` for :class:`VaultClient`."""

    _conn: Connection
    namespace: str

    if TYPE_CHECKING:

        def get_process(self, process_name: str) -> ProcessInfo: ...

    def code_events(self, process_name: str, after: str = "0") -> list[CodeEvent]:
        """The code stream's events after stream id ``after`` ("0": all), oldest
        first; :class:`NotFoundError` if there is no such process."""
        _check_after(after)
        self.get_process(process_name)
        low = "-" if after == "0" else f"({after}"  # "(" excludes ``after`` itself
        with self._conn.translate():
            entries = self._conn.client.xrange(keys.code(self.namespace, process_name), low)
        return [CodeEvent.from_entry(process_name, i, f) for i, f in entries]

    def follow_code(
        self,
        process_name: str,
        *,
        after: str = "0",
        block_ms: int = 1000,
        stop: Callable[[], bool] | None = None,
        on_outage: OutageCallback | None = None,
    ) -> Iterator[CodeEvent]:
        """Yield the code stream's events after ``after`` as they are written, until
        ``stop()`` returns true (checked at least every ``block_ms`` milliseconds).

        Pass the id of the last event already read (from :meth:`code_events`) to miss
        nothing in between. A lost connection (a transient error, see
        :mod:`tablevault_redis.retry`) is retried with backoff, not raised:
        ``on_outage`` is called with the error when reading first fails and with
        None once it works again (without it, both are logged as warnings). A name
        with no process yet yields nothing until one opens a code item.
        """
        keys.check_name(process_name)
        _check_after(after)
        if not isinstance(block_ms, int) or isinstance(block_ms, bool) or block_ms < 1:
            raise ValidationError(f"block_ms must be an integer >= 1, got {block_ms!r}")
        return self._follow(process_name, after, block_ms, stop, on_outage)

    def _follow(
        self,
        name: str,
        last_id: str,
        block_ms: int,
        stop: Callable[[], bool] | None,
        on_outage: OutageCallback | None,
    ) -> Iterator[CodeEvent]:
        stream = keys.code(self.namespace, name)
        backoff = Backoff(maximum=_MAX_BACKOFF)
        while stop is None or not stop():
            try:
                with self._conn.translate():
                    reply = self._conn.client.xread(
                        {stream: last_id}, block=block_ms, count=_READ_COUNT
                    )
            except VaultConnectionError as exc:
                if not exc.transient:
                    raise  # refused access or the like: retrying cannot fix it
                if not backoff.failures:
                    _report(on_outage, exc, f"following {name!r}: {exc}; retrying")
                time.sleep(backoff.next())
                continue
            if backoff.failures:
                _report(on_outage, None, f"following {name!r}: reconnected")
                backoff.reset()
            for entry_id, fields in _stream_entries(reply):
                last_id = entry_id
                yield CodeEvent.from_entry(name, entry_id, fields)


def _report(
    on_outage: OutageCallback | None, error: VaultConnectionError | None, text: str
) -> None:
    """Tell the caller about an outage or its end; without a callback, log it."""
    if on_outage is not None:
        on_outage(error)
    else:
        logger.warning("%s", text)
