"""The controller of compose.yaml: pause, resume and stop the workers, then exit.

    TABLEVAULT_REDIS_URL=redis://redis:6379/0 python examples/compose_controller.py \
        worker-1 worker-2

Exits 0 when every worker was paused, resumed and stopped as asked, 1 otherwise.
"""

from __future__ import annotations

import sys
import time

from tablevault_redis import NotFoundError, VaultClient

STARTUP_TIMEOUT = 300.0  # seconds: containers may still be starting
TIMEOUT = 30.0  # seconds for each worker to act on a request


def epochs(client: VaultClient, name: str) -> int:
    try:
        return client.query_item_list(f"{name}-loss")["n_items"]
    except NotFoundError:
        return 0


def wait_for(predicate, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"controller: timed out waiting for {what}")
        time.sleep(0.1)


def alive(client: VaultClient, name: str) -> bool:
    try:
        return client.get_process(name).alive
    except NotFoundError:
        return False


def main(workers: list[str]) -> None:
    client = VaultClient()  # TABLEVAULT_REDIS_URL says where Redis is
    print(f"controller: {client.redis_url}, workers {workers}", flush=True)
    for name in workers:
        wait_for(lambda n=name: alive(client, n), f"{name} to start", STARTUP_TIMEOUT)
        start = epochs(client, name)
        wait_for(lambda n=name, s=start: epochs(client, n) > s + 2, f"{name} to train")

    for name in workers:
        client.pause_execution(name, wait=True, timeout=TIMEOUT)
        frozen = epochs(client, name)
        print(f"controller: {name} paused at epoch {frozen}", flush=True)
        client.resume_execution(name, wait=True, timeout=TIMEOUT)
        wait_for(lambda n=name, f=frozen: epochs(client, n) > f, f"{name} to resume")
        print(f"controller: {name} resumed", flush=True)

    for name in workers:
        client.stop_execution(name, wait=True, timeout=TIMEOUT)
    failed = []
    for name in workers:
        info = client.get_process(name)
        print(f"controller: {name} is {info.status} after {epochs(client, name)} epochs")
        if info.status != "stopped":
            failed.append(name)
    client.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv[1:] or ["worker-1", "worker-2"])
