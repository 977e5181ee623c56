"""The dashboard through a real browser: how soon a status change shows, and how
fast the page loads with 10,000 processes.

Run from the repository root (starts its own redis-server on a free port, the
dashboard as ``tablevault-redis ui`` and a worker as subprocesses, and the system's
Chromium through Playwright)::

    .venv/bin/python benchmarks/bench_ui.py [--samples N] [--processes N] [--loads N]

Rows:

- ``status_change_to_page``: median time from a worker's status change (its record's
  ``paused_at``, written when it paused) to the process table in the page showing
  ``paused`` (a ``MutationObserver`` timestamps the row's change); the controller
  pauses through the library, not the page (target < 500 ms);
- ``page_load_10000_processes``: median time from opening the printed link to the
  first page of 50 rows and the total shown, with ``--processes`` records in the
  namespace (target < 2 s);
- ``api_processes_page_10000`` and ``metrics_scrape_10000``: median time of
  ``GET /api/processes?limit=100`` and ``GET /metrics`` at that size (no target).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import httpx  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from tablevault_redis import VaultClient  # noqa: E402

sys.path.insert(0, str(_common.ROOT / "tests"))
from helpers import child_env, wait_until  # noqa: E402
from ui_server import populate  # noqa: E402

NS = "benchui"
BIG = "benchbig"
TOKEN = "bench-token"
OBSERVER = """() => {
  window.__changes = [];
  new MutationObserver((list) => {
    for (const m of list) if (m.oldValue !== m.target.dataset.status)
      window.__changes.push({name: m.target.dataset.name, status: m.target.dataset.status,
                             t: Date.now() / 1000});
  }).observe(document.querySelector('#procs tbody'),
             {attributes: true, attributeOldValue: true, subtree: true,
              attributeFilter: ['data-status']});
}"""


def start_ui(url: str, namespaces: list[str]) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, "-m", "tablevault_redis", "ui", "--port", "0", "--token", TOKEN]
    for ns in namespaces:
        args += ["--namespace", ns]
    proc = subprocess.Popen(args, env=child_env(url), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    link = re.search(r"http://\S+", proc.stdout.readline())
    assert link, "no link printed"
    return proc, link.group(0)


def status_latency(page: Any, link: str, client: VaultClient, samples: int) -> list[float]:
    page.goto(link)
    page.wait_for_selector('tr[data-name="bench-worker"][data-status="running"]')
    page.evaluate(OBSERVER)
    out = []
    for i in range(samples):
        client.pause_execution("bench-worker", wait=True, timeout=10)
        changed = client.get_request_state("bench-worker").paused_at
        assert changed is not None
        wait_until(
            lambda i=i: (
                page.evaluate("() => window.__changes.filter(c => c.status === 'paused').length")
                > i
            ),
            10,
            what="the page to show paused",
        )
        shown = page.evaluate(
            "() => window.__changes.filter(c => c.status === 'paused').slice(-1)[0].t"
        )
        out.append(shown - changed)
        client.resume_execution("bench-worker", wait=True, timeout=10)
        page.wait_for_selector('tr[data-name="bench-worker"][data-status="running"]')
    return out


def page_loads(browser: Any, link: str, total: int, loads: int) -> list[float]:
    out = []
    for _ in range(loads):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        t0 = time.perf_counter()
        page.goto(link)
        page.wait_for_function(
            f"() => (document.querySelector('#range')?.textContent || '').endsWith('of {total}') "
            "&& document.querySelectorAll('#procs tbody tr').length === 50"
        )
        out.append(time.perf_counter() - t0)
        context.close()
    return out


def timed_get(base: str, path: str, repeat: int = 7) -> float:
    times = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        for _ in range(repeat):
            t0 = time.perf_counter()
            http.get(path).raise_for_status()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def result_rows(
    latencies: list[float], loads: list[float], api_s: float, metrics_s: float, processes: int
) -> list[dict[str, Any]]:
    lat, load = _common.summary(latencies), _common.summary(loads)
    return [
        _common.entry("status_change_to_page", lat["median"] * 1e3, "ms",
                      target="< 500 ms", met=lat["median"] < 0.5,
                      **{k: v * 1e3 if k != "n" else v for k, v in lat.items()}),
        _common.entry("page_load_10000_processes", load["median"], "s",
                      target="< 2 s", met=load["median"] < 2.0, **load, processes=processes),
        _common.entry("api_processes_page_10000", api_s * 1e3, "ms"),
        _common.entry("metrics_scrape_10000", metrics_s * 1e3, "ms"),
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--processes", type=int, default=10_000)
    ap.add_argument("--loads", type=int, default=5)
    opts = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("needs Chromium: apt-get install -y chromium chromium-driver")
    with _common.private_redis() as server:
        workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-ui-{os.getpid()}"
        workdir.mkdir(exist_ok=True)
        worker = subprocess.Popen(
            [sys.executable, str(_common.ROOT / "tests/scripts/worker.py"), "bench-worker",
             str(workdir)],
            env=child_env(server.url, NS),
        )  # fmt: skip
        client, big = VaultClient(server.url, NS), VaultClient(server.url, BIG)
        populate(big, opts.processes)
        ui, link = start_ui(server.url, [NS, BIG])
        try:
            wait_until(lambda: (workdir / "markers").exists(), 15, what="the worker")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                page = browser.new_page()
                latencies = status_latency(page, link, client, opts.samples)
                loads = page_loads(browser, f"{link}&namespace={BIG}", opts.processes, opts.loads)
                browser.close()
            base = link.split("/?")[0]
            api_s = timed_get(base, f"/api/processes?namespace={BIG}&limit=100")
            metrics_s = timed_get(base, "/metrics")
        finally:
            client.stop_execution("bench-worker")
            ui.terminate()
            ui.wait(10)
            worker.wait(10)
            client.close()
            big.close()
        rows = result_rows(latencies, loads, api_s, metrics_s, opts.processes)
        doc = {
            "benchmarks": rows,
            "machine": _common.machine_info(redis=_common.redis_version(server)),
            "diagnostics": {"feed_interval_s": 0.2, "samples": opts.samples},
        }
    _common.emit("bench_ui", doc)


if __name__ == "__main__":
    main()
