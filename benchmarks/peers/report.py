"""The JSON document and the Markdown table built from a run's samples."""

from __future__ import annotations

from typing import Any

import _common
from paths import CHECKPOINT_VS_EVENT_MAX, PATHS, TARGETS, Path

Samples = dict[str, dict[str, dict[str, list[float]]]]


def stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": _common.percentile(values, 50),
        "p90": _common.percentile(values, 90),
        "p99": _common.percentile(values, 99),
        "min": min(values),
        "max": max(values),
    }


def fmt(s: dict[str, float]) -> str:
    return " / ".join(_num(s[k]) for k in ("p50", "p90", "p99"))


def _num(v: float) -> str:
    return f"{v:.2f}" if abs(v) < 1 else f"{v:#.3g}" if abs(v) < 100 else f"{v:.0f}"


def _latency_row(path: Path, mode: str, s: dict[str, float]) -> dict[str, Any]:
    target = TARGETS.get(path.name, {}).get(mode)
    text, met = None, None
    if target is not None:
        p50, p99 = target
        text = f"p50 < {p50:g} ms" + (f", p99 < {p99:g} ms" if p99 is not None else "")
        met = s["p50"] < p50 and (p99 is None or s["p99"] < p99)
    return _common.entry(
        f"{path.name}_{mode}",
        s["p50"],
        "ms (p50)",
        target=text,
        met=met,
        **{k: v for k, v in s.items() if k != "p50"},
    )


def _cost_rows(cost: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    cp, ev = cost["checkpoint_execution"]["best_ns"], cost["event_is_set"]["best_ns"]
    rows = [
        _common.entry(
            "checkpoint_vs_event_is_set",
            cp,
            "ns/call",
            baseline=ev,
            ratio=cp / ev,
            target=f"ratio <= {CHECKPOINT_VS_EVENT_MAX:g}",
            met=cp / ev <= CHECKPOINT_VS_EVENT_MAX,
        )
    ]
    for name in ("redis_get", "rq_job_get_status", "celery_asyncresult_state"):
        ns = cost[name]["best_ns"]
        rows.append(_common.entry(f"{name}_per_call", ns, "ns/call", baseline=cp, ratio=ns / cp))
    return rows


def document(samples: Samples, cost: dict[str, Any], machine: dict[str, Any]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    table: list[dict[str, str]] = []
    summaries: dict[str, dict[str, Any]] = {}
    for path in PATHS:
        by_mode = samples.get(path.system, {}).get(path.metric, {})
        line = {"path": path.label, "old_idle": path.old_idle, "old_busy": path.old_busy}
        for mode, values in by_mode.items():
            s = stats(values)
            summaries.setdefault(path.name, {})[mode] = s
            rows.append(_latency_row(path, mode, s))
            line[mode] = fmt(s)
        table.append(line)
    rows += _cost_rows(cost)
    return _common._round(
        {
            "benchmarks": rows,
            "table": table,
            "summary_ms": summaries,
            "costs_ns": cost,
            "samples_ms": {p.name: samples.get(p.system, {}).get(p.metric, {}) for p in PATHS},
            "machine": machine,
        }
    )


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    head = (
        f"Run of {m['date']}, commit {m.get('commit', '?')}, {m['trials_per_mode']} trials "
        f"per mode, {m['cpus']} CPUs, load {m['loadavg_1min_before_after']}, "
        f"Redis {m['redis_server']}, Python {m['python']}. ms, p50 / p90 / p99; "
        "today's figures from the request call's start unless the row says otherwise."
    )
    lines = [
        head,
        "",
        "| path | idle (old) | idle (today) | busy (old) | busy (today) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for t in doc["table"]:
        cells = [t["path"], t["old_idle"], t.get("idle", ""), t["old_busy"], t.get("busy", "")]
        lines.append("| " + " | ".join(cells) + " |")
    c = doc["costs_ns"]
    cp, ev = c["checkpoint_execution"]["best_ns"], c["event_is_set"]["best_ns"]
    lines += [
        "",
        f"Per iteration: `checkpoint_execution()` {cp:.0f} ns, `Event.is_set()` {ev:.0f} ns "
        f"({cp / ev:.2f}x); a Redis `GET` {c['redis_get']['best_ns'] / 1000:.0f} us, RQ "
        f"`job.get_status()` {c['rq_job_get_status']['best_ns'] / 1000:.0f} us, Celery "
        f"`AsyncResult.state` {c['celery_asyncresult_state']['best_ns'] / 1000:.0f} us.",
    ]
    return "\n".join(lines) + "\n"


def write_markdown(doc: dict[str, Any]) -> None:
    _common.RESULTS.mkdir(exist_ok=True)
    (_common.RESULTS / "peers.md").write_text(markdown(doc), encoding="utf-8")
