"""The scale curves of bench_scale_workers.py: each figure against N, with its target."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot(results: list[dict[str, Any]], path: Path) -> None:
    """Four panels: one stop among N, stopping all N, Redis CPU, memory per worker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["n"] for r in results]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    one = axes[0][0]
    for q, style in (("p50", "o-"), ("p90", "s--"), ("p99", "^:")):
        one.plot(sizes, [r["one_stop_ms"][q] for r in results], style, label=q)
    _finish(one, "one stop among N: called -> worker re-read it", "ms", 2.0, "target p50 2 ms")
    one.set_yscale("log")  # the tails are two orders above the median
    one.set_ylim(bottom=0.3)
    axes[0][1].plot(
        sizes,
        [r["stop_all_per_name_baseline"]["all_seen_s"] for r in results],
        "s--",
        color="tab:gray",
        label="baseline: a request script per name",
    )
    panels = [  # (axes, values, title, unit, target, its label)
        (axes[0][1], [r["stop_all"]["all_seen_s"] for r in results],
         "request_many(stop, all N) -> last worker saw it (median)", "s", 2.0, "target 2 s"),
        (axes[1][0], [r["steady"]["redis_cpu_pct"] for r in results],
         "Redis CPU, steady heartbeats", "% of one core", 20.0, "target 20%"),
        (axes[1][1], [r["memory"]["used_memory_per_worker_b"] / 1000 for r in results],
         "Redis memory per worker (used_memory)", "kB", 25.0, "item 5 target 25 kB"),
    ]  # fmt: skip
    for ax, values, title, unit, target, label in panels:
        _panel(ax, sizes, values, title, unit, target, label)
    fig.suptitle("N simulated workers on one Redis")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _panel(ax: Any, sizes: list[int], values: list[float], title: str, unit: str,
           target: float, label: str) -> None:  # fmt: skip
    ax.plot(sizes, values, "o-", label="measured")
    _finish(ax, title, unit, target, label)


def _finish(ax: Any, title: str, unit: str, target: float, label: str) -> None:
    ax.axhline(target, color="tab:red", linestyle="--", linewidth=1, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("N workers")
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=10)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
