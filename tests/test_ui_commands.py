"""The ``ui`` and ``metrics`` commands as a user runs them: a subprocess that prints
its address (with the token for ``ui``), and their refusals (see docs/ui.md)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

pytest.importorskip("starlette", reason="pip install 'tablevault-redis[ui]'")

import httpx  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from helpers import child_env  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from ui_server import populate  # noqa: E402

from tablevault_redis import scripts  # noqa: E402
from tablevault_redis.cli import app as cli_app  # noqa: E402


def _cli(args: list[str], url: str, namespace: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tablevault_redis", *args, "--port", "0"],
        env=child_env(url, namespace, TABLEVAULT_NAMESPACE=namespace),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_ui_command_prints_a_link_with_its_token(spawner, redis_url, namespace, client):
    populate(client, 2)
    proc = _cli(["ui", "--read-only"], redis_url, namespace)
    spawner.procs.append(proc)
    assert proc.stdout is not None
    header = proc.stdout.readline()
    assert namespace in header and "read-only" in header
    link = re.search(r"http://127\.0\.0\.1:\d+/\?token=(\w+)", proc.stdout.readline())
    assert link, header
    base, token = link.group(0).split("/?")[0], link.group(1)
    assert httpx.get(base + "/api/processes").status_code == 401
    r = httpx.get(base + "/api/processes", headers={"Authorization": f"Bearer {token}"})
    assert [p["name"] for p in r.json()] == ["proc00000", "proc00001"]
    with httpx.Client() as browser:
        assert browser.get(link.group(0), follow_redirects=True).status_code == 200
        assert browser.get(base + "/api/processes").status_code == 200
    proc.terminate()
    proc.wait(10)


@pytest.mark.slow
def test_metrics_command_serves_a_scrape_target(spawner, redis_url, namespace, client):
    populate(client, 10, live_every=5)  # proc00000 and proc00005 live
    seq = client.pause_execution("proc00005")  # as the CLI or a script asks
    scripts.ack(client._conn, client.namespace, "proc00005", kind="paused", seq=seq)
    proc = _cli(["metrics"], redis_url, namespace)
    spawner.procs.append(proc)
    assert proc.stdout is not None
    proc.stdout.readline()
    url = proc.stdout.readline().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", url), url
    families = {f.name: f for f in text_string_to_metric_families(httpx.get(url).text)}
    running = [s for s in families["tablevault_processes"].samples
               if s.labels == {"namespace": namespace, "status": "running"}]  # fmt: skip
    assert running[0].value == 1
    latency = families["tablevault_request_action_latency_seconds"]
    assert latency.type == "histogram"
    assert [s.value for s in latency.samples if s.name.endswith("_count")] == [1]
    proc.terminate()
    proc.wait(10)


def test_commands_refuse_a_bad_namespace_and_an_unreachable_server():
    out = CliRunner().invoke(cli_app, ["ui", "--namespace", "a:b"])
    assert out.exit_code == 2
    out = CliRunner().invoke(cli_app, ["ui", "--url", "redis://127.0.0.1:1/0", "--port", "0"])
    assert out.exit_code == 1 and "cannot reach Redis" in out.output


def test_without_the_ui_extra_the_commands_say_how_to_install_it(monkeypatch):
    for module in ("starlette", "uvicorn", "prometheus_client"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    for module in ("app", "metrics", "api", "auth", "events", "views", "latency"):
        monkeypatch.delitem(sys.modules, f"tablevault_redis.ui.{module}", raising=False)
    for command in ("ui", "metrics"):
        out = CliRunner().invoke(cli_app, [command, "--port", "0"])
        assert out.exit_code == 1, out.output
        assert "pip install 'tablevault-redis[ui]'" in out.output
    assert CliRunner().invoke(cli_app, ["ui", "--help"]).exit_code == 0
