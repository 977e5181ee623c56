"""The figures of a run: latency distributions per system (box plots and CDFs, idle
and busy side by side) and the per-iteration cost of checking for a request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import _common

# (path name, short label) in the order drawn; times from the request call's start,
# except the exit row, which starts when stop_execution() returned.
SHOWN = [
    ("lib_stop_to_raised", "this library: stop -> ExecutionStopped"),
    ("lib_pause_to_paused", "this library: pause -> paused"),
    ("lib_stop_to_exit", "this library: stop returned -> exited"),
    ("rq_stop_to_gone", "RQ stop-job -> horse gone"),
    ("celery_revoke_to_gone", "Celery revoke(terminate) -> child gone"),
    ("dramatiq_abort_to_observed", "dramatiq-abort -> observed"),
    ("poll_get_to_observed", "poll GET per iteration -> observed"),
]
FLOOR_MS = 0.01  # log axes: a latency at or below zero is drawn here


def _series(doc: dict[str, Any], mode: str) -> list[tuple[str, list[float]]]:
    out = []
    for name, label in SHOWN:
        values = doc["samples_ms"].get(name, {}).get(mode, [])
        if values:
            out.append((label, [max(v, FLOOR_MS) for v in values]))
    return out


def _title(doc: dict[str, Any], what: str) -> str:
    m = doc["machine"]
    return (
        f"{what}: {m['trials_per_mode']} trials per system and mode, {m['cpus']} CPUs, "
        "load {} -> {}, {}".format(*m["loadavg_1min_before_after"], m["date"])
    )


def _box(plt: Any, doc: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(14, 5), sharex=True, sharey=True)
    for ax, mode in zip(axes, ("idle", "busy"), strict=True):
        series = _series(doc, mode)[::-1]
        ax.boxplot([v for _, v in series], vert=False, whis=(1, 99), showfliers=True, widths=0.6)
        ax.set_yticks(range(1, len(series) + 1), [label for label, _ in series])
        ax.set_xscale("log")
        ax.set_xlabel("ms (log); box p25-p75, line p50, whiskers p1-p99")
        ax.set_title(f"{mode} worker loop")
        ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.suptitle(_title(doc, "Stop and pause latency"))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cdf(plt: Any, doc: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(14, 5), sharex=True, sharey=True)
    for ax, mode in zip(axes, ("idle", "busy"), strict=True):
        for label, values in _series(doc, mode):
            data = sorted(values)
            fractions = [(i + 1) / len(data) for i in range(len(data))]
            ax.step(data, fractions, where="post", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("ms (log)")
        ax.set_title(f"{mode} worker loop")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("fraction of trials at or below")
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle(_title(doc, "Stop and pause latency, CDF"))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cost(plt: Any, doc: dict[str, Any], path: Path) -> None:
    labels = {
        "checkpoint_execution": "checkpoint_execution()",
        "event_is_set": "threading.Event.is_set()",
        "redis_get": "Redis GET",
        "rq_job_get_status": "RQ job.get_status()",
        "celery_asyncresult_state": "Celery AsyncResult.state",
    }
    cost = doc["costs_ns"]
    names = [n for n in labels if n in cost][::-1]
    values = [cost[n]["best_ns"] for n in names]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    bars = ax.barh([labels[n] for n in names], values)
    ax.bar_label(bars, [f"{v:,.0f} ns" for v in values], padding=3, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(right=max(values) * 20)
    ax.set_xlabel("ns per call (log), best of the timeit rounds")
    ax.set_title("Cost of checking for a request, per loop iteration")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw(doc: dict[str, Any]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _common.RESULTS.mkdir(exist_ok=True)
    out = []
    for name, fn in (("latency_box", _box), ("latency_cdf", _cdf), ("cost", _cost)):
        path = _common.RESULTS / f"peers_{name}.png"
        fn(plt, doc, path)
        out.append(path)
    return out
