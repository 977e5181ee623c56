"""N workers on one Redis, simulated: stop latency among N, stopping all N, the server's
CPU and memory, for N = 100, 1,000 and 10,000 (``--quick``: 100 and 1,000).

A few simulator processes (benchmarks/scale_sim.py, asyncio) hold N simulated workers
that behave on the wire like the library's worker processes: registered through the
library's scripts, one subscription each to its control channel, a heartbeat every
interval, now and then a record, each worker on one RESP3 connection carrying its
subscription and every command, as the library's worker holds it (``--conns`` auto,
scale_link.py; ``2``: a pub/sub and a command connection per worker, as a worker holds
them on a Redis Cluster or over TLS; ``1``: the commands on a pool shared per
simulator process). The controller is a real ``VaultClient``.
A worker has seen a stop when its re-read of the request state says so or the ``ack
stopping`` that verifies the notification's hint answers ``stopping``, whichever
comes first (the library's listener and checkpoint do both; the simulators used to
send the ``ack`` only after the read's reply, and ran a task per notification: their
hot paths are now callbacks, scale_worker.py, a measurement artefact removed).
Rows: ``one_stop_among_<N>`` (``stop_execution()`` called -> the worker saw the
stop), ``stop_all_<N>`` (``request_many("stop", all)`` called -> the last worker saw
it; baseline: the same with one ``request`` script per
name in one pipeline, as ``request_many`` sent before; the median of ``--rounds``
runs each, alternating which goes first), ``stop_all_final_status_<N>`` (called ->
the last worker's final status written), ``redis_cpu_steady_<N>`` (the server's CPU
over a steady window of heartbeats, from once every worker beat, % of one core),
``redis_memory_per_worker_<N>``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # this checkout's package

import _common  # noqa: E402
from scale_procs import SPARE_FDS, Sims, choose_connections  # noqa: E402

from tablevault_redis import VaultClient, scripts  # noqa: E402
from tablevault_redis.vault import DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_TTL  # noqa: E402

NAMESPACE = "scale"  # scale_sim.NAMESPACE
TARGET_N = 10_000
Send = Callable[[str, list[str]], list[Any]]  # (action, names) -> seq or refusal per name


def _info(admin: Any) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for section in ("cpu", "memory", "clients", "commandstats"):
        info.update(admin.info(section))
    return info


def steady_window(admin: Any, sims: Sims, seconds: float) -> dict[str, Any]:
    """The server's CPU over ``seconds`` of heartbeats only (no requests), per command."""
    first = sims.collect_stats()  # also resets the simulators' loop-lag samples
    before, started = _info(admin), time.monotonic()
    time.sleep(seconds)
    after, elapsed = _info(admin), time.monotonic() - started
    stats = sims.collect_stats()
    cpu = sum(after[k] - before[k] for k in ("used_cpu_sys", "used_cpu_user"))
    return {
        "redis_cpu_pct": 100 * cpu / elapsed,
        "window_s": elapsed,
        "commands": _commands(before, after, elapsed),
        "connected_clients": after["connected_clients"],
        "sim_cpu_pct": _sim_cpu(first, stats, elapsed),
        "sim_loop_lag_ms_max": max(s["loop_lag_ms_max"] for s in stats),
        "sim_loop_lag_ms_p50": max(s["loop_lag_ms_p50"] for s in stats),
    }


def _commands(before: dict[str, Any], after: dict[str, Any], elapsed: float) -> dict[str, Any]:
    """Calls per second and % of one core per command (INFO commandstats deltas; the
    commands a script runs are counted on their own and inside ``evalsha``)."""
    commands = {}
    for key, value in after.items():
        if key.startswith("cmdstat_"):
            old = before.get(key, {"calls": 0, "usec": 0})
            calls = value["calls"] - old["calls"]
            if calls:
                usec = value["usec"] - old["usec"]
                commands[key[8:]] = {"per_s": calls / elapsed, "cpu_pct": usec / elapsed / 1e4}
    return commands


def _sim_cpu(before: list[dict[str, Any]], after: list[dict[str, Any]], elapsed: float) -> Any:
    """Each simulator process's CPU between two ``collect_stats``, % of one core."""
    pairs = zip(before, after, strict=True)
    return [100 * (a["cpu_s"] - b["cpu_s"]) / elapsed for b, a in pairs]


def one_stops(client: VaultClient, sims: Sims, names: list[str], trials: int) -> dict[str, Any]:
    """Stop one worker among N, ``trials`` times (a different worker each time; it
    registers a new run at once, so N stays N)."""
    latencies, calls, sources = [], [], []
    for name in random.sample(names, min(trials, len(names))):
        time.sleep(random.uniform(0.01, 0.03))  # land anywhere in the heartbeat cycle
        called = time.monotonic()
        client.stop_execution(name)
        returned = time.monotonic()
        sims.wait(lambda n=name: n in sims.seen, 10, f"{name} seeing its stop")  # type: ignore[misc]
        seen, source = sims.seen[name]
        latencies.append(1000 * (seen - called))
        calls.append(1000 * (returned - called))
        sources.append(source)
    done = set(sims.seen)
    sims.wait(lambda: done <= sims.rearmed, 30, "stopped workers registering again")
    return {
        **pcts(latencies),
        "call_ms_p50": statistics.median(calls),
        "seen_by_heartbeat_first": sources.count("heartbeat"),
        "samples_ms": latencies,
    }


def stop_all_rounds(
    client: VaultClient, admin: Any, sims: Sims, names: list[str], rounds: int
) -> dict[str, dict[str, Any]]:
    """Stop all N ``rounds`` times with each way of sending the requests, alternating
    which goes first (the machine's load drifts): ``request_many`` and the per-name
    baseline. Stopped workers exit; between runs they start again (not timed)."""
    ways: list[tuple[str, Send]] = [
        ("request_many", client.request_many),
        ("per_name", lambda action, names: per_name_requests(client, action, names)),
    ]
    runs: dict[str, list[dict[str, Any]]] = {way: [] for way, _send in ways}
    sims.on_stop("exit")
    last: dict[str, Any] | None = None
    for i in range(rounds):
        for way, send in ways if i % 2 else ways[::-1]:
            if last is not None:
                sims.restart(len(names) - last["refused"])
            last = stop_all(admin, sims, names, send)
            runs[way].append(last)
    return {way: _median_run(found) for way, found in runs.items()}


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose time to the last seen stop is the median (the time to the last
    final status: the median of its own), and every run's times."""
    ranked = sorted(runs, key=lambda r: r["all_seen_s"])
    return {
        **ranked[(len(ranked) - 1) // 2],
        "all_stopped_s": statistics.median(r["all_stopped_s"] for r in runs),
        "rounds": len(runs),
        "refused": max(r["refused"] for r in runs),
        "all_seen_s_each": [r["all_seen_s"] for r in runs],
        "all_stopped_s_each": [r["all_stopped_s"] for r in runs],
        "call_s_each": [r["request_many_call_s"] for r in runs],
    }


def stop_all(admin: Any, sims: Sims, names: list[str], send: Send) -> dict[str, Any]:
    """``send("stop", names)`` until every worker saw its stop and wrote its final
    status, and exited."""
    with sims.cond:
        sims.seen.clear()
        sims.notified.clear()
        sims.exited.clear()
        sims.finished.clear()
    stats_before, info_before = sims.collect_stats(), _info(admin)
    called, process_time = time.monotonic(), time.process_time()
    replies = send("stop", names)
    returned, call_cpu = time.monotonic(), time.process_time() - process_time
    accepted = sum(isinstance(r, int) for r in replies)
    sims.wait(lambda: len(sims.seen) >= accepted, 120, "every worker seeing its stop")
    info_seen, seen_elapsed = _info(admin), time.monotonic() - called
    sims.wait(lambda: len(sims.finished) >= accepted, 120, "every worker's final status")
    elapsed, info_after = time.monotonic() - called, _info(admin)
    own_cpu = time.process_time() - process_time
    sim_cpu = _sim_cpu(stats_before, sims.collect_stats(), elapsed)
    sims.wait(lambda: len(sims.exited) >= accepted, 120, "every stopped worker exiting")
    return {
        "all_seen_s": max(at for at, _source in sims.seen.values()) - called,
        "all_stopped_s": max(sims.finished.values()) - called,
        "request_many_call_s": returned - called,
        "request_many_call_cpu_s": call_cpu,
        "refused": len(names) - accepted,
        "seen_ms": pcts([1000 * (at - called) for at, _s in sims.seen.values()]),
        "notified_ms": pcts([1000 * (at - called) for at in sims.notified.values() if at] or [0]),
        "seen_by": _sources(sims.seen.values()),
        "redis_cpu_s_until_all_seen": _cpu(info_before, info_seen),
        "redis_cpu_s_until_all_stopped": _cpu(info_before, info_after),
        "sim_cpu_pct_until_all_stopped": sim_cpu,
        "controller_cpu_s_until_all_stopped": own_cpu,
        "commands_until_all_seen": _commands(info_before, info_seen, seen_elapsed),
    }


def _sources(seen: Any) -> dict[str, int]:
    """How many workers saw the stop by each way: ``notify`` (the read after the
    notification), ``verified`` (the ``ack stopping`` of its hint), ``heartbeat``."""
    counts: dict[str, int] = {}
    for _at, source in seen:
        counts[source] = counts.get(source, 0) + 1
    return counts


def _cpu(before: dict[str, Any], after: dict[str, Any]) -> float:
    return float(sum(after[k] - before[k] for k in ("used_cpu_sys", "used_cpu_user")))


def per_name_requests(client: VaultClient, action: str, names: list[str]) -> list[Any]:
    """The baseline of ``request_many``: one ``request`` script per name, all in one
    pipeline (what it sent before ``request_many.lua``); per name the seq or refusal."""
    batch = scripts.Batch(client._conn)
    for name in names:
        scripts.request(
            client._conn,
            NAMESPACE,
            name,
            action=action,
            by=client.requester,
            request_id=uuid.uuid4().hex,
            client=batch,
        )
    return [reply.refused or reply.seq for reply in batch.execute()]


def _statuses(client: VaultClient) -> dict[str, int]:
    statuses: dict[str, int] = {}
    for info in client.list_processes():
        statuses[info.status] = statuses.get(info.status, 0) + 1
    return statuses


def pcts(values: list[float]) -> dict[str, Any]:
    return {
        "p50": _common.percentile(values, 50),
        "p90": _common.percentile(values, 90),
        "p99": _common.percentile(values, 99),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def run_size(n: int, args: argparse.Namespace, conns: str, per_worker: int) -> dict[str, Any]:
    """Everything measured at one N, on a fresh server."""
    names = [f"w{i}" for i in range(n)]
    maxclients = per_worker * n + SPARE_FDS  # the shared pools of --conns 1 fit in the spare
    with _common.private_redis(maxclients=str(maxclients)) as server:
        admin = server.client()
        base = admin.info("memory")["used_memory"]
        client = VaultClient(server.url, namespace=NAMESPACE)
        options = ["--conns", conns, "--interval", str(args.interval)]
        options += ["--ttl", str(args.ttl), "--append-every", str(args.append_every)]
        started = time.monotonic()
        sims = Sims(server.port, names, min(args.procs, n), options)
        try:
            sims.wait(lambda: sims.ready == n, args.start_timeout, f"{n} workers starting")
            startup_s = time.monotonic() - started
            sims.wait_beating(n, 2 * args.interval + 30)  # the steady window: beats, not starts
            steady = steady_window(admin, sims, args.window)
            memory = admin.info("memory")
            one = one_stops(client, sims, names, args.trials)
            stops = stop_all_rounds(client, admin, sims, names, args.rounds)
            everyone, baseline = stops["request_many"], stops["per_name"]
            everyone["statuses_after"] = _statuses(client)
        finally:
            sims.close()
            client.close()
            admin.close()
    per_worker = (memory["used_memory"] - base) / n
    clients_per_worker = memory["mem_clients_normal"] / n
    return {
        "n": n,
        "startup_s": startup_s,
        "one_stop_ms": one,
        "stop_all": everyone,
        "stop_all_per_name_baseline": baseline,
        "steady": steady,
        "memory": {
            "used_memory_per_worker_b": per_worker,
            "clients_per_worker_b": clients_per_worker,
        },
    }


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``benchmarks`` rows of one N; the targets apply at N = 10,000."""
    n, one, everyone = result["n"], result["one_stop_ms"], result["stop_all"]
    before = result["stop_all_per_name_baseline"]
    cpu = result["steady"]["redis_cpu_pct"]
    memory = result["memory"]["used_memory_per_worker_b"]
    all_met = everyone["all_seen_s"] < 2 and not everyone["refused"]

    def row(name: str, value: float, unit: str, target: str, met: bool, **detail: Any) -> Any:
        if n != TARGET_N:
            return _common.entry(f"{name}_{n}", value, unit, **detail)
        return _common.entry(f"{name}_{n}", value, unit, target=target, met=met, **detail)

    return [
        row("one_stop_among", one["p50"], "ms (p50)", "p50 < 2 ms at 10,000", one["p50"] < 2,
            **{k: v for k, v in one.items() if k != "samples_ms"}),
        row("stop_all", everyone["all_seen_s"], "s", "< 2 s at 10,000", all_met,
            baseline=before["all_seen_s"], ratio=everyone["all_seen_s"] / before["all_seen_s"],
            **{k: v for k, v in everyone.items() if k != "all_seen_s"},
            per_name_baseline=before),
        _common.entry(f"stop_all_final_status_{n}", everyone["all_stopped_s"], "s",
                      baseline=before["all_stopped_s"],
                      ratio=everyone["all_stopped_s"] / before["all_stopped_s"]),
        row("redis_cpu_steady", cpu, "% of one core", "< 20% at 10,000", cpu < 20,
            **result["steady"]),
        _common.entry(f"redis_memory_per_worker_{n}", memory, "bytes",
                      target="< 25 kB per live process (issue 11 item 5)",
                      met=memory < 25_000, **result["memory"]),
    ]  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 100, 1,000; fewer trials")
    parser.add_argument("--sizes", help="comma-separated N (default 100,1000,10000)")
    parser.add_argument("--trials", type=int, help="single stops per N (default 50; quick 20)")
    parser.add_argument("--window", type=float, help="steady window, s (default 10; quick 4)")
    parser.add_argument("--rounds", type=int, help="stop-all runs per way (default 3; quick 1)")
    parser.add_argument("--procs", type=int, default=2, help="simulator processes")
    parser.add_argument(
        "--conns",
        choices=("auto", "link", "1", "2"),
        default="auto",
        help="each simulated worker's connections (auto: link, as a worker holds them)",
    )
    parser.add_argument("--interval", type=float, default=DEFAULT_HEARTBEAT_INTERVAL)
    parser.add_argument("--ttl", type=float, default=DEFAULT_HEARTBEAT_TTL)
    parser.add_argument("--append-every", type=float, default=10.0, help="beats per record")
    parser.add_argument("--start-timeout", type=float, default=180.0)
    parser.add_argument("--results-dir", type=Path, default=_common.RESULTS)
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    default_sizes = "100,1000" if args.quick else "100,1000,10000"
    args.sizes = [int(n) for n in (args.sizes or default_sizes).split(",")]
    args.trials = args.trials or (20 if args.quick else 50)
    args.window = args.window or (4.0 if args.quick else 10.0)
    args.rounds = args.rounds or (1 if args.quick else 3)
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    conns, per_worker, why = choose_connections(args.conns, max(args.sizes))
    load_before = os.getloadavg()
    results = []
    for n in args.sizes:
        print(f"N = {n} ...", file=sys.stderr, flush=True)
        results.append(run_size(n, args, conns, per_worker))
    doc = {
        "benchmarks": [row for result in results for row in rows(result)],
        "sizes": {str(r["n"]): r for r in results},
        "machine": _common.machine_info(
            simulated_connections=conns,
            connections_per_worker=per_worker,
            connections_note=why,
            fd_limit=resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            simulator_processes=args.procs,
            heartbeat_interval_s=args.interval,
            beats_per_record=args.append_every,
            trials=args.trials,
            window_s=args.window,
            stop_all_rounds=args.rounds,
            loadavg_1min_before_after=[load_before[0], os.getloadavg()[0]],
        ),
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_common._round(doc), indent=2)
    (args.results_dir / "scale_workers.json").write_text(text + "\n", encoding="utf-8")
    print(text, flush=True)
    if not args.no_plots:
        import scale_plot

        scale_plot.plot(results, args.results_dir / "scale_workers.png")
    return doc


if __name__ == "__main__":
    main()
