"""Append records in a loop, timing every iteration, until told to quit.

usage: outage_appender.py NAME WORKDIR [--count N] [--sleep S] [--max-buffered N]
Writes WORKDIR/progress (records appended so far), the marker "ready" once looping,
and at exit WORKDIR/result.json: {"count", "iterations": [[monotonic end, seconds],
...] of iterations slower than 1 ms, "max"}. Waits for WORKDIR/go before starting
when started with --hold; stops after --count records, or when WORKDIR/quit exists.
Records are {"writer": NAME, "seq": i} in list "<NAME>-log".
"""

import argparse
import json
import os
import time
from pathlib import Path

from tablevault_redis import Vault

parser = argparse.ArgumentParser()
parser.add_argument("name")
parser.add_argument("workdir", type=Path)
parser.add_argument("--count", type=int, default=0)
parser.add_argument("--sleep", type=float, default=0.002)
parser.add_argument("--max-buffered", type=int, default=None)
parser.add_argument("--hold", action="store_true")
args = parser.parse_args()

vault = Vault(
    "tester",
    args.name,
    namespace=os.environ["TEST_NAMESPACE"],
    heartbeat_interval=0.2,
    heartbeat_ttl=3,
    max_buffered_writes=args.max_buffered,
)
list_name = f"{args.name}-log"
vault.append_record(list_name, {"writer": args.name, "seq": -1})  # the list exists
assert vault.flush_writes(10)
(args.workdir / "markers").write_text("ready\n")
while args.hold and not (args.workdir / "go").exists():
    time.sleep(0.005)
slow, worst, i = [], 0.0, 0
quit_file = args.workdir / "quit"
while not (args.count and i >= args.count):
    start = time.monotonic()
    vault.append_record(list_name, {"writer": args.name, "seq": i})
    vault.checkpoint_execution()
    end = time.monotonic()
    took = end - start
    worst = max(worst, took)
    if took > 0.001:
        slow.append([end, took])
    i += 1
    if i % 20 == 0:
        (args.workdir / "progress").write_text(str(i))
        if quit_file.exists():
            break
    time.sleep(args.sleep)
(args.workdir / "progress").write_text(str(i))
result = {"count": i, "iterations": slow, "max": worst, "errors": vault.write_errors}
vault.close()
(args.workdir / "result.json").write_text(json.dumps(result))
