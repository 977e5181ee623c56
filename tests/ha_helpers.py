"""What the failover tests share: poll a control request until a failover is over,
and check that a worker's records all arrived."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from helpers import Worker, wait_until

from tablevault_redis import NotFoundError, ValidationError, VaultClient, VaultConnectionError


def until_accepted(request: Callable[[], Any], timeout: float = 20.0) -> float:
    """Call ``request`` until the server takes it; the monotonic time it succeeded.

    While the primary is away a request fails as a transient VaultConnectionError,
    or as "not alive" until the worker's heartbeat reaches the new primary, or as
    NotFoundError when the promoted replica had not received the worker's record
    yet (the worker's next heartbeat puts it back)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            request()
            return time.monotonic()
        except (VaultConnectionError, ValidationError, NotFoundError) as e:
            transient = isinstance(e, VaultConnectionError) and e.transient
            lost = isinstance(e, NotFoundError)
            if not (transient or lost or "not alive" in str(e)) or time.monotonic() >= deadline:
                raise
        time.sleep(0.05)


def control_after_failover(client: VaultClient, worker: Worker, timeout: float = 20.0) -> float:
    """Pause (retried until the failover is over), resume and stop ``worker``; the
    monotonic time the pause was accepted. The worker must exit 0, stopped."""
    name = worker.name
    accepted = until_accepted(lambda: client.pause_execution(name), timeout)
    wait_until(lambda: client.get_process(name).status == "paused", 20, what="paused")
    frozen = worker.progress()
    client.resume_execution(name, wait=True, timeout=10)
    wait_until(lambda: worker.progress() > frozen, 10, what=f"{name} to go on")
    client.stop_execution(name, wait=True, timeout=10)
    assert worker.wait_exit(15) == 0, worker.output()
    assert client.get_process(name).status == "stopped"
    return accepted


def replicated(node: Any, key: str, timeout_ms: int = 5000) -> None:
    """Before ``node``, the master serving ``key``, is killed: a write in ``key``'s slot,
    then ``WAIT`` until a replica acknowledged it, so the replica holds every earlier
    write too. Replication is asynchronous: a killed master's writes not yet sent are
    lost whatever the client does, and the failover tests are about the client."""
    tag = key[key.index("{") + 1 : key.index("}")]
    marker = f"replicated-check:{{{tag}}}"
    client = node.client()
    try:
        client.set(marker, "1")
        client.delete(marker)
        acked = client.execute_command("WAIT", 1, timeout_ms)
    finally:
        client.close()
    assert acked >= 1, f"no replica of the master on port {node.port} acknowledged its writes"


def assert_records_arrived(client: VaultClient, worker: Worker) -> None:
    """Every record the worker had acknowledged is in its list, in order."""
    acked = worker.progress()
    got = [r["i"] for r in client.query_item_content(f"{worker.name}_log")]
    firsts = list(dict.fromkeys(got))  # a retried write whose reply was lost may repeat
    assert firsts == list(range(acked)), (acked, got[-20:])
