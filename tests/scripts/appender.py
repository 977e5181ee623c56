"""Append COUNT records to one record list from a registered process.

usage: appender.py NAME LIST COUNT
Each record is {"writer": NAME, "seq": i}; waits for WORKDIR-less start: the file
named by $APPEND_GO (if set) must exist before the first append.
"""

import os
import sys
import time

from tablevault_redis import Vault

name, list_name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
vault = Vault("tester", name, namespace=os.environ["TEST_NAMESPACE"])
go = os.environ.get("APPEND_GO")
deadline = time.monotonic() + 20
while go and not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.005)
for i in range(count):
    vault.append_record(list_name, {"writer": name, "seq": i})
    vault.checkpoint_execution()
