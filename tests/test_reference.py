"""Every example of the TableVault process-management page runs unchanged.

``tests/reference/*.py`` hold the page's examples with only the import changed; a
few lines around them define what the page leaves out (``train_epoch``, the
spawning of the child). The first test checks that the examples are verbatim.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import child_env, wait_until

from tablevault_redis import VaultClient

REF = Path(__file__).resolve().parent / "reference"
EXAMPLES = sorted(p.name for p in REF.glob("*.py"))


def _code_lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def example_block(path: Path) -> list[str]:
    """The lines after the ``# --- the page's example`` marker (the whole file if none)."""
    text = path.read_text()
    lines = text.splitlines()
    start = next((i + 1 for i, ln in enumerate(lines) if ln.startswith("# --- the page")), 0)
    end = next((i for i, ln in enumerate(lines) if ln.startswith("# --- end")), len(lines))
    block = "\n".join(lines[start:end]).replace(
        "from tablevault_redis import", "from tablevault import"
    )
    return [ln.split("  # noqa")[0] for ln in _code_lines(block)]


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_are_the_pages_own(name):
    page = _code_lines((REF / "tablevault-process-management.txt").read_text())
    block = example_block(REF / name)
    assert block
    n = len(block)
    # Every run of the page's code lines the example uses appears on the page in order.
    i = 0
    while i < n:
        found = False
        for j in range(n, i, -1):
            seg = block[i:j]
            if any(page[k : k + len(seg)] == seg for k in range(len(page))):
                i = j
                found = True
                break
        assert found, f"{name}: line not on the page: {block[i]!r}"


def run_example(name: str, url: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REF / name)],
        env=child_env(url),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_example(spawner, name: str, url: str) -> subprocess.Popen:
    return spawner.run([sys.executable, str(REF / name)], env=child_env(url))


def wait_running(c: VaultClient, name: str) -> None:
    def running() -> bool:
        try:
            return c.get_process(name).status == "running"
        except Exception:
            return False

    wait_until(running, timeout=20, what=f"{name} to run")


@pytest.mark.slow
def test_controller_stops_pauses_and_resumes_workers(spawner, fresh_redis):
    url = fresh_redis.url
    worker = start_example(spawner, "worker.py", url)
    ingestion = start_example(spawner, "checkpoints.py", url)
    with VaultClient(url) as c:  # the examples use the default namespace "tv"
        wait_running(c, "slow_experiment")
        wait_running(c, "data_ingestion")
        r = run_example("controller.py", url)
        assert r.returncode == 0, r.stderr
        assert "Active operations:" in r.stdout
        assert worker.wait(20) == 0
        assert c.get_process("slow_experiment").status == "stopped"
        assert c.get_process("slow_experiment").stopped_by == "controller"
        # Paused, then resumed: data ingestion goes on.
        info = c.get_process("data_ingestion")
        assert info.alive and info.interrupt_action is None
        wait_until(lambda: c.get_process("data_ingestion").status == "running")
        logs = c.query_item_content("training_logs")
        assert [r["epoch"] for r in logs] == list(range(len(logs)))
        assert len(logs) >= 1
        c.stop_execution("data_ingestion", wait=True, timeout=10)
        assert ingestion.wait(20) == 0
        assert c.query_item_content("results")[0] == {"batch": 0, "rows": 0}


@pytest.mark.slow
def test_stop_pause_resume_snippets(spawner, fresh_redis):
    url = fresh_redis.url
    exp = spawner.worker(url, "tv", "experiment_process").wait_ready()
    pipe = spawner.worker(url, "tv", "data_pipeline").wait_ready()
    r = run_example("process_a.py", url)
    assert r.returncode == 0, r.stderr
    assert exp.wait_exit() == 0
    with VaultClient(url) as c:
        assert c.get_process("experiment_process").stopped_by == "process_a"
        wait_until(lambda: c.get_process("data_pipeline").status == "running")
        pipe.advancing()


@pytest.mark.slow
def test_parent_child_cleanup_and_queries(fresh_redis):
    url = fresh_redis.url
    r = run_example("parent.py", url)
    assert r.returncode == 0, r.stderr
    with VaultClient(url) as c:
        child = c.get_process("experiment_run_1")
        assert (child.parent_process_name, child.parent_process_index) == (
            "hyperparameter_search",
            0,
        )
        assert [p.name for p in c.list_children("hyperparameter_search")] == ["experiment_run_1"]
    r = run_example("cleanup_and_query.py", url)
    assert r.returncode == 0, r.stderr
    import json

    found = json.loads(r.stdout.strip().splitlines()[-1])
    assert found["children"] == [["experiment_run_1", 0, 0, [], [["hyperparameter_search", 0]]]]
