"""Control-plane benchmarks: checkpoint cost and request-to-checkpoint latency.

Run from the repository root (starts its own redis-server on a free port)::

    .venv/bin/python benchmarks/bench_control.py

It prints one JSON document and writes it to ``benchmarks/results/control.json``.
Every ratio compares numbers measured in the same run on the same machine.

1. ``checkpoint_execution()`` with nothing pending, against ``Event.is_set()`` and a
   Redis ``GET`` (what a polling design pays per checkpoint).
2. Request latency, measured from the moment ``pause_execution()`` /
   ``stop_execution()`` returns in this process to the moment a worker process's
   checkpoint observes the request (both stamps are ``time.monotonic()``, i.e. the
   system-wide CLOCK_MONOTONIC on Linux, so they compare across processes). Pause
   and stop take the same path (listener applies the notification, the next
   checkpoint sees ``pending``); pause/resume pairs give many samples per worker,
   stops restart the worker each time. Beside it, the raw floor: a plain redis-py
   ``PUBLISH`` to a subscriber thread in another process.

Workers run this same file with ``--worker``; that mode is internal.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

NAMESPACE = "bench"
USER = "bench"
IDLE_SLEEP_S = 0.0005  # idle loop: checkpoint, then this sleep
BUSY_WORK_S = 0.001  # busy loop: checkpoint after about this much pure-Python work
EVENT_TIMEOUT_S = 15.0


# ---------------------------------------------------------------------------
# Worker side (a separate process)
# ---------------------------------------------------------------------------


def _say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def _work(n: int) -> int:
    x = 0
    for i in range(n):
        x += i * i
    return x


def _calibrate(seconds: float) -> int:
    """Iterations of :func:`_work` that take about ``seconds``."""
    n = 20_000
    while True:
        t = time.perf_counter()
        _work(n)
        dt = time.perf_counter() - t
        if dt > 0.02:
            break
        n *= 2
    best = dt
    for _ in range(3):
        t = time.perf_counter()
        _work(n)
        best = min(best, time.perf_counter() - t)
    return max(1, int(n * seconds / best))


def _loop(mode: str, step: Any) -> None:
    """Call ``step`` (a checkpoint or nothing) forever, idle or busy."""
    if mode == "idle":
        sleep = time.sleep
        while True:
            step()
            sleep(IDLE_SLEEP_S)
    n = _calibrate(BUSY_WORK_S)
    runs = []
    for _ in range(21):
        t = time.perf_counter()
        _work(n)
        runs.append((time.perf_counter() - t) * 1000)
    _say(ev="calibrated", iters=n, work_ms_median=statistics.median(runs))
    while True:
        step()
        _work(n)


def worker_vault(url: str, name: str, mode: str, switch_interval: float | None) -> None:
    """A Vault process whose checkpoints report when they see a request."""
    if switch_interval:
        sys.setswitchinterval(switch_interval)
    from tablevault_redis import Vault

    vault = Vault(USER, name, redis_url=url, namespace=NAMESPACE)
    ctl = vault._control
    applied = [0.0]
    # Instrument this instance only (the library is unchanged): stamp when the
    # listener thread has applied a notification, and when the main thread's
    # checkpoint takes the slow path (it has observed the request).
    orig_apply_message, orig_act = ctl.apply_message, ctl.act

    def apply_message(data: str) -> bool:
        ok = orig_apply_message(data)
        applied[0] = time.monotonic()
        return ok

    def act() -> None:
        t = time.monotonic()
        _say(ev="observe", t=t, applied=applied[0], pending=ctl.pending)
        orig_act()  # waits while paused; raises ExecutionStopped on stop
        _say(ev="resumed", t=time.monotonic())

    ctl.apply_message = apply_message  # type: ignore[method-assign]
    ctl.act = act  # type: ignore[method-assign]
    _say(ev="ready", pid=os.getpid())
    _loop(mode, vault.checkpoint_execution)


def worker_raw(url: str, channel: str, mode: str, switch_interval: float | None) -> None:
    """A subscriber thread (plain redis-py) that stamps each message it receives."""
    if switch_interval:
        sys.setswitchinterval(switch_interval)
    import redis

    client = redis.Redis.from_url(url)
    pubsub = client.pubsub()
    pubsub.subscribe(channel)
    subscribed = threading.Event()

    def listen() -> None:
        while True:
            msg = pubsub.get_message(timeout=0.5)
            if msg is None:
                continue
            if msg["type"] == "subscribe":
                subscribed.set()
            elif msg["type"] == "message":
                _say(ev="message", t=time.monotonic())

    threading.Thread(target=listen, daemon=True).start()
    subscribed.wait(10)
    _say(ev="ready", pid=os.getpid())
    _loop(mode, lambda: None)


# ---------------------------------------------------------------------------
# Controller side
# ---------------------------------------------------------------------------


class Worker:
    """A worker subprocess and a line reader with timeouts on its stdout."""

    def __init__(self, args: list[str]) -> None:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", *args],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            bufsize=0,
        )
        self._buf = b""
        self.info: dict[str, Any] = {}

    def read(self, timeout: float = EVENT_TIMEOUT_S) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"worker sent nothing for {timeout} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.stderr.seek(0)
                    err = self.stderr.read().decode(errors="replace")
                    raise RuntimeError(f"worker exited ({self.proc.wait()}):\n{err[-2000:]}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def expect(self, ev: str, timeout: float = EVENT_TIMEOUT_S) -> dict[str, Any]:
        while True:
            msg = self.read(timeout)
            if msg.get("ev") == ev:
                return msg
            self.info[msg.get("ev", "?")] = msg

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


def _ms(values: list[float]) -> list[float]:
    return [v * 1000.0 for v in values]


def _pause_phase() -> None:
    """Random delay so requests land at random points of the worker's loop."""
    time.sleep(random.uniform(0.004, 0.012))


def bench_checkpoint(url: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    import redis

    from tablevault_redis import Vault

    vault = Vault(USER, f"checkpoint-{uuid.uuid4().hex[:8]}", redis_url=url, namespace=NAMESPACE)
    event = threading.Event()
    client = redis.Redis.from_url(url)
    client.set("bench:get-target", "x")
    try:

        def per_call(stmt: str, g: dict[str, Any], number: int, repeat: int) -> dict[str, float]:
            timer = timeit.Timer(stmt, globals=g)
            timer.timeit(min(number, 10_000))  # warm up
            runs = [t / number * 1e9 for t in timer.repeat(repeat, number)]
            return {"best": min(runs), "median": statistics.median(runs)}

        n = 2_000_000
        loop = per_call("pass", {}, n, 7)
        cp = per_call("v.checkpoint_execution()", {"v": vault}, n, 7)
        ev = per_call("e.is_set()", {"e": event}, n, 7)
        get = per_call("r.get(k)", {"r": client, "k": "bench:get-target"}, 5_000, 7)
    finally:
        client.close()
        vault.close()

    ratio_event = cp["best"] / ev["best"]
    net_ratio_event = (cp["best"] - loop["best"]) / max(ev["best"] - loop["best"], 1e-9)
    ratio_get = get["best"] / cp["best"]
    rows = [
        _common.entry(
            "checkpoint_nothing_pending_vs_event_is_set",
            cp["best"],
            "ns/call",
            baseline=ev["best"],
            ratio=ratio_event,
            target="ratio <= 2 (checkpoint / Event.is_set)",
            met=ratio_event <= 2 and net_ratio_event <= 2,
            checkpoint_median_ns=cp["median"],
            event_median_ns=ev["median"],
            timeit_loop_overhead_ns=loop["best"],
            ratio_net_of_loop_overhead=net_ratio_event,
        ),
        _common.entry(
            "checkpoint_nothing_pending_vs_redis_get",
            cp["best"],
            "ns/call",
            baseline=get["best"],
            ratio=ratio_get,
            target="ratio >= 500 (GET / checkpoint)",
            met=ratio_get >= 500,
            get_median_ns=get["median"],
        ),
    ]
    return rows, {"checkpoint_ns": cp, "event_is_set_ns": ev, "get_ns": get, "loop_ns": loop}


def bench_raw_publish(url: str, mode: str, samples: int, switch: float | None) -> dict[str, Any]:
    """PUBLISH (plain redis-py) to a subscriber thread in another process."""
    import redis

    channel = f"bench:raw:{uuid.uuid4().hex[:8]}"
    args = ["raw", "--url", url, "--channel", channel, "--mode", mode]
    if switch:
        args += ["--switch-interval", str(switch)]
    worker = Worker(args)
    client = redis.Redis.from_url(url)
    from_return: list[float] = []
    from_call: list[float] = []
    try:
        worker.expect("ready")
        if mode == "busy":
            worker.expect("calibrated")
        for i in range(samples + 3):
            _pause_phase()
            t_call = time.monotonic()
            client.publish(channel, "x")
            t_ret = time.monotonic()
            t_msg = worker.expect("message")["t"]
            if i >= 3:  # the first few warm up connections and caches
                from_return.append(t_msg - t_ret)
                from_call.append(t_msg - t_call)
    finally:
        client.close()
        worker.close()
    return {
        "from_return_ms": _common.summary(_ms(from_return)),
        "from_call_ms": _common.summary(_ms(from_call)),
    }


def bench_pause(url: str, mode: str, samples: int, switch: float | None) -> dict[str, Any]:
    """pause_execution() returning -> the worker's checkpoint observes it (and resume)."""
    from tablevault_redis import VaultClient

    name = f"pause-{mode}-{uuid.uuid4().hex[:8]}"
    args = ["vault", "--url", url, "--name", name, "--mode", mode]
    if switch:
        args += ["--switch-interval", str(switch)]
    worker = Worker(args)
    ctl = VaultClient(url, NAMESPACE)
    observe: list[float] = []
    observe_call: list[float] = []
    applied: list[float] = []
    resume: list[float] = []
    try:
        worker.expect("ready")
        if mode == "busy":
            worker.info["calibrated"] = worker.expect("calibrated")
        for i in range(samples + 3):
            _pause_phase()
            t_call = time.monotonic()
            ctl.pause_execution(name)
            t_ret = time.monotonic()
            obs = worker.expect("observe")
            time.sleep(0.002)
            ctl.resume_execution(name)
            t_ret2 = time.monotonic()
            res = worker.expect("resumed")
            if i >= 3:
                observe.append(obs["t"] - t_ret)
                observe_call.append(obs["t"] - t_call)
                applied.append(obs["applied"] - t_ret)
                resume.append(res["t"] - t_ret2)
    finally:
        ctl.close()
        worker.close()
    return {
        "observe_ms": _common.summary(_ms(observe)),
        "observe_from_call_ms": _common.summary(_ms(observe_call)),
        "listener_applied_ms": _common.summary(_ms(applied)),
        "resume_ms": _common.summary(_ms(resume)),
        "calibration": worker.info.get("calibrated"),
    }


def bench_stop(url: str, mode: str, samples: int) -> dict[str, Any]:
    """stop_execution() returning -> the worker's checkpoint raises; one worker per stop."""
    from tablevault_redis import VaultClient

    ctl = VaultClient(url, NAMESPACE)
    observe: list[float] = []
    observe_call: list[float] = []
    applied: list[float] = []
    exited: list[float] = []
    try:
        for _ in range(samples):
            name = f"stop-{mode}-{uuid.uuid4().hex[:8]}"
            worker = Worker(["vault", "--url", url, "--name", name, "--mode", mode])
            try:
                worker.expect("ready")
                if mode == "busy":
                    worker.expect("calibrated")
                time.sleep(0.05)
                _pause_phase()
                t_call = time.monotonic()
                ctl.stop_execution(name)
                t_ret = time.monotonic()
                obs = worker.expect("observe")
                worker.proc.wait(timeout=EVENT_TIMEOUT_S)
                t_exit = time.monotonic()
                if obs.get("pending") != "stop":
                    raise RuntimeError(f"worker observed {obs.get('pending')!r}, not stop")
                observe.append(obs["t"] - t_ret)
                observe_call.append(obs["t"] - t_call)
                applied.append(obs["applied"] - t_ret)
                exited.append(t_exit - t_ret)
            finally:
                worker.close()
    finally:
        ctl.close()
    return {
        "observe_ms": _common.summary(_ms(observe)),
        "observe_from_call_ms": _common.summary(_ms(observe_call)),
        "listener_applied_ms": _common.summary(_ms(applied)),
        "process_exit_ms": _common.summary(_ms(exited)),
    }


def _latency_row(
    name: str, result: dict[str, Any], base: dict[str, Any], limit_ms: float, key: str
) -> dict[str, Any]:
    """value: median from the request call's return; baseline and ratio compare the
    round trips measured from the call (raw PUBLISH vs the library's request), which
    unlike from-return times cannot go negative when the controller is descheduled."""
    s = result[key]
    own = result["observe_from_call_ms"]
    b = base["from_call_ms"]
    return _common.entry(
        name,
        s["median"],
        "ms (median, from the call's return)",
        baseline=b["median"],
        ratio=own["median"] / b["median"],
        target=f"median < {limit_ms:g} ms",
        met=s["median"] < limit_ms,
        p90_ms=s["p90"],
        min_ms=s["min"],
        max_ms=s["max"],
        samples=s["n"],
        baseline_p90_ms=b["p90"],
        baseline_from_return_median_ms=base["from_return_ms"]["median"],
        **{
            f"{k}_median": v["median"]
            for k, v in result.items()
            if k != key and isinstance(v, dict) and "median" in v
        },
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    load_before = os.getloadavg()[0]
    with _common.private_redis() as server:
        url = server.url
        version = _common.redis_version(server)
        cp_rows, _ = bench_checkpoint(url)
        rows += cp_rows
        limits = {"idle": 2.0, "busy": 10.0}
        for mode in ("idle", "busy"):
            raw = bench_raw_publish(url, mode, args.samples, None)
            rows.append(
                _common.entry(
                    f"raw_publish_to_subscriber_thread_{mode}",
                    raw["from_return_ms"]["median"],
                    "ms (median, from the call's return)",
                    p90_ms=raw["from_return_ms"]["p90"],
                    samples=raw["from_return_ms"]["n"],
                    from_call_median_ms=raw["from_call_ms"]["median"],
                    from_call_p90_ms=raw["from_call_ms"]["p90"],
                )
            )
            pause = bench_pause(url, mode, args.samples, None)
            rows.append(
                _latency_row(f"pause_to_checkpoint_{mode}", pause, raw, limits[mode], "observe_ms")
            )
            rows.append(
                _common.entry(
                    f"resume_to_continue_{mode}",
                    pause["resume_ms"]["median"],
                    "ms (median)",
                    p90_ms=pause["resume_ms"]["p90"],
                    samples=pause["resume_ms"]["n"],
                )
            )
            if args.stop_samples:
                stop = bench_stop(url, mode, args.stop_samples)
                rows.append(
                    _latency_row(
                        f"stop_to_checkpoint_{mode}", stop, raw, limits[mode], "observe_ms"
                    )
                )
            if mode == "busy":
                extra["busy_calibration"] = pause.get("calibration")
        si = 0.001 if args.switch_interval is None else args.switch_interval
        if si:
            # Diagnosis: the same busy measurements with a shorter GIL switch interval
            # in the worker (the library is unchanged).
            raw = bench_raw_publish(url, "busy", args.samples, si)
            pause = bench_pause(url, "busy", args.samples, si)
            extra[f"busy_with_switch_interval_{si:g}s"] = {
                "raw_publish_ms": raw["from_return_ms"],
                "pause_observe_ms": pause["observe_ms"],
                "pause_listener_applied_ms": pause["listener_applied_ms"],
            }
    doc: dict[str, Any] = {
        "benchmarks": rows,
        "machine": _common.machine_info(
            redis_server=version,
            idle_loop=f"checkpoint + time.sleep({IDLE_SLEEP_S})",
            busy_loop=f"checkpoint + ~{BUSY_WORK_S * 1000:g} ms pure-Python loop",
            loadavg_1min_before_after=[round(load_before, 2), round(os.getloadavg()[0], 2)],
        ),
    }
    if extra:
        doc["diagnostics"] = _common._round(extra)
    return doc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=50, help="pause/resume and PUBLISH samples")
    parser.add_argument("--stop-samples", type=int, default=30, help="stops (one worker each)")
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="also measure busy workers with this sys.setswitchinterval (default 0.001; 0: skip)",
    )
    parser.add_argument("--worker", choices=("vault", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--channel", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("idle", "busy"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "vault":
        worker_vault(args.url, args.name, args.mode, args.switch_interval)
    elif args.worker == "raw":
        worker_raw(args.url, args.channel, args.mode, args.switch_interval)
    else:
        _common.emit("control", run(args))


if __name__ == "__main__":
    main()
