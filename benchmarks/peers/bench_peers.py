"""This library beside its peers: stop/pause latency and per-iteration cost, one run.

Run from the repository root with the ``bench`` extra installed (``pip install -e
'.[bench]'``); it starts its own redis-server on a free port::

    .venv/bin/python benchmarks/peers/bench_peers.py            # 50 trials, ~4 min
    .venv/bin/python benchmarks/peers/bench_peers.py --quick    # 10 trials, ~1 min

Each round prepares one worker per system (a fresh registered process for the
library's stop, an RQ job, a Celery task, a dramatiq message, ...), then runs the
systems' trials in random order, so that the machine's noise falls on all of them
alike. Rounds alternate idle and busy loops (see loops.py). It prints one JSON
document, writes it to ``benchmarks/results/peers.json`` with a Markdown table
(``peers.md``) and the plots (``peers_*.png``).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# This checkout's own package first (the workers get the same path), then the helpers.
sys.path[:0] = [str(HERE.parent.parent), str(HERE), str(HERE.parent)]

import _common  # noqa: E402

TIME_BUDGET_S = 240.0  # trials stop early past this, so that a run stays under 5 min
SETTLE_S = 0.02  # after each trial: the peers' workers finish their bookkeeping
MODES = ("idle", "busy")

Samples = dict[str, dict[str, dict[str, list[float]]]]  # system -> metric -> mode -> ms


def make_systems() -> list[Any]:
    from peer_systems import Celery, Dramatiq, Rq
    from systems import LibPause, LibStop, Poll

    return [LibStop(), LibPause(), Poll(), Rq(), Celery(), Dramatiq()]


def run_round(systems: list[Any], mode: str, iters: int) -> dict[str, dict[str, float]]:
    """One trial of every system, in random order (dramatiq last: it needs its
    message to be known to the abort watcher for a second first)."""
    for system in systems:
        system.prepare(mode, iters)
    for system in systems:
        system.wait_ready()
    time.sleep(SETTLE_S)
    order = [s for s in systems if s.key != "dramatiq"]
    random.shuffle(order)
    order += [s for s in systems if s.key == "dramatiq"]
    out: dict[str, dict[str, float]] = {}
    for system in order:
        out[system.key] = system.trial(mode, iters)
        time.sleep(SETTLE_S)
    return out


def record(samples: Samples, mode: str, result: dict[str, dict[str, float]]) -> None:
    for system, metrics in result.items():
        for metric, seconds in metrics.items():
            by_mode = samples.setdefault(system, {}).setdefault(metric, {})
            by_mode.setdefault(mode, []).append(seconds * 1000.0)


def run_trials(
    url: str, trials: int, iters: int, deadline: float
) -> tuple[Samples, int, dict[str, Any]]:
    """``trials`` rounds per mode after one warm-up round each; fewer past ``deadline``."""
    systems = make_systems()
    samples: Samples = {}
    done = 0
    try:
        for system in systems:
            system.start(url)
        for mode in MODES:
            run_round(systems, mode, iters)  # warm-up: connections, imports, first fork
        for i in range(trials):
            if time.monotonic() > deadline:
                break
            for mode in MODES if i % 2 == 0 else MODES[::-1]:
                record(samples, mode, run_round(systems, mode, iters))
            done += 1
    finally:
        for system in systems:
            system.close()
    # A normal stop must not make the stopped process warn about its heartbeat.
    return samples, done, {"lib_stop_heartbeat_warnings": systems[0].heartbeat_warnings}


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("tablevault-redis", "rq", "celery", "kombu", "dramatiq", "dramatiq-abort"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    import costs
    import report
    from loops import BUSY_WORK_S, IDLE_SLEEP_S, calibrate

    import tablevault_redis  # once, up front: the whole run measures one version

    started = time.monotonic()
    load_before = os.getloadavg()[0]
    with _common.private_redis() as server:
        os.environ["BENCH_REDIS_URL"] = server.url  # read by the Celery and dramatiq apps
        iters = calibrate()
        budget = args.time_budget if args.time_budget else TIME_BUDGET_S
        samples, done, notes = run_trials(server.url, args.trials, iters, started + budget)
        cost = costs.measure(server.url, args.quick)
        redis_version = _common.redis_version(server)
    machine = _common.machine_info(
        redis_server=redis_version,
        peers=versions(),
        tablevault_redis_path=str(Path(tablevault_redis.__file__).parent),
        idle_loop=f"check + time.sleep({IDLE_SLEEP_S})",
        busy_loop=f"check + {iters} iterations of pure Python (~{BUSY_WORK_S * 1000:g} ms)",
        trials_per_mode=done,
        trials_asked=args.trials,
        **notes,
        loadavg_1min_before_after=[round(load_before, 2), round(os.getloadavg()[0], 2)],
        elapsed_s=round(time.monotonic() - started, 1),
        date=time.strftime("%Y-%m-%d %H:%M %Z"),
    )
    return report.document(samples, cost, machine)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=None, help="rounds per mode (default 50)")
    parser.add_argument("--quick", action="store_true", help="10 trials, shorter cost timing")
    parser.add_argument("--time-budget", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    parser.add_argument("--results-dir", type=Path, help="instead of benchmarks/results/")
    args = parser.parse_args(argv)
    if args.results_dir:
        _common.RESULTS = args.results_dir.resolve()
    if args.trials is None:
        args.trials = 10 if args.quick else 50
    import report

    doc = run(args)
    if not args.no_plots:
        import plots

        root = _common.ROOT
        doc["plots"] = [
            str(p.relative_to(root) if p.is_relative_to(root) else p) for p in plots.draw(doc)
        ]
    report.write_markdown(doc)
    _common.emit("peers", doc)


if __name__ == "__main__":
    main()
