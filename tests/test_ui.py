"""The dashboard over real HTTP against real Redis: the JSON API, the token and CSRF
rules, read-only mode (also with a read-only ACL user), namespace isolation, the
live feed and the Prometheus metrics (see docs/ui.md)."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

pytest.importorskip("starlette", reason="pip install 'tablevault-redis[ui]'")

from click.testing import CliRunner  # noqa: E402
from helpers import wait_until  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from servers import RedisServer  # noqa: E402
from ui_server import TOKEN, Dashboard, populate  # noqa: E402

from tablevault_redis import VaultClient, keys, scripts  # noqa: E402
from tablevault_redis.cli import app as cli_app  # noqa: E402


@pytest.fixture
def dash(redis_url, namespace):
    with Dashboard(redis_url, [namespace]) as d:
        yield d


def _request_state(client: VaultClient, name: str) -> tuple[int, str | None]:
    state = client.get_request_state(name)
    return state.request_seq, state.pending_action


# --------------------------------------------------------------------------- token


def test_every_route_needs_the_token(dash, client):
    populate(client, 3)
    with dash.http(headers={}) as anon:
        for path in ("/", "/process?name=proc00000", "/api/processes", "/api/lists", "/metrics",
                     "/api/processes/proc00000", "/api/events/table"):  # fmt: skip
            r = anon.get(path)
            assert r.status_code == 401, path
            assert r.headers["www-authenticate"] == "Bearer"
        assert (
            anon.get("/api/processes", headers={"Authorization": "Bearer nope"}).status_code == 401
        )
    with dash.http(headers={}, cookies={f"tablevault_ui_{dash.config.port}": "x"}) as forged:
        assert forged.get("/api/processes").status_code == 401
    with dash.http(headers={}) as anon:
        assert anon.get("/static/common.js").status_code == 200  # the code is not secret
    with dash.http() as http:
        assert http.get("/api/processes").status_code == 200


def test_control_without_the_token_is_refused_and_changes_nothing(dash, client):
    populate(client, 1, live_every=1)
    before = _request_state(client, "proc00000")
    with dash.http(headers={}) as anon:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            r = anon.post("/api/processes/proc00000/pause", headers=headers)
            assert r.status_code in (401, 403), r.text
    assert _request_state(client, "proc00000") == before == (0, None)


def test_the_printed_link_sets_a_strict_httponly_cookie(dash, client):
    populate(client, 1, live_every=1)
    with dash.http(headers={}, follow_redirects=False) as browser:
        r = browser.get(f"/list?name=x&token={TOKEN}")
        assert r.status_code == 303
        assert r.headers["location"] == "/list?name=x"  # the token leaves the address bar
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert browser.get("/api/processes").status_code == 200  # the cookie authenticates
        # A cookie alone cannot change anything: a state change needs the custom header.
        r = browser.post("/api/processes/proc00000/pause")
        assert r.status_code == 403 and "X-TableVault-UI" in r.json()["error"]
        assert _request_state(client, "proc00000") == (0, None)
        r = browser.post(
            "/api/processes/proc00000/pause",
            headers={"X-TableVault-UI": "1", "Origin": "http://evil.example"},
        )
        assert r.status_code == 403
        assert _request_state(client, "proc00000") == (0, None)
        r = browser.post("/api/processes/proc00000/pause", headers={"X-TableVault-UI": "1"})
        assert r.status_code == 202
    assert client.get_process("proc00000").interrupt_action == "pause"
    with dash.http(headers={}) as anon:
        assert anon.get(f"/?token=wrong{TOKEN}").status_code == 401


# --------------------------------------------------------------------------- API


def test_processes_are_the_objects_of_ps_json(dash, client, redis_url, namespace):
    populate(client, 30)
    out = CliRunner().invoke(
        cli_app, ["ps", "--all", "--json", "--url", redis_url, "--namespace", namespace]
    )
    assert out.exit_code == 0, out.output
    with dash.http() as http:
        r = http.get("/api/processes")
        assert r.status_code == 200
        assert r.json() == json.loads(out.stdout)
        assert r.headers["x-total-count"] == "30"
        one = http.get("/api/processes/proc00007")
        assert one.json() == client.get_process("proc00007").to_dict()
        assert http.get("/api/processes/nobody").status_code == 404
        assert http.get("/api/processes/bad{name}").status_code == 400


def test_process_paging_filters_and_bad_arguments(dash, client):
    populate(client, 250)
    with dash.http() as http:
        r = http.get("/api/processes", params={"offset": 200, "limit": 100})
        assert [p["name"] for p in r.json()] == [f"proc{i:05d}" for i in range(200, 250)]
        assert r.headers["x-total-count"] == "250"
        newest = http.get("/api/processes", params={"order": "newest", "limit": 2}).json()
        assert [p["name"] for p in newest] == ["proc00249", "proc00248"]
        live = http.get("/api/processes", params={"status": "alive", "limit": 1000})
        assert live.headers["x-total-count"] == "25"
        assert all(p["alive"] and p["status"] == "running" for p in live.json())
        mine = http.get("/api/processes", params={"user": "user1", "status": "completed"})
        assert mine.json() and all(
            p["user_id"] == "user1" and p["status"] == "completed" for p in mine.json()
        )
        for bad in ({"limit": 0}, {"limit": "x"}, {"offset": -1}, {"status": "asleep"},
                    {"order": "random"}, {"limit": 100_000}):  # fmt: skip
            r = http.get("/api/processes", params=bad)
            assert r.status_code == 400, bad
            assert r.json()["error"]


def test_control_returns_once_requested_and_refuses_what_the_state_forbids(dash, client):
    populate(client, 2, live_every=2)  # proc00000 live, proc00001 completed
    with dash.http() as http:
        r = http.post("/api/processes/proc00000/pause")
        assert r.status_code == 202
        assert r.json() == {"namespace": client.namespace, "name": "proc00000",
                            "action": "pause", "seq": 1}  # fmt: skip
        assert client.get_process("proc00000").interrupt_request.startswith("ui:")
        assert http.post("/api/processes/proc00000/pause").status_code == 409
        assert http.post("/api/processes/proc00000/resume").status_code == 202
        assert http.post("/api/processes/proc00000/resume").status_code == 409
        assert http.post("/api/processes/proc00001/stop").status_code == 409
        assert http.post("/api/processes/ghost/stop").status_code == 404
        assert http.post("/api/processes/proc00000/explode").status_code == 404
        assert http.get("/api/processes/proc00000/pause").status_code == 404
        log = http.get("/api/view/process/proc00000").json()["requests"]["log"]
        assert [e["action"] for e in log] == ["resume", "pause"]


def test_record_pages_and_exports(dash, client):
    rows = [{"step": i, "loss": 1 / (i + 1), "tag": f"t,{i}", "extra": [i]} for i in range(250)]
    for record in rows:
        client.append_record("curve/a", record)
    with dash.http() as http:
        r = http.get("/api/lists/curve/a/records", params={"offset": 100, "limit": 50})
        assert r.status_code == 200
        assert r.json() == rows[100:150]
        assert r.headers["x-total-count"] == "250"
        assert http.get("/api/lists/curve/a/records").json() == rows[:100]
        assert http.get("/api/lists/curve/a/records", params={"offset": 999}).json() == []
        assert http.get("/api/lists/nothing/records").status_code == 404
        assert http.get("/api/lists/curve/a/records", params={"limit": 5000}).status_code == 400
        assert http.get("/api/lists").json() == [
            {"name": "curve/a", "count": 250, "columns": ["step", "loss", "tag", "extra"]}
        ]
        exported = http.get("/api/lists/curve/a/export.json")
        assert "attachment" in exported.headers["content-disposition"]
        assert exported.json() == rows
        table = list(csv.DictReader(io.StringIO(http.get("/api/lists/curve/a/export.csv").text)))
        assert len(table) == 250
        assert table[7] == {"index": "7", "step": "7", "loss": str(1 / 8), "tag": "t,7",
                            "extra": "[7]"}  # fmt: skip


def test_the_live_feed_pushes_changes(dash, client):
    populate(client, 3, live_every=1)
    with (
        dash.http() as http,
        http.stream("GET", "/api/events/table", params={"limit": 10, "order": "oldest"}) as feed,
    ):
        assert feed.headers["content-type"].startswith("text/event-stream")
        events = _events(feed.iter_lines())
        first = next(events)
        assert [r["name"] for r in first["rows"]] == ["proc00000", "proc00001", "proc00002"]
        assert first["total"] == 3 and first["counts"] == {"running": 3}
        client.pause_execution("proc00001")
        for update in events:
            if update["rows"][1]["interrupt_action"] == "pause":
                break


def test_status_counts_agree_with_the_rows_shown(dash, client):
    populate(client, 3, live_every=1)
    with dash.http() as http:
        assert http.get("/api/view/table").json()["counts"] == {"running": 3}
        seq = client.pause_execution("proc00001")  # within the summaries' second
        scripts.ack(client._conn, client.namespace, "proc00001", kind="paused", seq=seq)
        view = http.get("/api/view/table").json()
    assert [r["status"] for r in view["rows"]] == ["running", "paused", "running"]
    assert view["counts"] == {"running": 2, "paused": 1}


def _events(lines):
    name = None
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: ") and name == "update":
            yield json.loads(line[6:])


def test_the_request_history_shows_requests_made_anywhere(dash, client):
    """Requests made through the API or the CLI, not only this dashboard, with what
    became of each; the process acting is played by its acknowledgement script."""
    populate(client, 1, live_every=1)
    conn, ns, name = client._conn, client.namespace, "proc00000"
    pause = client.pause_execution(name)
    scripts.ack(conn, ns, name, kind="paused", seq=pause, now=time.time() + 0.25)
    resume = client.resume_execution(name)
    scripts.ack(conn, ns, name, kind="running", seq=resume)
    client.pause_execution(name)
    client.withdraw_request(name)
    with dash.http() as http:
        assert http.post(f"/api/processes/{name}/stop").status_code == 202
        rows = http.get(f"/api/view/process/{name}").json()["requests"]["history"]
    assert [(r["action"], r["seq"], r["outcome"].split(" by ")[0]) for r in rows] == [
        ("stop", 5, "pending"),
        ("pause", 3, "withdrawn"),
        ("resume", 2, "acted"),
        ("pause", 1, "acted"),
    ]
    assert rows[0]["via"] == "ui:127.0.0.1" and rows[0]["by"].startswith("ui:")
    assert rows[1]["via"] is None and rows[1]["by"] == client.requester
    assert 0.2 < rows[3]["latency"] < 5 and rows[3]["acted_at"] > rows[3]["requested_at"]
    conn.client.lpush(keys.requests(ns, name), "not json", "[1]", '{"event": "x"}')
    assert len(client.request_history(name)) == 7  # what is not an entry is skipped
    assert client.request_history("nobody") == []


def test_latency_counts_requests_made_anywhere_once(dash, client):
    populate(client, 2, live_every=1)
    conn, ns = client._conn, client.namespace
    for name in ("proc00000", "proc00001"):
        seq = client.pause_execution(name)
        scripts.ack(conn, ns, name, kind="paused", seq=seq)

    def counts(text: str) -> dict[str, float]:
        return {s.labels["action"]: s.value for f in text_string_to_metric_families(text)
                if f.name == "tablevault_request_action_latency_seconds"
                for s in f.samples if s.name.endswith("_count")}  # fmt: skip

    with dash.http() as http:
        assert counts(http.get("/metrics").text) == {"pause": 2}
        scripts.finish(conn, ns, "proc00001", status="completed", token="host:1:tok")
        seq = client.stop_execution("proc00000")
        scripts.ack(conn, ns, "proc00000", kind="stopping", seq=seq)
        scripts.finish(conn, ns, "proc00000", status="stopped", token="host:0:tok")
        # Ended since the last scrape: still read once, and nothing counts twice.
        assert counts(http.get("/metrics").text) == {"pause": 2, "stop": 1}
        assert counts(http.get("/metrics").text) == {"pause": 2, "stop": 1}


# --------------------------------------------------------------------------- isolation


def test_no_request_reaches_another_namespace(redis_server, redis_url, namespace):
    other = namespace + "x"
    with VaultClient(redis_url, other) as theirs, VaultClient(redis_url, namespace) as mine:
        populate(theirs, 2, live_every=1)
        theirs.append_record("secret", {"v": 1})
        populate(mine, 2, live_every=1)
        with Dashboard(redis_url, [namespace]) as d, d.http() as http:
            monitor = redis_server.client()
            with monitor.monitor() as m:
                for method, path in (
                    ("GET", "/api/processes"),
                    ("GET", "/api/processes/proc00000"),
                    ("POST", "/api/processes/proc00000/pause"),
                    ("GET", "/api/lists/secret/records"),
                    ("GET", "/api/events/list/secret"),
                ):
                    r = http.request(method, path, params={"namespace": other})
                    assert r.status_code == 404, (method, path)
                    assert "not shown" in r.json()["error"]
                assert http.get("/api/lists").json() == []
                http.get("/metrics")
                http.post("/api/processes/proc00000/resume")  # no pending request: 409
                marker = f"tablevault-ui-test-end-{namespace}"
                mine.redis.echo(marker)
                seen = []
                for command in m.listen():
                    seen.append(command["command"])
                    if marker in command["command"]:
                        break
            monitor.close()
        assert seen and not [c for c in seen if other in c]
        assert _request_state(theirs, "proc00000") == (0, None)


def test_several_namespaces_one_at_a_time(redis_url, namespace):
    second = namespace + "y"
    with VaultClient(redis_url, namespace) as one, VaultClient(redis_url, second) as two:
        populate(one, 2)
        populate(two, 3)
        with Dashboard(redis_url, [namespace, second]) as d, d.http() as http:
            assert http.get("/api/config").json()["namespaces"] == [namespace, second]
            assert http.get("/api/processes").headers["x-total-count"] == "2"  # the first
            r = http.get("/api/processes", params={"namespace": second})
            assert r.headers["x-total-count"] == "3"
            view = http.get("/api/view/table", params={"namespace": second}).json()
            assert view["namespace"] == second and view["total"] == 3


# --------------------------------------------------------------------------- read-only


def test_read_only_mode_has_no_control(redis_url, namespace, client):
    populate(client, 1, live_every=1)
    with Dashboard(redis_url, [namespace], read_only=True) as d, d.http() as http:
        assert http.get("/api/config").json()["read_only"] is True
        for action in ("pause", "stop", "resume"):
            r = http.post(f"/api/processes/proc00000/{action}")
            assert r.status_code == 403 and "read-only" in r.json()["error"]
    assert _request_state(client, "proc00000") == (0, None)


def test_read_only_works_with_a_read_only_acl_user(namespace):
    viewer = f"viewer on >v ~{namespace}:* resetchannels +@read +@connection +info +acl|whoami"
    options = {"user": ["default off", viewer, "admin on >a ~* &* +@all"]}
    with RedisServer(options, username="admin", password="a") as server:
        admin_url = f"redis://admin:a@{server.host}:{server.port}/0"
        with VaultClient(admin_url, namespace) as admin:
            populate(admin, 20)
            admin.append_record("metrics", {"step": 1, "loss": 0.5})
        url = f"redis://viewer:v@{server.host}:{server.port}/0"
        with Dashboard(url, [namespace], read_only=True) as d, d.http() as http:
            assert len(http.get("/api/processes").json()) == 20
            assert http.get("/api/processes/proc00003").status_code == 200
            assert http.get("/api/view/process/proc00003").status_code == 200
            assert http.get("/api/view/process-records/proc00003").status_code == 200
            assert http.get("/api/view/table").json()["total"] == 20
            assert http.get("/api/lists/metrics/records").json() == [{"step": 1, "loss": 0.5}]
            assert http.get("/api/lists/metrics/export.csv").status_code == 200
            families = {f.name for f in text_string_to_metric_families(http.get("/metrics").text)}
            assert "tablevault_processes" in families
            assert http.post("/api/processes/proc00000/stop").status_code == 403
        log = server.client()
        try:
            assert log.acl_log() == []
        finally:
            log.close()


# --------------------------------------------------------------------------- metrics


def test_metrics_in_the_prometheus_format(dash, client):
    populate(client, 40)  # 4 live, 36 completed
    for i in range(7):
        client.append_record("losses", {"step": i})
    with dash.http() as http:
        assert http.post("/api/processes/proc00000/pause").status_code == 202
        r = http.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    ns = client.namespace
    procs = {s.labels["status"]: s.value for s in families["tablevault_processes"].samples
             if s.labels["namespace"] == ns}  # fmt: skip
    assert procs == {"running": 4, "paused": 0, "stopped": 0, "completed": 36, "failed": 0,
                     "crashed": 0}  # fmt: skip
    ages = families["tablevault_heartbeat_age_seconds"].samples
    assert sorted(s.labels["process"] for s in ages) == [f"proc{i:05d}" for i in range(0, 40, 10)]
    assert all(s.value >= 0 for s in ages)
    appended = families["tablevault_records_appended"]
    assert appended.type == "counter"
    assert [(s.labels["list"], s.value) for s in appended.samples if s.name.endswith("_total")] == [
        ("losses", 7)
    ]
    latency = families["tablevault_request_action_latency_seconds"]
    assert latency.type == "histogram"
    assert families["tablevault_redis_up"].samples[0].value == 1


# --------------------------------------------------------------------------- with workers


@pytest.mark.slow
def test_control_a_live_worker_through_the_api(dash, client, spawner, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "trainer", "--fail-after", "100000").wait_ready()
    with dash.http() as http:
        w.advancing()
        assert http.post("/api/processes/trainer/pause").status_code == 202
        wait_until(lambda: client.get_process("trainer").status == "paused", 5)
        frozen = w.progress()
        assert http.post("/api/processes/trainer/resume").status_code == 202
        wait_until(lambda: w.progress() > frozen, 5)
        assert http.post("/api/processes/trainer/stop").status_code == 202
        assert w.wait_exit() == 0
        assert http.get("/api/processes/trainer").json()["status"] == "stopped"
        wait_until(lambda: http.get("/api/view/process/trainer").json()["requests"]["log"][0]
                   ["outcome"] == "acted", 5)  # fmt: skip
        detail = http.get("/api/view/process/trainer").json()
        assert [e["action"] for e in detail["requests"]["log"]] == ["stop", "resume", "pause"]
        assert detail["code_items"][0]["status"] == "stopped"
        assert "checkpoint_execution" in detail["code_items"][0]["text"]
        text = http.get("/metrics").text
    counts = {s.labels["action"]: s.value for f in text_string_to_metric_families(text)
              if f.name == "tablevault_request_action_latency_seconds"
              for s in f.samples if s.name.endswith("_count")}  # fmt: skip
    assert counts == {"pause": 1, "resume": 1, "stop": 1}


@pytest.mark.slow
def test_records_know_their_writer(dash, spawner, client, redis_url, namespace):
    workers = [
        spawner.worker(redis_url, namespace, name, "curve", script="trainer.py").wait_ready()
        for name in ("run-1", "run-2")
    ]
    wait_until(lambda: all(w.progress() > 3 for w in workers), 10, what="records")
    for w in workers:
        client.stop_execution(w.name, wait=True, timeout=10)
    with dash.http() as http:
        tail = http.get("/api/lists/curve/tail", params={"last": 1000}).json()
        assert [r["writer"] for r in tail["records"]] == tail["writers"]
        assert set(tail["writers"]) == {"run-1", "run-2"}
        (mine,) = http.get("/api/view/process-records/run-1").json()
        assert mine["list"] == "curve" and mine["count"] == workers[0].progress()
        assert {r["writer"] for r in mine["records"]} == {"run-1"}

        # records_written goes with the writer's next batch, which may follow the final
        # status that stop_execution(wait=True) waited for.
        def caught_up() -> dict | None:
            one = http.get("/api/processes/run-1").json()
            return one if one["records_written"] == mine["count"] else None

        one = wait_until(caught_up, 5, what="records_written")
        assert one["last_record_list"] == "curve"


@pytest.mark.slow
def test_a_failed_process_shows_its_traceback(dash, spawner, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "fails", "--fail-after", "3").wait_ready()
    w.wait_exit()
    with dash.http() as http:
        detail = http.get("/api/view/process/fails").json()
    assert detail["process"]["status"] == "failed"
    (item,) = detail["code_items"]
    assert "Traceback" in item["error"] and "RuntimeError: boom at iteration 3" in item["error"]
