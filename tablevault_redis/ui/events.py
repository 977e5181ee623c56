"""Server-Sent Events: the page's live feed.

Each open feed polls Redis for what its view shows (one page of the process table,
one process, or the new records of one list) about every 200 ms, and sends an event
only when that changed. The reads are bounded by the view, so 10,000 processes in
the namespace cost one page of records per tick, not 10,000.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from ..errors import NotFoundError, TableVaultError, VaultConnectionError

log = logging.getLogger(__name__)

INTERVAL = 0.2  # seconds between two reads of a feed's view
KEEPALIVE = 15.0  # seconds of silence after which a comment line keeps proxies from closing
MAX_BATCH = 5000  # records sent in one event of a record list feed
_VOLATILE = ("now", "heartbeat_age")


def _stable(value: Any) -> Any:
    """``value`` without the fields that change every tick (the clock and what is
    derived from it), so that an unchanged view sends nothing."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _event(name: str, payload: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(payload, separators=(',', ':'), default=str)}\n\n"


async def _feed(produce: Callable[[], Any], interval: float) -> AsyncIterator[str]:
    yield "retry: 1000\n\n"
    last: Any = object()
    quiet_since = time.monotonic()
    while True:
        try:
            payload = await run_in_threadpool(produce)
            name = "update"
        except (NotFoundError, VaultConnectionError) as exc:
            payload, name = {"error": str(exc)}, "problem"
        except TableVaultError as exc:
            log.warning("live feed: %s", exc)
            payload, name = {"error": str(exc)}, "problem"
        key = (name, _stable(payload))
        if payload is not None and key != last:
            last = key
            quiet_since = time.monotonic()
            yield _event(name, payload)
        elif time.monotonic() - quiet_since > KEEPALIVE:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(interval)


def feed(produce: Callable[[], Any], interval: float = INTERVAL) -> StreamingResponse:
    """An SSE response sending ``produce()`` whenever it changes (None: nothing new)."""
    return StreamingResponse(
        _feed(produce, interval),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class RecordTail:
    """What a record list feed has sent: each tick sends only the records after it,
    with the process that wrote each."""

    def __init__(
        self,
        read_count: Callable[[], int],
        read: Callable[[int, int], list[Any]],
        read_writers: Callable[[int, int], list[Any]],
        after: int,
    ) -> None:
        self.read_count = read_count
        self.read = read
        self.read_writers = read_writers
        self.sent = after

    def __call__(self) -> dict[str, Any] | None:
        total = self.read_count()
        if total < self.sent:  # the list was deleted and begun again
            self.sent = 0
        if total == self.sent:
            return None
        start = self.sent
        records = self.read(start, min(total, start + MAX_BATCH))
        self.sent = start + len(records)
        writers = self.read_writers(start, self.sent)
        return {"total": total, "start": start, "records": records, "writers": writers}
