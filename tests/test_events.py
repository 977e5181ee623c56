"""Reading and following a process's code stream through the client
(``code_events``, ``follow_code``); what ``logs`` and ``logs -f`` print."""

from __future__ import annotations

import time

import pytest
from helpers import Spawner

from tablevault_redis import NotFoundError, ValidationError, VaultClient


def test_bad_arguments_are_refused_before_reading(client: VaultClient):
    with pytest.raises(NotFoundError, match="'nope'"):
        client.code_events("nope")
    with pytest.raises(ValidationError, match="after must be a stream id"):
        client.code_events("nope", after="$")
    with pytest.raises(ValidationError, match="process name"):
        client.follow_code("a{b}")
    with pytest.raises(ValidationError, match="after must be a stream id"):
        client.follow_code("w", after="later")
    with pytest.raises(ValidationError, match="block_ms must be an integer >= 1"):
        client.follow_code("w", block_ms=0)


def test_follow_ends_when_stop_says_so(client: VaultClient):
    started = time.monotonic()
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2  # two empty rounds of at most 50 ms, then stop

    assert list(client.follow_code("nobody", block_ms=50, stop=stop)) == []
    assert len(calls) == 3 and time.monotonic() - started < 5


@pytest.mark.slow
def test_read_then_follow_misses_nothing(
    spawner: Spawner, client: VaultClient, redis_url: str, namespace: str
):
    w = spawner.worker(redis_url, namespace, "w").wait_ready()
    events = client.code_events("w")
    assert [(e.event, e.index, e.run) for e in events] == [("open", 0, 1)]
    assert "checkpoint_execution" in (events[0].text or "")
    assert client.code_events("w", after=events[-1].id) == []

    # Written after the read and before the follow starts: still seen.
    client.stop_execution("w", wait=True, timeout=10)
    assert w.wait_exit() == 0
    seen = []
    for event in client.follow_code("w", after=events[-1].id, stop=lambda: bool(seen)):
        seen.append(event)
    assert [(e.event, e.index, e.status) for e in seen] == [("close", 0, "stopped")]
    assert isinstance(seen[0].ended_at, float)
    assert [e.id for e in client.code_events("w")] == [events[0].id, seen[0].id]
