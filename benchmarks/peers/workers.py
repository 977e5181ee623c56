"""Worker processes driven over stdin/stdout: this library's and the polling floor.

``python workers.py stop|pause|poll URL NAME`` prints ``{"ev": "ready"}``, then for
each ``go MODE ITERS`` line on stdin prints ``running``, loops (see loops.py) and
prints what ended the loop:

- ``stop``: a registered ``Vault`` checkpointing each iteration; the loop ends with
  ``ExecutionStopped`` (stamped, then re-raised so the process exits as a stopped
  script does). One process per stop.
- ``pause``: the same, long-lived; a checkpoint that blocked for longer than
  ``PAUSED_MIN_S`` was a pause, reported with its start and end.
- ``poll``: one Redis ``GET`` per iteration; the loop ends when the value changes.

Only the library's public API is used, so the numbers are those of the code installed.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from loops import run_loop

NAMESPACE = "benchpeers"
USER = "bench"
PAUSED_MIN_S = 0.003  # the controller holds each pause for longer than this


def say(ev: str, **fields: Any) -> None:
    fields["ev"] = ev
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def next_go() -> tuple[str, int] | None:
    line = sys.stdin.readline().split()
    if not line or line[0] != "go":
        return None
    return line[1], int(line[2])


def stop_worker(url: str, name: str) -> None:
    from tablevault_redis import ExecutionStopped, Vault

    vault = Vault(USER, name, redis_url=url, namespace=NAMESPACE)
    say("ready")
    go = next_go()
    if go is None:
        return
    say("running")
    try:
        run_loop(*go, vault.checkpoint_execution)
    except ExecutionStopped:
        say("observed", t=time.monotonic())
        raise


def pause_worker(url: str, name: str) -> None:
    from tablevault_redis import Vault

    vault = Vault(USER, name, redis_url=url, namespace=NAMESPACE)
    checkpoint = vault.checkpoint_execution
    mono = time.monotonic

    def timed_checkpoint() -> tuple[float, float] | None:
        t = mono()
        checkpoint()
        t2 = mono()
        return (t, t2) if t2 - t > PAUSED_MIN_S else None

    say("ready")
    while (go := next_go()) is not None:
        say("running")
        start, end = run_loop(*go, timed_checkpoint)
        say("observed", t=start, end=end)


def poll_worker(url: str, key: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    say("ready")
    last = [client.get(key)]

    def changed() -> float | None:
        return time.monotonic() if client.get(key) != last[0] else None

    while (go := next_go()) is not None:
        last[0] = client.get(key)
        say("running")
        say("observed", t=run_loop(*go, changed))


def main() -> None:
    kind, url, name = sys.argv[1:4]
    if kind == "stop":
        stop_worker(url, name)
    elif kind == "pause":
        pause_worker(url, name)
    else:
        poll_worker(url, name)


if __name__ == "__main__":
    main()
