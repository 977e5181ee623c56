"""Small programs around a Vault for the process life-cycle tests.

usage: scenario.py NAME WORKDIR MODE

Modes:
  no-checkpoint  wait for WORKDIR/go, then end without ever reaching a checkpoint
  linger         loop with checkpoints; once a stop is raised, linger in the finally
                 block until WORKDIR/go exists (the process has acted, is alive), then
                 mark "released"
  thread         a thread named "looper" loops with checkpoints; the main thread
                 joins it, then reaches a checkpoint itself
  spawn          a spawn-method child: the unguarded module-level Vault() below is
                 re-imported in it; its target then creates a Vault of its own

Markers (WORKDIR/markers): ready, finally, released, thread-ended, child-exit=N, child-vault.
"""

import multiprocessing
import os
import sys
import threading
import time

from tablevault_redis import Vault

name, workdir, mode = sys.argv[1], sys.argv[2], sys.argv[3]
vault = Vault("tester", name, namespace=os.environ["TEST_NAMESPACE"])  # unguarded on purpose


def marker(text: str) -> None:
    with open(os.path.join(workdir, "markers"), "a") as f:
        f.write(text + "\n")


def wait_go() -> None:
    while not os.path.exists(os.path.join(workdir, "go")):
        time.sleep(0.005)


def loop() -> None:
    while True:
        time.sleep(0.005)
        vault.checkpoint_execution()


def child_target(child_name: str) -> None:
    Vault("tester", child_name, namespace=os.environ["TEST_NAMESPACE"]).close()
    marker("child-vault")


if __name__ == "__main__":
    marker("ready")
    if mode == "no-checkpoint":
        wait_go()
    elif mode == "linger":
        try:
            loop()
        finally:
            marker("finally")
            wait_go()
            marker("released")
    elif mode == "thread":
        looper = threading.Thread(target=loop, name="looper")
        looper.start()
        looper.join()
        marker("thread-ended")
        loop()
    elif mode == "spawn":
        ctx = multiprocessing.get_context("spawn")
        child = ctx.Process(target=child_target, args=(name + "-child",))
        child.start()
        child.join(60)
        marker(f"child-exit={child.exitcode}")
