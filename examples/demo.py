"""A controller and two workers: pause one, watch it freeze, resume it, stop both.

Runs on the embedded local Redis server (started on demand; set
TABLEVAULT_REDIS_URL to use another). Each worker is a real Python process with a
Vault, a training loop and a checkpoint; the controller is this process.

    python examples/demo.py
"""

from __future__ import annotations

import math
import subprocess
import sys
import time

from rich.console import Console

from tablevault_redis import NotFoundError, Vault

NAMESPACE = "demo"
WORKERS = ("trainer-1", "trainer-2")
console = Console(highlight=False)


def worker(name: str) -> None:
    """What a user writes: a training loop with a checkpoint."""
    vault = Vault(user_id="demo", process_name=name, namespace=NAMESPACE)
    for epoch in range(10_000):
        loss = math.exp(-epoch / 20)
        time.sleep(0.05)  # one "epoch" of training
        vault.append_record(f"{name}-log", {"epoch": epoch, "loss": round(loss, 4)})
        vault.checkpoint_execution()  # a safe point to stop or pause


def epochs(vault: Vault, name: str) -> int:
    try:
        return len(vault.query_item_content(f"{name}-log"))
    except NotFoundError:  # the worker has not written its first record yet
        return 0


def wait_for(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"demo: timed out waiting for {what}")
        time.sleep(0.05)


def show_table() -> None:
    """The process table, as the command line prints it."""
    subprocess.run(
        [sys.executable, "-m", "tablevault_redis", "ps", "--all", "--namespace", NAMESPACE],
        check=True,
    )


def main() -> None:
    started = time.monotonic()
    console.rule("[bold]tablevault-redis demo")
    # new_db=True: start from an empty "demo" namespace on every run.
    vault = Vault(user_id="demo", process_name="controller", namespace=NAMESPACE, new_db=True)
    console.print(f"Redis: [cyan]{vault.redis_url}[/]")
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", name]) for name in WORKERS]
    try:
        for name in WORKERS:
            wait_for(lambda n=name: epochs(vault, n) >= 3, f"{name} to train")
        console.print("\n[bold]Two workers are training:[/]")
        show_table()

        console.print("\n[bold]Pausing trainer-1[/] (it waits inside its next checkpoint)")
        vault.pause_execution("trainer-1", wait=True, timeout=10)
        frozen, other = epochs(vault, "trainer-1"), epochs(vault, "trainer-2")
        time.sleep(1.0)  # let the other worker train on while this one is frozen
        console.print(
            f"  one second later: trainer-1 epochs {frozen} -> {epochs(vault, 'trainer-1')} "
            f"(frozen), trainer-2 epochs {other} -> {epochs(vault, 'trainer-2')}"
        )
        show_table()

        console.print("\n[bold]Resuming trainer-1[/]")
        vault.resume_execution("trainer-1", wait=True, timeout=10)
        wait_for(lambda: epochs(vault, "trainer-1") > frozen + 2, "trainer-1 to continue")
        console.print(f"  trainer-1 trains again: {epochs(vault, 'trainer-1')} epochs")

        console.print("\n[bold]Stopping both[/] (ExecutionStopped at their next checkpoint)")
        for name in WORKERS:
            vault.stop_execution(name, wait=True, timeout=10)
        for p in procs:
            p.wait(timeout=10)
        show_table()

        console.print("\n[bold]What was recorded:[/]")
        for name in WORKERS:
            info = vault.get_process(name)
            (item,) = vault.get_code_items(name)
            logs = vault.query_item_content(f"{name}-log")
            console.print(
                f"  {name}: status [magenta]{info.status}[/] (stopped by {info.stopped_by}), "
                f"code item 0 = {len(item.text)} characters of {item.status} script, "
                f"{len(logs)} records, last {logs[-1]}"
            )
        console.print(
            f"\nDone in {time.monotonic() - started:.1f} s. Inspect it yourself: "
            f"[cyan]tablevault-redis show trainer-1 --namespace {NAMESPACE}[/]"
        )
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        vault.close()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        main()
