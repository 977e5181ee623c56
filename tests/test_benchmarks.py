"""The peer benchmark runs end to end: quick mode with one trial per system and mode
writes a JSON document of the documented shape, the Markdown table and the plots."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

pytestmark = pytest.mark.slow

BENCH_EXTRA = ("rq", "celery", "dramatiq", "dramatiq_abort", "matplotlib")
MISSING = [name for name in BENCH_EXTRA if importlib.util.find_spec(name) is None]


@pytest.mark.skipif(
    bool(MISSING),
    reason=f"the bench extra is not installed (missing {', '.join(MISSING)}): "
    "pip install -e '.[bench]'",
)
def test_bench_peers_quick_writes_json_table_and_plots(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "peers" / "bench_peers.py")]
        + ["--quick", "--trials", "1", "--results-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    doc = json.loads(run.stdout)
    assert json.loads((tmp_path / "peers.json").read_text()) == doc

    names = {row["name"] for row in doc["benchmarks"]}
    for path in ("lib_stop_to_raised", "lib_pause_to_paused", "rq_stop_to_gone"):
        for mode in ("idle", "busy"):
            assert f"{path}_{mode}" in names
    for other in ("celery_revoke_to_gone", "dramatiq_abort_to_observed", "poll_get_to_observed"):
        assert f"{other}_busy" in names
    assert "checkpoint_vs_event_is_set" in names
    for row in doc["benchmarks"]:
        assert set(row) >= {"name", "value", "unit", "baseline", "ratio", "target", "met"}
        if row["unit"] == "ms (p50)":
            assert row["detail"]["n"] == 1 and isinstance(row["value"], float)

    assert len(doc["table"]) >= 8
    for line in doc["table"]:
        assert {"path", "idle", "busy", "old_idle", "old_busy"} <= set(line)
    assert doc["machine"]["trials_per_mode"] == 1
    assert doc["machine"]["lib_stop_heartbeat_warnings"] == 0
    assert set(doc["costs_ns"]) == {
        "checkpoint_execution",
        "event_is_set",
        "redis_get",
        "rq_job_get_status",
        "celery_asyncresult_state",
    }
    assert "| path |" in (tmp_path / "peers.md").read_text()
    for name in ("latency_box", "latency_cdf", "cost"):
        png = tmp_path / f"peers_{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="matplotlib is not installed (the bench extra): pip install -e '.[bench]'",
)
@pytest.mark.parametrize(
    ("conns", "layout", "per_worker"), [("auto", "link", 1), ("1", "1", 1), ("2", "2", 2)]
)
def test_bench_scale_workers_quick_writes_json_and_plot(
    tmp_path: Path, conns: str, layout: str, per_worker: int
) -> None:
    sizes = (10, 40)
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_scale_workers.py"), "--quick"]
        + ["--sizes", ",".join(map(str, sizes)), "--trials", "3", "--window", "1"]
        + ["--conns", conns]
        + ["--interval", "0.5", "--ttl", "2", "--results-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    doc = json.loads(run.stdout)
    assert json.loads((tmp_path / "scale_workers.json").read_text()) == doc

    names = [row["name"] for row in doc["benchmarks"]]
    for n in sizes:
        for figure in ("one_stop_among", "stop_all", "redis_cpu_steady"):
            assert f"{figure}_{n}" in names
        assert f"redis_memory_per_worker_{n}" in names
    for row in doc["benchmarks"]:
        assert set(row) >= {"name", "value", "unit", "baseline", "ratio", "target", "met"}
        assert isinstance(row["value"], float | int) and row["value"] > 0
        if not row["name"].startswith("redis_memory"):
            assert row["met"] is None  # the targets apply at N = 10,000
    for n in sizes:
        size = doc["sizes"][str(n)]
        assert size["one_stop_ms"]["n"] == 3 and len(size["one_stop_ms"]["samples_ms"]) == 3
        assert size["stop_all"]["refused"] == 0
        assert size["stop_all"]["statuses_after"] == {"stopped": n}
        assert size["steady"]["connected_clients"] >= n
        assert size["steady"]["commands"]["evalsha"]["per_s"] > 0  # heartbeats
    assert doc["machine"]["simulated_connections"] == layout  # auto: as a worker holds them
    assert doc["machine"]["connections_per_worker"] == per_worker
    assert (tmp_path / "scale_workers.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
