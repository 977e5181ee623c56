"""Control-plane benchmarks: checkpoint cost and request-to-checkpoint latency.

Run from the repository root (starts its own redis-server on a free port)::

    .venv/bin/python benchmarks/bench_control.py

It prints one JSON document and writes it to ``benchmarks/results/control.json``.
Every ratio compares numbers measured in the same run on the same machine.

1. ``checkpoint_execution()`` with nothing pending, against ``Event.is_set()`` and a
   Redis ``GET`` (what a polling design pays per checkpoint).
2. Request latency, measured from the moment ``pause_execution()`` /
   ``stop_execution()`` is called (and returns) in this process to the moment a
   worker process's checkpoint observes the request, and for stops to the moment
   ``ExecutionStopped`` is raised (both stamps are ``time.monotonic()``, i.e. the
   system-wide CLOCK_MONOTONIC on Linux, so they compare across processes), with the
   signal fast path (the default) and without it (``TABLEVAULT_FAST_SIGNALS=0``), in
   the same run. Pause/resume pairs give many samples per worker, stops restart the
   worker each time. Beside it, the raw floor: a plain redis-py ``PUBLISH`` to a
   subscriber thread in another process. Worker loops: ``idle`` (sleeps 0.5 ms per
   checkpoint), ``busy`` (about 1 ms of pure Python per checkpoint) and ``tight``
   (about 50 us of pure Python per checkpoint).

Raw samples go to ``diagnostics.samples_ms``; with matplotlib installed (the
``bench`` extra) one plot per figure is written beside the JSON.

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

_ROOT = _common.ROOT

NAMESPACE = "bench"
USER = "bench"
IDLE_SLEEP_S = 0.0005  # idle loop: checkpoint, then this sleep
BUSY_WORK_S = 0.001  # busy loop: checkpoint after about this much pure-Python work
TIGHT_WORK_S = 0.00005  # tight loop: checkpoint after about this much pure-Python work
MODES = ("idle", "busy", "tight")
WORKER_MODES = (*MODES, "asleep")
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
    """Call ``step`` (a checkpoint or nothing) forever, idle or busy; asleep: never."""
    if mode == "asleep":
        while True:
            time.sleep(3600)
    if mode == "idle":
        sleep = time.sleep
        while True:
            step()
            sleep(IDLE_SLEEP_S)
    n = _calibrate(TIGHT_WORK_S if mode == "tight" else BUSY_WORK_S)
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
    orig_stop = vault._outbox.stop

    def outbox_stop(timeout: float) -> bool:
        done = orig_stop(timeout)  # returns once every queued write, the final status
        _say(ev="flushed", t=time.monotonic(), done=done)  # among them, reached Redis
        return done

    vault._outbox.stop = outbox_stop  # type: ignore[method-assign]
    ctl = vault._control
    applied = [0.0, ""]
    # Instrument this instance only (the library is unchanged): stamp when a request
    # was applied (and by which thread: the listener, or the main thread's signal
    # handler), when the checkpoint takes the slow path (it has observed the
    # request) and when it raises ExecutionStopped.
    orig_apply, orig_act = ctl.apply, ctl.act

    def apply(seq: int, action: str | None, by: str = "") -> bool:
        ok = orig_apply(seq, action, by)
        if ok and action in ("stop", "pause"):
            applied[:] = [time.monotonic(), threading.current_thread().name]
        return ok

    def act() -> None:
        t = time.monotonic()
        _say(ev="observe", t=t, applied=applied[0], by=applied[1], pending=ctl.pending)
        try:
            orig_act()  # waits while paused; raises ExecutionStopped on stop
        except BaseException:
            _say(ev="raised", t=time.monotonic())
            raise
        _say(ev="resumed", t=time.monotonic())

    orig_wait_paused = ctl._wait_paused

    def wait_paused(report: bool = True) -> None:
        _say(ev="paused", t=time.monotonic())  # the pause is in effect (verified)
        orig_wait_paused(report)

    ctl.apply = apply  # type: ignore[method-assign]
    ctl.act = act  # type: ignore[method-assign]
    ctl._wait_paused = wait_paused  # type: ignore[method-assign]
    threads = {str(t.native_id): t.name for t in threading.enumerate()}
    _say(ev="ready", pid=os.getpid(), fast=vault._wakeup is not None, threads=threads)
    _loop(mode, vault.checkpoint_execution)


def worker_raw(url: str, channel: str, mode: str, switch_interval: float | None) -> None:
    """A subscriber thread (plain redis-py) that stamps each message it receives, then
    reads one key on its own command connection and stamps again: the least that a
    worker which checks a request on the server before acting on it pays."""
    if switch_interval:
        sys.setswitchinterval(switch_interval)
    import redis

    client = redis.Redis.from_url(url)
    pubsub = client.pubsub()
    pubsub.subscribe(channel)
    client.get(channel)  # the command connection, opened before the first message
    subscribed = threading.Event()

    def listen() -> None:
        while True:
            msg = pubsub.get_message(timeout=0.5)
            if msg is None:
                continue
            if msg["type"] == "subscribe":
                subscribed.set()
            elif msg["type"] == "message":
                t = time.monotonic()
                client.get(channel)
                _say(ev="message", t=t, verified=time.monotonic())

    threading.Thread(target=listen, daemon=True).start()
    subscribed.wait(10)
    _say(ev="ready", pid=os.getpid())
    _loop(mode, lambda: None)


# ---------------------------------------------------------------------------
# Controller side
# ---------------------------------------------------------------------------


class Worker:
    """A worker subprocess and a line reader with timeouts on its stdout."""

    def __init__(self, args: list[str], fast: bool = True) -> None:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        env = dict(os.environ, TABLEVAULT_FAST_SIGNALS="1" if fast else "0")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", *args],
            env=env,
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


def _timed_request(
    request: Any, name: str, worker: Worker, then: str
) -> tuple[float, float, dict[str, Any], dict[str, Any]]:
    """``request(name)`` at a random point of the worker's loop: the call's start and
    return, and the worker's ``observe`` event and its ``then`` event after it."""
    _pause_phase()
    t_call = time.monotonic()
    request(name)
    t_ret = time.monotonic()
    return t_call, t_ret, worker.expect("observe"), worker.expect(then)


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
            target="ratio <= 1.2 (checkpoint / Event.is_set)",
            met=ratio_event <= 1.2,
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
    verified: list[float] = []
    try:
        worker.expect("ready")
        if mode != "idle":
            worker.expect("calibrated")
        for i in range(samples + 3):
            _pause_phase()
            t_call = time.monotonic()
            client.publish(channel, "x")
            t_ret = time.monotonic()
            msg = worker.expect("message")
            if i >= 3:  # the first few warm up connections and caches
                from_return.append(msg["t"] - t_ret)
                from_call.append(msg["t"] - t_call)
                verified.append(msg["verified"] - t_call)
    finally:
        client.close()
        worker.close()
    return {
        "from_return_ms": _common.summary(_ms(from_return)),
        "from_call_ms": _common.summary(_ms(from_call)),
        "verified_from_call_ms": _common.summary(_ms(verified)),
        "samples_from_call_ms": _ms(from_call),
        "samples_verified_from_call_ms": _ms(verified),
    }


def bench_pause(
    url: str, mode: str, samples: int, switch: float | None, fast: bool = True
) -> dict[str, Any]:
    """pause_execution() returning -> the worker's checkpoint observes it (and resume)."""
    from tablevault_redis import VaultClient

    name = f"pause-{mode}-{uuid.uuid4().hex[:8]}"
    args = ["vault", "--url", url, "--name", name, "--mode", mode]
    if switch:
        args += ["--switch-interval", str(switch)]
    worker = Worker(args, fast)
    ctl = VaultClient(url, NAMESPACE)
    observe: list[float] = []
    observe_call: list[float] = []
    paused_call: list[float] = []
    applied: list[float] = []
    resume: list[float] = []
    try:
        worker.expect("ready")
        if mode != "idle":
            worker.info["calibrated"] = worker.expect("calibrated")
        for i in range(samples + 3):
            t_call, t_ret, obs, paused = _timed_request(ctl.pause_execution, name, worker, "paused")
            time.sleep(0.002)
            ctl.resume_execution(name)
            t_ret2 = time.monotonic()
            res = worker.expect("resumed")
            if i >= 3:
                observe.append(obs["t"] - t_ret)
                observe_call.append(obs["t"] - t_call)
                paused_call.append(paused["t"] - t_call)
                applied.append(obs["applied"] - t_ret)
                resume.append(res["t"] - t_ret2)
    finally:
        ctl.close()
        worker.close()
    return {
        "observe_ms": _common.summary(_ms(observe)),
        "observe_from_call_ms": _common.summary(_ms(observe_call)),
        "paused_from_call_ms": _common.summary(_ms(paused_call)),
        "applied_ms": _common.summary(_ms(applied)),
        "resume_ms": _common.summary(_ms(resume)),
        "calibration": worker.info.get("calibrated"),
        "samples_from_call_ms": _ms(paused_call),
    }


def bench_stop(url: str, mode: str, samples: int, fast: bool = True) -> dict[str, Any]:
    """stop_execution() returning -> the worker's checkpoint raises; one worker per stop."""
    from tablevault_redis import VaultClient

    ctl = VaultClient(url, NAMESPACE)
    observe: list[float] = []
    observe_call: list[float] = []
    applied: list[float] = []
    raised_call: list[float] = []
    by_handler = 0
    exited: list[float] = []
    try:
        for _ in range(samples):
            name = f"stop-{mode}-{uuid.uuid4().hex[:8]}"
            worker = Worker(["vault", "--url", url, "--name", name, "--mode", mode], fast)
            try:
                worker.expect("ready")
                if mode != "idle":
                    worker.expect("calibrated")
                time.sleep(0.05)
                pidfd = os.pidfd_open(worker.proc.pid)
                try:
                    t_call, t_ret, obs, raised = _timed_request(
                        ctl.stop_execution, name, worker, "raised"
                    )
                    t_exit = _common.wait_gone(pidfd, EVENT_TIMEOUT_S)
                finally:
                    os.close(pidfd)
                worker.proc.wait()
                if obs.get("pending") != "stop":
                    raise RuntimeError(f"worker observed {obs.get('pending')!r}, not stop")
                observe.append(obs["t"] - t_ret)
                observe_call.append(obs["t"] - t_call)
                applied.append(obs["applied"] - t_ret)
                raised_call.append(raised["t"] - t_call)
                by_handler += obs.get("by") == "MainThread"
                exited.append(t_exit - t_ret)
            finally:
                worker.close()
    finally:
        ctl.close()
    return {
        "observe_ms": _common.summary(_ms(observe)),
        "observe_from_call_ms": _common.summary(_ms(observe_call)),
        "applied_ms": _common.summary(_ms(applied)),
        "raised_from_call_ms": _common.summary(_ms(raised_call)),
        "applied_by_the_signal_handler": by_handler,
        "process_exit_ms": _common.summary(_ms(exited)),
        "samples_from_call_ms": _ms(raised_call),
    }


# Targets from issue 11, from the request call's start: a busy main thread acts in
# under 1 ms p50 and 5 ms p99; idle, the floor is the request's round trip plus
# one delivery (measured with the tight loop, checkpoints 50 us apart); the idle
# loop (checkpoints 0.5 ms apart) keeps the older 2 ms target.
TARGETS = {"busy": (1.0, 5.0), "tight": (0.5, None), "idle": (2.0, None)}


def _latency_row(
    name: str, mode: str, s: dict[str, Any], base_name: str, base: dict[str, Any], **detail: Any
) -> dict[str, Any]:
    """value: the median from the call's start; baseline: ``base``'s median."""
    p50, p99 = TARGETS[mode]
    met = s["median"] < p50 and (p99 is None or s["p99"] < p99)
    target = f"median < {p50:g} ms" + (f", p99 < {p99:g} ms" if p99 else "")
    return _common.entry(
        name,
        s["median"],
        "ms (median, from the call's start)",
        baseline=base["median"],
        ratio=s["median"] / base["median"],
        target=target,
        met=met,
        baseline_is=base_name,
        p90_ms=s["p90"],
        p99_ms=s["p99"],
        min_ms=s["min"],
        max_ms=s["max"],
        samples=s["n"],
        **detail,
    )


def _mode_rows(url: str, mode: str, args: argparse.Namespace, samples: dict[str, Any]) -> list:
    """Raw floor, then pause and stop with the fast path off and on, for one loop."""
    raw = bench_raw_publish(url, mode, args.samples, None)
    rows = [
        _common.entry(
            f"raw_publish_to_subscriber_thread_{mode}",
            raw["from_call_ms"]["median"],
            "ms (median, from the call's start)",
            p90_ms=raw["from_call_ms"]["p90"],
            p99_ms=raw["from_call_ms"]["p99"],
            samples=raw["from_call_ms"]["n"],
            from_return_median_ms=raw["from_return_ms"]["median"],
        )
    ]
    floor = raw["verified_from_call_ms"]
    rows.append(
        _common.entry(
            f"raw_publish_then_one_round_trip_{mode}",
            floor["median"],
            "ms (median, from the call's start)",
            baseline=raw["from_call_ms"]["median"],
            ratio=floor["median"] / raw["from_call_ms"]["median"],
            baseline_is="the message received (the row above, same samples)",
            p90_ms=floor["p90"],
            p99_ms=floor["p99"],
            samples=floor["n"],
            note="the subscriber thread then reads one key (GET) before stamping: the "
            "least a worker that checks a request on the server before acting pays",
        )
    )
    samples[f"raw_publish_{mode}"] = raw["samples_from_call_ms"]
    samples[f"raw_publish_then_one_round_trip_{mode}"] = raw["samples_verified_from_call_ms"]
    for what in ("pause", "stop"):
        if what == "stop" and not args.stop_samples:
            continue
        runs = {}
        for fast in (False, True):
            if what == "pause":
                runs[fast] = bench_pause(url, mode, args.samples, None, fast)
            else:
                runs[fast] = bench_stop(url, mode, args.stop_samples, fast)
            samples[f"{what}_{mode}{'' if fast else '_no_fast_signals'}"] = runs[fast].pop(
                "samples_from_call_ms"
            )
        key = "paused_from_call_ms" if what == "pause" else "raised_from_call_ms"
        label = "checkpoint" if what == "pause" else "raised"
        extra = {k: v for k, v in runs[True].items() if k.endswith("handler")}
        if what == "pause":  # the checkpoint saw it; it pauses once it verified it
            extra["observed_from_call_ms"] = runs[True]["observe_from_call_ms"]
        rows.append(
            _latency_row(
                f"{what}_to_{label}_{mode}_no_fast_signals",
                mode,
                runs[False][key],
                "raw PUBLISH to a subscriber thread",
                raw["from_call_ms"],
            )
        )
        rows.append(
            _latency_row(
                f"{what}_to_{label}_{mode}",
                mode,
                runs[True][key],
                "the same without the fast path",
                runs[False][key],
                **extra,
                from_return_median_ms=runs[True]["observe_ms"]["median"],
            )
        )
        if what == "pause":
            rows.append(
                _common.entry(
                    f"resume_to_continue_{mode}",
                    runs[True]["resume_ms"]["median"],
                    "ms (median, from the call's return)",
                    p90_ms=runs[True]["resume_ms"]["p90"],
                    samples=runs[True]["resume_ms"]["n"],
                )
            )
    return rows


# Exit baselines: a bare interpreter, and one that imported what a worker imports
# (redis-py and the Vault's modules), each stamping time.monotonic() as its last act.
_EXIT_BASELINES = {
    "bare interpreter": "import time",
    "interpreter with redis and tablevault_redis imported": (
        f"import sys, time; sys.path.insert(0, {str(_ROOT)!r}); import redis; "
        "from tablevault_redis import Vault"
    ),
}


def _baseline_exit(code: str) -> float:
    proc = subprocess.Popen(
        [sys.executable, "-c", code + "; print(time.monotonic(), flush=True)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    stamp = float(proc.stdout.readline())
    proc.wait()
    reaped = time.monotonic()
    proc.stdout.close()
    return reaped - stamp


# TABLEVAULT_FAST_EXIT per exit variant: unset (the default quick exit), 1 (also
# gc.freeze at atexit), 0 (the interpreter's own teardown).
_EXIT_VARIANTS = {"reaped": None, "reaped_fast_exit": "1", "reaped_no_quick_exit": "0"}


def _stopped_worker_exit(ctl: Any, url: str, name: str, fast_exit: str | None) -> tuple:
    """One busy worker stopped: (raised, flushed, reaped) stamps, stderr lines besides
    the stop notice."""
    env = dict(os.environ)
    os.environ.pop("TABLEVAULT_FAST_EXIT", None)
    if fast_exit is not None:
        os.environ["TABLEVAULT_FAST_EXIT"] = fast_exit
    try:
        worker = Worker(["vault", "--url", url, "--name", name, "--mode", "busy"])
    finally:
        os.environ.clear()
        os.environ.update(env)
    try:
        worker.expect("calibrated")
        pidfd = os.pidfd_open(worker.proc.pid)  # its exit, timed as it happens
        try:
            _pause_phase()
            ctl.stop_execution(name)
            raised = worker.expect("raised")["t"]
            flushed = worker.expect("flushed")["t"]
            reaped = _common.wait_gone(pidfd, EVENT_TIMEOUT_S)
        finally:
            os.close(pidfd)
        worker.proc.wait()
        worker.stderr.seek(0)
        err = worker.stderr.read().decode(errors="replace")
        return raised, flushed, reaped, sum("stopped by" not in ln for ln in err.splitlines())
    finally:
        worker.close()


def bench_exit(url: str, samples: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A busy worker stopped: raise -> final status written -> process reaped, by
    default, with ``TABLEVAULT_FAST_EXIT=1`` and with ``=0``, beside the baselines'
    own exits, in the same rounds."""
    from tablevault_redis import VaultClient

    ctl = VaultClient(url, NAMESPACE)
    times: dict[str, list[float]] = {k: [] for k in _EXIT_BASELINES}
    for key in ("written", *_EXIT_VARIANTS, "warnings"):
        times[key] = []
    try:
        for i in range(samples):
            for key, fast_exit in _EXIT_VARIANTS.items():
                name = f"exit-{i}-{fast_exit}-{uuid.uuid4().hex[:6]}"
                raised, flushed, reaped, warnings = _stopped_worker_exit(ctl, url, name, fast_exit)
                times["warnings"].append(warnings)
                times[key].append(reaped - raised)
                if fast_exit is None:
                    times["written"].append(flushed - raised)
            for label, code in _EXIT_BASELINES.items():
                times[label].append(_baseline_exit(code))
    finally:
        ctl.close()
    return _exit_rows(times), {k: _ms(v) for k, v in times.items() if k != "warnings"}


def _exit_rows(times: dict[str, list[float]]) -> list[dict[str, Any]]:
    s = {k: _common.summary(_ms(v)) for k, v in times.items() if k != "warnings"}
    bare = s["bare interpreter"]["median"]
    imported = s["interpreter with redis and tablevault_redis imported"]["median"]
    rows = [
        _common.entry(
            "stop_raised_to_final_status_written",
            s["written"]["median"],
            "ms (median)",
            target="median < 5 ms",
            met=s["written"]["median"] < 5,
            p90_ms=s["written"]["p90"],
            p99_ms=s["written"]["p99"],
            samples=s["written"]["n"],
            stderr_lines_besides_the_stop_notice=sum(times["warnings"]),
        )
    ]
    for key in _EXIT_VARIANTS:
        rows.append(
            _common.entry(
                "stop_raised_to_process_exited" + key.removeprefix("reaped"),
                s[key]["median"],
                "ms (median)",
                baseline=bare,
                ratio=s[key]["median"] / bare,
                target="median < 20 ms + the bare interpreter's exit",
                met=s[key]["median"] < 20 + bare,
                p90_ms=s[key]["p90"],
                p99_ms=s[key]["p99"],
                samples=s[key]["n"],
                bare_interpreter_exit_median_ms=bare,
                interpreter_with_the_same_imports_exit_median_ms=imported,
            )
        )
    return rows


def _thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far of each thread of ``pid`` (Linux: nanoseconds in schedstat)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="ascii") as f:
            out[tid] = int(f.read().split()[0]) / 1e9
    return out


def bench_idle_cpu(url: str, seconds: float) -> list[dict[str, Any]]:
    """CPU per second of an idle worker (main thread asleep, default heartbeat), by
    thread, with the fast path on and off."""
    rows = []
    for fast in (True, False):
        name = f"idle-cpu-{uuid.uuid4().hex[:8]}"
        worker = Worker(["vault", "--url", url, "--name", name, "--mode", "asleep"], fast)
        try:
            names = worker.expect("ready").get("threads", {})
            time.sleep(2.0)  # past start-up
            before, t0 = _thread_cpu(worker.proc.pid), time.monotonic()
            time.sleep(seconds)
            after, elapsed = _thread_cpu(worker.proc.pid), time.monotonic() - t0
        finally:
            worker.close()
        per_thread = {t: (after[t] - before.get(t, 0.0)) * 1e3 / elapsed for t in after}
        total = sum(per_thread.values())
        rows.append(
            _common.entry(
                "idle_worker_cpu" + ("" if fast else "_no_fast_signals"),
                total,
                "ms of CPU per second",
                target="<= 0.3 ms/s",
                met=total <= 0.3,
                seconds=elapsed,
                by_thread_ms_per_s=sorted(per_thread.values(), reverse=True),
                by_thread_name_ms_per_s={
                    names.get(t, t): round(v, 4)
                    for t, v in sorted(per_thread.items(), key=lambda kv: -kv[1])
                },
            )
        )
    return rows


def _plot(samples: dict[str, Any]) -> list[str]:
    import _plots

    written = []
    for what in ("pause", "stop"):
        for mode in MODES:
            series = {
                "fast path": samples.get(f"{what}_{mode}", []),
                "no fast path": samples.get(f"{what}_{mode}_no_fast_signals", []),
                "raw PUBLISH floor": samples.get(f"raw_publish_{mode}", []),
                "raw PUBLISH + one round trip": samples.get(
                    f"raw_publish_then_one_round_trip_{mode}", []
                ),
            }
            if not series["fast path"]:
                continue
            path = _common.RESULTS / f"control_{what}_{mode}.png"
            title = f"{what}_execution() called -> {'paused' if what == 'pause' else 'raised'}"
            if _plots.ecdf(path, f"{title} ({mode} worker)", series, "ms from the call's start"):
                written.append(path.name)
    if "exit" in samples:
        path = _common.RESULTS / "control_exit.png"
        series = {
            "raise -> final status written": samples["exit"]["written"],
            "raise -> process exited": samples["exit"]["reaped"],
            "raise -> process exited (fast_exit)": samples["exit"]["reaped_fast_exit"],
            "raise -> process exited (TABLEVAULT_FAST_EXIT=0)": samples["exit"][
                "reaped_no_quick_exit"
            ],
        }
        series.update({f"{k}: exit": v for k, v in samples["exit"].items() if "interp" in k})
        if _plots.ecdf(path, "A stopped worker's exit", series, "ms"):
            written.append(path.name)
    return written


def run(args: argparse.Namespace) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    samples: dict[str, Any] = {}
    load_before = os.getloadavg()[0]
    with _common.private_redis() as server:
        url = server.url
        version = _common.redis_version(server)
        if args.only == "idle":  # the idle-CPU rows alone (a quick look, about 2x S seconds)
            rows += bench_idle_cpu(url, args.idle_seconds or 10)
            return {"benchmarks": rows, "machine": _common.machine_info(redis_server=version)}
        exit_only = args.only == "exit"
        if not exit_only:
            cp_rows, _ = bench_checkpoint(url)
            rows += cp_rows
            for mode in MODES:
                rows += _mode_rows(url, mode, args, samples)
        if args.idle_seconds and sys.platform.startswith("linux") and not exit_only:
            rows += bench_idle_cpu(url, args.idle_seconds)
        if args.exit_samples:
            exit_rows, samples["exit"] = bench_exit(url, args.exit_samples)
            rows += exit_rows
        si = 0.001 if args.switch_interval is None else args.switch_interval
        if si and not exit_only:
            # Diagnosis: the busy measurements without the fast path and with a
            # shorter GIL switch interval in the worker (the library is unchanged).
            raw = bench_raw_publish(url, "busy", args.samples, si)
            pause = bench_pause(url, "busy", args.samples, si, fast=False)
            extra[f"busy_with_switch_interval_{si:g}s"] = {
                "raw_publish_ms": raw["from_return_ms"],
                "pause_observe_ms": pause["observe_ms"],
                "pause_applied_ms": pause["applied_ms"],
            }
    doc: dict[str, Any] = {
        "benchmarks": rows,
        "machine": _common.machine_info(
            redis_server=version,
            idle_loop=f"checkpoint + time.sleep({IDLE_SLEEP_S})",
            busy_loop=f"checkpoint + ~{BUSY_WORK_S * 1000:g} ms pure-Python loop",
            tight_loop=f"checkpoint + ~{TIGHT_WORK_S * 1e6:g} us pure-Python loop",
            loadavg_1min_before_after=[round(load_before, 2), round(os.getloadavg()[0], 2)],
        ),
    }
    extra["plots"] = _plot(samples)
    exits = samples.pop("exit", {})
    extra["samples_ms"] = {k: [round(v, 4) for v in vs] for k, vs in samples.items()}
    extra["samples_ms"]["exit"] = {k: [round(v, 3) for v in vs] for k, vs in exits.items()}
    doc["diagnostics"] = _common._round(extra)
    return doc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=50, help="pause/resume and PUBLISH samples")
    parser.add_argument("--stop-samples", type=int, default=30, help="stops (one worker each)")
    parser.add_argument(
        "--idle-seconds", type=float, default=20, help="idle worker CPU measured (0: skip)"
    )
    parser.add_argument("--idle-only", action="store_true", help="the same as --only idle")
    parser.add_argument(
        "--exit-samples", type=int, default=20, help="stopped workers timed to exit (0: skip)"
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="also measure busy workers with this sys.setswitchinterval (default 0.001; 0: skip)",
    )
    parser.add_argument(
        "--only",
        choices=("exit", "idle"),
        help="run only these rows (written to results/control_<rows>.json; idle: Linux)",
    )
    parser.add_argument("--worker", choices=("vault", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--channel", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=WORKER_MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "vault":
        worker_vault(args.url, args.name, args.mode, args.switch_interval)
    elif args.worker == "raw":
        worker_raw(args.url, args.channel, args.mode, args.switch_interval)
    else:
        if args.idle_only:
            args.only = "idle"
        _common.emit("control" + (f"_{args.only}" if args.only else ""), run(args))


if __name__ == "__main__":
    main()
