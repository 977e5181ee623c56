"""compose.yaml (docs/deployment.md): its topology, and the same topology run as plain processes.

There is no container engine in the test environment, so the second test runs what
the containers would run: a private redis-server stands in for the ``redis``
service, and each app service's ``command`` runs as a subprocess of this checkout
with ``TABLEVAULT_REDIS_URL`` pointed at it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import ROOT, child_env
from servers import RedisServer

from tablevault_redis import VaultClient

COMPOSE = ROOT / "compose.yaml"
URL = "redis://redis:6379/0"
APPS = ("controller", "worker-1", "worker-2")
RUN_TIMEOUT = 90.0  # seconds for the controller's whole run; it takes a few


def load() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, Any]:
    return load()["services"]


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (cond or {}).get("condition", "service_started") for name, cond in deps.items()}


def test_topology_redis_controller_and_two_workers():
    svc = services()
    assert set(svc) == {"redis", *APPS}
    redis_svc = svc["redis"]
    assert re.fullmatch(r"redis:7(\.\d+)*(-\w+)?", redis_svc["image"])
    assert redis_svc["command"][:1] == ["redis-server"]
    assert "--appendonly" in redis_svc["command"] and "yes" in redis_svc["command"]
    assert any(v.endswith(":/data") for v in redis_svc["volumes"])
    assert "redis-cli" in redis_svc["healthcheck"]["test"]
    assert set(load()["volumes"]) == {"redis-data"}

    for name in APPS:
        app = svc[name]
        # Configured only through TABLEVAULT_REDIS_URL: no other variable, no env
        # file, no mounted configuration.
        assert app["environment"] == {"TABLEVAULT_REDIS_URL": URL}, name
        assert not {"env_file", "volumes", "configs", "secrets"} & set(app), name
        assert depends_on(app)["redis"] == "service_healthy", name
        build = app["build"]
        dockerfile = ROOT / build["context"] / build["dockerfile"]
        assert dockerfile.is_file(), dockerfile
        command = app["command"]
        assert command[0] == "python" and (ROOT / command[1]).is_file(), command
    assert depends_on(svc["controller"]) == {
        "redis": "service_healthy",
        "worker-1": "service_started",
        "worker-2": "service_started",
    }
    assert svc["worker-1"]["command"][2:] == ["worker-1"]
    assert svc["worker-2"]["command"][2:] == ["worker-2"]
    assert svc["controller"]["command"][2:] == ["worker-1", "worker-2"]


def test_dockerfile_copies_what_exists_and_installs_the_project():
    build = services()["controller"]["build"]
    text = (ROOT / build["context"] / build["dockerfile"]).read_text()
    assert re.search(r"^FROM python:3\.1[1-9]", text, re.MULTILINE)
    for line in text.splitlines():
        if line.startswith("COPY "):
            *sources, _dest = line.split()[1:]
            for source in sources:
                assert (ROOT / build["context"] / source).exists(), line
    assert re.search(r"^RUN pip install .*\s\.$", text, re.MULTILINE)


def _popen(command: list[str], url: str) -> subprocess.Popen[str]:
    argv = [sys.executable if i == 0 and tok == "python" else tok for i, tok in enumerate(command)]
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env=child_env(url),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def compose_redis() -> Any:
    """The ``redis`` service: a private server with the same append-only setting."""
    with RedisServer({"appendonly": "yes"}) as server:
        yield server


@pytest.mark.slow
def test_the_topology_runs_as_processes(compose_redis: RedisServer, tmp_path: Path):
    svc = services()
    url = compose_redis.url
    procs: dict[str, subprocess.Popen[str]] = {}
    try:
        # Started in compose's order: the workers, then the controller.
        for name in ("worker-1", "worker-2", "controller"):
            env = svc[name]["environment"]
            assert env["TABLEVAULT_REDIS_URL"] == URL  # rewritten to the private server
            procs[name] = _popen(svc[name]["command"], url)
        out, _ = procs["controller"].communicate(timeout=RUN_TIMEOUT)
        assert procs["controller"].returncode == 0, out
        for worker in ("worker-1", "worker-2"):
            assert f"{worker} paused at epoch" in out and f"{worker} resumed" in out, out
            assert f"{worker} is stopped" in out, out
            w_out, _ = procs[worker].communicate(timeout=RUN_TIMEOUT)
            assert procs[worker].returncode == 0, w_out
        with VaultClient(url) as client:
            for worker in ("worker-1", "worker-2"):
                info = client.get_process(worker)
                assert info.status == "stopped" and not info.alive
                assert info.stopped_by and info.stopped_by.startswith("client:")
                assert info.user_id == "compose"
                (item,) = client.get_code_items(worker)
                assert item.status == "stopped"
                assert "checkpoint_execution" in item.text
                assert client.query_item_list(f"{worker}-loss")["n_items"] > 3
            assert {p.name for p in client.list_processes()} == {"worker-1", "worker-2"}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
            if proc.stdout:
                proc.stdout.close()
