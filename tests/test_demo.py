"""Zero set-up: the README's demo and the embedded server shared by many processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from conftest import servers_in
from helpers import ROOT, wait_until

from tablevault_redis import NotFoundError, VaultClient
from tablevault_redis.embedded import ensure_server, stop_server

pytestmark = pytest.mark.slow  # every test here starts subprocesses


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABLEVAULT_")}
    env["PYTHONPATH"] = str(ROOT)
    return {**env, **extra}


def test_readme_demo_runs_to_the_end(home):
    started = time.monotonic()
    r = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(frozen)" in r.stdout and "Done in" in r.stdout
    assert time.monotonic() - started < 60
    assert len(servers_in(home.state_dir)) == 1  # the server is left for the next process
    with VaultClient(namespace="demo") as c:
        assert {p.name: p.status for p in c.list_processes()} == {
            "controller": "completed",
            "trainer-1": "stopped",
            "trainer-2": "stopped",
        }


def _running(client: VaultClient, name: str) -> bool:
    """Running; False while the process has not registered yet (a slow start)."""
    try:
        return client.get_process(name).status == "running"
    except NotFoundError:
        return False


def test_processes_started_together_share_one_embedded_server(home, tmp_path, namespace):
    go = tmp_path / "go"
    worker = (
        "import os, sys, time\n"
        "from tablevault_redis import Vault\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.002)\n"
        f"v = Vault('u', sys.argv[1], namespace={namespace!r})\n"
        "while True:\n"
        "    time.sleep(0.01)\n"
        "    v.checkpoint_execution()\n"
    )
    controller = (
        "import os, time\n"
        "from tablevault_redis import VaultClient, NotFoundError\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.002)\n"
        f"c = VaultClient(namespace={namespace!r})\n"
        "deadline = time.monotonic() + 30\n"
        "while True:\n"
        "    try:\n"
        "        c.stop_execution('w1', wait=True, timeout=10); break\n"
        "    except NotFoundError:\n"
        "        if time.monotonic() > deadline: raise\n"
        "        time.sleep(0.01)\n"
        "print('stopped w1')\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", worker, f"w{i}"], env=_env()) for i in (1, 2)]
    ctl = subprocess.Popen(
        [sys.executable, "-c", controller], env=_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        go.write_text("go")
        assert ctl.communicate(timeout=60)[0].strip() == "stopped w1"
        assert procs[0].wait(20) == 0
        assert len(servers_in(home.state_dir)) == 1
        with VaultClient(namespace=namespace) as c:
            wait_until(lambda: _running(c, "w2"), what="w2 running")
            c.stop_execution("w2", wait=True, timeout=10)
        assert procs[1].wait(20) == 0
    finally:
        for p in procs:
            p.kill()
    # The data outlives the server: stop it, start it again, read it back.
    assert stop_server()
    assert servers_in(home.state_dir) == []
    ensure_server()
    with VaultClient(namespace=namespace) as c:
        assert {p.name: p.status for p in c.list_processes()} == {"w1": "stopped", "w2": "stopped"}
        assert c.get_process("w1").stopped_by.startswith("client:")
