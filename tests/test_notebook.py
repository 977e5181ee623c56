"""Notebook processes in a real Jupyter kernel (nbclient): one code item per cell."""

from __future__ import annotations

import os

import nbformat
import pytest
from helpers import ROOT, run_notebook_in_thread, wait_until
from nbclient import NotebookClient

from tablevault_redis import NotFoundError

pytestmark = pytest.mark.slow  # every test here starts subprocesses

LOOP = """\
import time
for step in range(100_000):
    time.sleep(0.005)
    vault.checkpoint_execution()
"""


def make_notebook(*cells: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


@pytest.fixture
def kernel_env(monkeypatch, redis_url, namespace):
    """The kernel inherits this environment: server, namespace, the checkout."""
    for name in list(os.environ):
        if name.startswith("TABLEVAULT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TABLEVAULT_REDIS_URL", redis_url)
    monkeypatch.setenv("TEST_NAMESPACE", namespace)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def test_cells_are_items_and_stop_aborts_only_the_running_cell(kernel_env, client):
    nb = make_notebook(
        "import os\nfrom tablevault_redis import Vault\n"
        "vault = Vault('nb-user', 'notebook', namespace=os.environ['TEST_NAMESPACE'])",
        "x = 1 + 1",
        "raise ValueError('bad cell')",
        LOOP,
        "after = 'next cell ran'\nprint(after)",
    )
    thread, errors = run_notebook_in_thread(nb)

    def loop_cell_open() -> bool:
        try:
            items = client.get_code_items("notebook")
        except NotFoundError:  # the kernel has not created its Vault yet
            return False
        return any(i.index == 2 and i.status == "open" for i in items)

    wait_until(loop_cell_open, timeout=60, what="the loop cell to start")
    info = client.get_process("notebook")
    assert info.execution_type == "notebook" and info.status == "running"

    client.pause_execution("notebook", wait=True, timeout=10)
    assert client.get_process("notebook").status == "paused"
    client.resume_execution("notebook", wait=True, timeout=10)
    client.stop_execution("notebook", wait=True, timeout=10)
    thread.join(60)
    assert not thread.is_alive() and not errors, errors

    items = client.get_code_items("notebook")
    assert [(i.index, i.status) for i in items] == [
        (0, "completed"),
        (1, "failed"),
        (2, "stopped"),
        (3, "completed"),
    ]
    assert items[0].text == "x = 1 + 1"
    assert "ValueError: bad cell" in items[1].error
    # The same through the original's call and words: the failed cell's error is readable.
    failed = client.query_item_content("notebook", index=1)
    assert failed["status"] == "failed" and "ValueError: bad cell" in failed["error"]
    assert failed["text"] == "raise ValueError('bad cell')" and failed["index"] == 1
    statuses = [c["status"] for c in client.query_item_content("notebook")]
    assert statuses == ["complete", "failed", "stopped", "complete"]
    assert items[3].start_position == sum(len(i.text) for i in items[:3])
    # The kernel lived on: the next cell ran and printed.
    outputs = nb.cells[4].outputs
    assert any("next cell ran" in o.get("text", "") for o in outputs)
    assert any("ExecutionStopped" in str(o) for o in nb.cells[3].outputs)
    # The kernel was shut down at the end: the process ended normally.
    info = wait_until(
        lambda: (p := client.get_process("notebook")).status != "running" and p,
        timeout=15,
        what="the kernel to finish",
    )
    assert info.status == "completed"
    assert info.stopped_by == client.requester


def test_failed_cell_before_any_vault_cell_is_not_recorded(kernel_env, client):
    nb = make_notebook(
        "y = 3",
        "import os\nfrom tablevault_redis import Vault\n"
        "vault = Vault('nb-user', 'nb2', namespace=os.environ['TEST_NAMESPACE'])",
        "1/0",
    )
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    items = client.get_code_items("nb2")
    assert [(i.index, i.text, i.status) for i in items] == [(0, "1/0", "failed")]
    assert "ZeroDivisionError" in items[0].error


def test_stop_in_the_vault_cell_and_a_cell_that_catches_it(kernel_env, client):
    """A stop ends the cell that raised it, even the one that created the Vault; a cell
    that catches ExecutionStopped is stopped again at its next checkpoint."""
    nb = make_notebook(
        "import os, time\nfrom tablevault_redis import Vault\n"
        "vault = Vault('nb-user', 'nb3', namespace=os.environ['TEST_NAMESPACE'])\n"
        "while True:\n    time.sleep(0.005)\n    vault.checkpoint_execution()",
        "caught = 0\n"
        "while True:\n"
        "    time.sleep(0.005)\n"
        "    try:\n"
        "        vault.checkpoint_execution()\n"
        "    except SystemExit:\n"
        "        caught += 1\n"
        "        if caught > 1: raise\n",
        "print('caught', caught)",
    )
    thread, errors = run_notebook_in_thread(nb)

    def registered() -> bool:
        try:
            return client.get_process("nb3").alive
        except NotFoundError:
            return False

    wait_until(registered, timeout=60, what="the kernel's Vault")
    client.stop_execution("nb3", wait=True, timeout=10)  # stops the first cell
    wait_until(
        lambda: any(i.index == 0 and i.status == "open" for i in client.get_code_items("nb3")),
        timeout=20,
        what="the second cell to start",
    )
    client.stop_execution("nb3", wait=True, timeout=10)
    thread.join(60)
    assert not thread.is_alive() and not errors, errors
    assert [(i.index, i.status) for i in client.get_code_items("nb3")] == [
        (0, "stopped"),
        (1, "completed"),
    ]
    assert any("caught 2" in o.get("text", "") for o in nb.cells[2].outputs)


def test_interrupting_a_paused_cell_leaves_the_process_running(
    spawner, client, redis_url, namespace
):
    import signal

    w = spawner.worker(redis_url, namespace, "nb", script="cell_runner.py").wait_ready()
    w.run_cell(
        0, "import time\nwhile True:\n    time.sleep(0.005)\n    vault.checkpoint_execution()"
    )
    wait_until(lambda: client.get_code_items("nb"), what="the cell to start")
    client.pause_execution("nb", wait=True, timeout=10)
    w.signal(signal.SIGINT)  # the notebook's interrupt button
    wait_until(lambda: "ran-0" in w.markers(), what="the interrupted cell to end")
    wait_until(lambda: client.get_process("nb").status == "running", what="status running")
    # The cell's close is a write of its own, after the running report.
    wait_until(lambda: client.get_code_items("nb")[0].status == "stopped", what="cell closed")
    # The pause is still asked for: the next checkpoint pauses, and resume works.
    w.run_cell(1, "vault.checkpoint_execution()\nprint('resumed')")
    wait_until(lambda: client.get_process("nb").status == "paused", what="the next pause")
    client.resume_execution("nb", wait=True, timeout=10)
    wait_until(lambda: "ran-1" in w.markers(), what="the cell to finish after resume")
    (w.workdir / "quit").write_text("")
    assert w.wait_exit(20) == 0


def test_the_kernel_says_pause_and_stop_and_the_cli_says_the_cell_stopped(
    kernel_env, client, redis_url, namespace, tmp_path
):
    from test_cli import Cli

    go = tmp_path / "go"
    nb = make_notebook(
        "import os\nfrom tablevault_redis import Vault\n"
        "vault = Vault('nb-user', 'nb4', namespace=os.environ['TEST_NAMESPACE'])",
        LOOP,
        f"import time\nwhile not os.path.exists({str(go)!r}):\n    time.sleep(0.01)",
    )
    thread, errors = run_notebook_in_thread(nb)
    wait_until(
        lambda: (
            any(i.status == "open" for i in client.get_code_items("nb4"))
            if client.list_processes()
            else False
        ),
        timeout=60,
        what="the loop cell to start",
    )
    client.pause_execution("nb4", wait=True, timeout=10)
    client.resume_execution("nb4", wait=True, timeout=10)
    out = Cli(redis_url, namespace).ok("stop", "nb4", "--wait", "--timeout", "10")
    assert "the running cell was stopped; the kernel is idle" in out
    go.write_text("")
    thread.join(60)
    assert not thread.is_alive() and not errors, errors
    stderr = "".join(o.get("text", "") for o in nb.cells[1].outputs if o.get("name") == "stderr")
    me = client.requester
    assert [ln for ln in stderr.splitlines() if ln.startswith("tablevault-redis")] == [
        f"tablevault-redis: paused by {me} at a checkpoint; waiting for resume",
        "tablevault-redis: resumed; running again",
        f"tablevault-redis: stopped by {me} at a checkpoint; the running cell ends; "
        "the kernel stays",
    ]
