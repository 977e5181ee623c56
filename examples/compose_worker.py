"""A training worker for compose.yaml: a Vault, a loop, a checkpoint per epoch.

    TABLEVAULT_REDIS_URL=redis://redis:6379/0 python examples/compose_worker.py worker-1

Runs until another process stops it (or ``docker stop`` sends SIGTERM): both are
recorded as ``stopped`` and the script exits with status 0 (143 for SIGTERM).
"""

from __future__ import annotations

import math
import sys
import time

from tablevault_redis import Vault


def main(name: str, epochs: int = 1_000_000) -> None:
    vault = Vault(user_id="compose", process_name=name)
    print(f"{name}: registered on {vault.redis_url}", flush=True)
    for epoch in range(epochs):
        time.sleep(0.05)  # one "epoch" of training
        vault.append_record(f"{name}-loss", {"epoch": epoch, "loss": math.exp(-epoch / 50)})
        vault.checkpoint_execution()  # stop or pause takes effect here


if __name__ == "__main__":
    main(sys.argv[1])
