"""A worker for failover tests: a Vault that appends one record per iteration.

usage: ha_worker.py NAME WORKDIR

Appends ``{"i": i}`` (i = 0, 1, ...) to the record list ``<NAME>_log``, retrying a
write while Redis fails over (as a loop that must not lose records does), then
checkpoints. WORKDIR/progress holds the number of records acknowledged so far;
WORKDIR/markers gets ``ready`` once the Vault exists and ``finally`` at the end.
"""

import os
import sys
import time

from tablevault_redis import Vault, VaultConnectionError

name, workdir = sys.argv[1], sys.argv[2]


def marker(text: str) -> None:
    with open(os.path.join(workdir, "markers"), "a") as f:
        f.write(text + "\n")


def progress(count: int) -> None:
    tmp = os.path.join(workdir, "progress.tmp")
    with open(tmp, "w") as f:
        f.write(str(count))
    os.replace(tmp, os.path.join(workdir, "progress"))


vault = Vault("tester", name, namespace=os.environ["TEST_NAMESPACE"])
marker("ready")
i = 0
try:
    while True:
        try:
            vault.append_record(f"{name}_log", {"i": i})
        except VaultConnectionError as e:
            if not e.transient:
                raise
            time.sleep(0.02)
            continue
        i += 1
        progress(i)
        time.sleep(0.01)
        vault.checkpoint_execution()
finally:
    marker("finally")
