"""A worker that uses everything a Vault sends: records, queries, checkpoints.

usage: link_worker.py NAME WORKDIR
Writes WORKDIR/progress (the loop counter) and the marker ``ready`` (as worker.py).
"""

import os
import sys
import time

from tablevault_redis import Vault

name, workdir = sys.argv[1], sys.argv[2]
vault = Vault("tester", name, namespace=os.environ["TEST_NAMESPACE"])
with open(os.path.join(workdir, "markers"), "a") as f:
    f.write("ready\n")
i = 0
while True:
    vault.append_record(f"{name}-list", {"i": i})
    if i % 20 == 0:
        vault.list_processes()  # a query from the main thread, on the same connection
    vault.checkpoint_execution()
    i += 1
    with open(os.path.join(workdir, "progress"), "w") as f:
        f.write(str(i))
    time.sleep(0.002)
