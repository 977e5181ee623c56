"""A worker for tests: a Vault in a loop with checkpoints.

usage: worker.py NAME WORKDIR [--hold] [--busy] [--catch] [--fail-after N] [--iterations N]
       [--heartbeat I TTL] [--own-sigterm] [--own-sighup] [--parent NAME INDEX]

Writes WORKDIR/progress (the loop counter) and appends markers to WORKDIR/markers:
``ready`` once the Vault exists, ``finally`` from the loop's finally block,
``atexit`` from an atexit handler registered after the Vault, ``swallowed`` if an
``except Exception`` caught a stop (it must not).
"""

import atexit
import os
import signal
import sys
import time

from tablevault_redis import Vault

name, workdir = sys.argv[1], sys.argv[2]
opts = sys.argv[3:]


def marker(text: str) -> None:
    with open(os.path.join(workdir, "markers"), "a") as f:
        f.write(text + "\n")


def opt_values(flag: str, count: int = 1) -> list[str] | None:
    if flag not in opts:
        return None
    i = opts.index(flag)
    return opts[i + 1 : i + 1 + count]


kwargs = {}
hb = opt_values("--heartbeat", 2)
if hb:
    kwargs["heartbeat_interval"] = float(hb[0])
    kwargs["heartbeat_ttl"] = float(hb[1])
parent = opt_values("--parent", 2)
if parent:
    kwargs["parent_process_name"] = parent[0]
    kwargs["parent_process_index"] = int(parent[1])
if "--own-sigterm" in opts:
    signal.signal(signal.SIGTERM, lambda s, f: (marker("own-handler"), sys.exit(7)))
if "--own-sighup" in opts:
    signal.signal(signal.SIGHUP, lambda s, f: (marker("own-handler"), sys.exit(7)))

vault = Vault("tester", name, namespace=os.environ["TEST_NAMESPACE"], **kwargs)
atexit.register(marker, "atexit")
marker("ready")

if "--hold" in opts:
    while not os.path.exists(os.path.join(workdir, "go")):
        time.sleep(0.005)

fail_after = int((opt_values("--fail-after") or ["-1"])[0])
iterations = int((opt_values("--iterations") or ["-1"])[0])
i = 0
try:
    while iterations < 0 or i < iterations:
        i += 1
        tmp = os.path.join(workdir, "progress.tmp")
        with open(tmp, "w") as f:
            f.write(str(i))
        os.replace(tmp, os.path.join(workdir, "progress"))
        if i == fail_after:
            raise RuntimeError(f"boom at iteration {i}")
        if "--busy" in opts:
            deadline = time.perf_counter() + 0.001
            while time.perf_counter() < deadline:
                pass
        else:
            time.sleep(0.005)
        try:
            vault.checkpoint_execution()
        except Exception:  # a stop must not be swallowed here
            marker("swallowed")
finally:
    marker("finally")
