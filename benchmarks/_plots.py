"""Plots of benchmark samples: one PNG per figure, beside the JSON results.

matplotlib comes with the ``bench`` extra; without it no plot is drawn (the JSON
has every sample, so a plot can be drawn later).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def ecdf(path: Path, title: str, series: Mapping[str, Sequence[float]], xlabel: str) -> bool:
    """Cumulative distributions of ``series`` (label -> samples) on a log x axis;
    False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values in series.items():
        data = sorted(v for v in values if v > 0)
        if data:
            ys = [(i + 1) / len(data) for i in range(len(data))]
            ax.step(data, ys, where="post", label=f"{label} (n={len(data)})")
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of samples")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def bars(path: Path, title: str, values: Mapping[str, float], ylabel: str) -> bool:
    """One bar per label (medians, say); False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 4))
    labels = list(values)
    ax.barh(labels, [values[k] for k in labels])
    ax.set_xlabel(ylabel)
    ax.set_title(title)
    ax.invert_yaxis()
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
