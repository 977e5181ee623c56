"""The dashboard in a real headless Chromium (Playwright driving the system's
browser): a live worker appears, Pause shows the request pending then the process
paused, Resume, Stop; a plot grows while workers append; 10,000 processes page.

Screenshots of each page go to ``test-artifacts/ui/`` (git-ignored) and the test's
tmp dir. Needs Chromium from the system packages (Debian: ``apt-get install -y
chromium chromium-driver``) and ``pip install playwright`` (no ``playwright
install``: the system's browser is used).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="pip install 'tablevault-redis[ui]'")

from helpers import wait_until  # noqa: E402
from ui_server import Dashboard, populate  # noqa: E402

from tablevault_redis import scripts  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
INSTALL = (
    "needs Chromium from the system packages and Playwright for Python: "
    "apt-get install -y chromium chromium-driver && pip install playwright"
)
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None or sync_playwright is None, reason=INSTALL),
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "ui"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    p.set_default_timeout(10_000)
    yield p
    context.close()


def shot(page, tmp_path: Path, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def test_watch_and_steer_a_live_worker(page, spawner, redis_url, namespace, client, tmp_path):
    with Dashboard(redis_url, [namespace]) as d:
        page.goto(d.login_url("/"))
        expect(page.locator("#live")).to_have_text("live")
        w = spawner.worker(redis_url, namespace, "train-a", "--hold").wait_ready()
        row = page.locator('tr[data-name="train-a"]')
        expect(row).to_have_attribute("data-status", "running")
        # Held before its loop, the worker reaches no checkpoint: the pause stays pending.
        row.get_by_role("button", name="Pause").click()
        expect(row.locator("button.waiting")).to_have_text("Pausing\u2026")
        expect(row.locator('td[data-col="request"]')).to_contain_text("pause pending")
        shot(page, tmp_path, "processes-pause-pending")
        w.release()
        expect(row).to_have_attribute("data-status", "paused")
        expect(row.get_by_role("button", name="Resume")).to_be_visible()
        assert client.get_process("train-a").status == "paused"
        frozen = w.progress()
        shot(page, tmp_path, "processes")

        row.get_by_role("link", name="train-a").click()
        badge = page.locator("#p-status .badge")
        expect(badge).to_have_text("paused")
        expect(page.locator("#p-code pre").first).to_contain_text("checkpoint_execution")
        page.get_by_role("button", name="Resume").click()
        expect(badge).to_have_text("running")
        wait_until(lambda: w.progress() > frozen, 5, what="the worker to go on")
        shot(page, tmp_path, "process")
        page.get_by_role("button", name="Stop").click()
        expect(badge).to_have_text("stopped")
        assert w.wait_exit() == 0
        expect(page.locator("#p-log tbody tr")).to_have_count(3)
        expect(page.locator('#p-log tbody tr[data-outcome="acted"]')).to_have_count(3)
        expect(page.locator('#p-code [data-status="stopped"]')).to_be_visible()
        shot(page, tmp_path, "process-stopped")


def test_a_plot_grows_while_workers_append(page, spawner, redis_url, namespace, client, tmp_path):
    workers = [
        spawner.worker(redis_url, namespace, name, "curve", script="trainer.py").wait_ready()
        for name in ("run-1", "run-2")
    ]
    wait_until(lambda: all(w.progress() > 3 for w in workers), 10, what="first records")
    with Dashboard(redis_url, [namespace]) as d:
        page.goto(d.login_url(f"/list?name=curve&namespace={namespace}"))
        plot = page.locator("#plot")
        expect(page.locator("#split")).to_have_value("_process")  # from the records' lineage
        expect(plot).to_have_attribute("data-series", "2")  # one line per process
        expect(page.locator("#y")).to_have_value("loss")
        first = int(plot.get_attribute("data-points") or 0)
        assert first > 0
        wait_until(
            lambda: int(plot.get_attribute("data-points") or 0) >= first + 10,
            10,
            what="the plot to grow",
        )
        expect(page.locator("#legend")).to_contain_text("run-1")
        expect(page.locator("#last tbody tr").first).to_be_visible()
        assert page.locator("#csv").get_attribute("href").startswith("/api/lists/curve/export.csv")
        shot(page, tmp_path, "record-list")
        page.select_option("#x", "step")
        expect(page.locator("svg.plot text").last).to_have_text("loss")
        for w in workers:
            client.stop_execution(w.name, wait=True, timeout=10)


def test_ten_thousand_processes_page(page, redis_url, namespace, client, tmp_path):
    populate(client, 10_000)
    with Dashboard(redis_url, [namespace]) as d:
        start = time.perf_counter()
        page.goto(d.login_url("/"))
        expect(page.locator("#range")).to_have_text("1\u201350 of 10000")
        expect(page.locator("#procs tbody tr")).to_have_count(50)
        loaded = time.perf_counter() - start
        page.select_option("#f-status", "running")
        expect(page.locator("#range")).to_have_text("1\u201350 of 1000")
        page.locator("#next").click()
        expect(page.locator("#range")).to_have_text("51\u2013100 of 1000")
        shot(page, tmp_path, "processes-10000")
    assert loaded < 10, f"page with 10,000 processes took {loaded:.2f} s"


def test_read_only_page_has_no_buttons(page, redis_url, namespace, client, tmp_path):
    populate(client, 5, live_every=1)
    with Dashboard(redis_url, [namespace], read_only=True) as d:
        page.goto(d.login_url("/"))
        expect(page.locator("#procs tbody tr")).to_have_count(5)
        expect(page.locator("#mode")).to_have_text("read-only")
        expect(page.locator("button[data-action]")).to_have_count(0)
        client.pause_execution("proc00000")  # asked elsewhere (CLI, API), never acted on
        page.goto(f"{d.base}/process?name=proc00000&namespace={namespace}")
        expect(page.locator("#p-status .badge")).to_have_text("running")
        expect(page.locator("button[data-action]")).to_have_count(0)
        expect(page.locator('#p-log tbody tr[data-outcome="pending"]')).to_contain_text("pause")
        shot(page, tmp_path, "process-read-only")
        # It ends without reaching a checkpoint: the page says the pause never acted.
        scripts.finish(client._conn, namespace, "proc00000", status="completed", token="host:0:tok")
        expect(page.locator("#p-status .badge")).to_have_text("completed")
        expect(page.locator('[data-fact="never acted on"]')).to_contain_text("pause by")
        expect(page.locator("#p-log tbody tr").first).to_have_attribute(
            "data-outcome", "not acted on: the process ended (completed)"
        )


def test_a_namespace_filter_with_several(page, redis_url, namespace, client, tmp_path):
    from tablevault_redis import VaultClient

    second = namespace + "y"
    populate(client, 2)
    with VaultClient(redis_url, second) as other:
        populate(other, 3)
    with Dashboard(redis_url, [namespace, second]) as d:
        page.goto(d.login_url("/"))
        expect(page.locator("#procs tbody tr")).to_have_count(2)
        page.select_option("#ns", second)
        expect(page.locator("#procs tbody tr")).to_have_count(3)
        shot(page, tmp_path, "processes-namespaces")


def test_the_tree_puts_children_under_their_parent(page, redis_url, namespace, client, tmp_path):
    from tablevault_redis import keys

    populate(client, 3)
    child = keys.proc(namespace, "proc00002")
    client.redis.hset(child, mapping={"parent_process_name": "proc00000"})
    with Dashboard(redis_url, [namespace]) as d:
        page.goto(d.login_url("/"))
        rows = page.locator("#procs tbody tr")
        expect(rows).to_have_count(3)
        assert rows.evaluate_all("rs => rs.map(r => r.dataset.name)") == [
            "proc00002", "proc00001", "proc00000"
        ]  # fmt: skip
        page.check("#f-tree")
        expect(rows.last).to_have_attribute("data-name", "proc00002")
        assert rows.evaluate_all("rs => rs.map(r => r.dataset.name)") == [
            "proc00001", "proc00000", "proc00002"
        ]  # fmt: skip
        expect(rows.last.locator('td[data-col="name"]')).to_contain_text("\u2514")
        expect(rows.last.locator('td[data-col="parent"]')).to_contain_text("proc00000")
        shot(page, tmp_path, "processes-tree")
