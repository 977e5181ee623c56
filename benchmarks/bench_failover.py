"""How long a live worker is out of reach after a Sentinel failover.

Each round starts a primary, a replica and three Sentinels (``down-after-milliseconds``
1000, as in tests/test_sentinel.py) and a worker process (tests/scripts/ha_worker.py)
that appends a record per iteration. The primary is killed; from that moment the
benchmark polls, side by side, the Sentinels (promotion: the moment they name the
new primary) and ``stop_execution`` (no wait) until a stop is accepted, then waits
for the worker to act on it (exit 0, record ``stopped``). It prints one JSON
document and writes it to ``benchmarks/results/failover.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import _common
from server_groups import RedisSentinelServers

from tablevault_redis import ValidationError, VaultClient, VaultConnectionError

SCRIPT = _common.ROOT / "tests" / "scripts" / "ha_worker.py"
DEADLINE_S = 30.0


def _start_worker(url: str, namespace: str, workdir: Path, interval: float) -> Any:
    env = {
        **os.environ,
        "TABLEVAULT_REDIS_URL": url,
        "TEST_NAMESPACE": namespace,
        "TABLEVAULT_HEARTBEAT_INTERVAL": str(interval),
        "TABLEVAULT_HEARTBEAT_TTL": str(max(10.0, interval * 3)),
        "PYTHONPATH": str(_common.ROOT),
    }
    return _common.start_worker(
        [sys.executable, str(SCRIPT), "w", str(workdir)], env, workdir, DEADLINE_S
    )


def _try_stop(client: VaultClient) -> bool:
    try:
        client.stop_execution("w")
        return True
    except VaultConnectionError as e:
        if not e.transient:
            raise
    except ValidationError as e:  # "not alive" until the heartbeat reaches the new primary
        if "not alive" not in str(e):
            raise
    return False


def one_round(interval: float) -> dict[str, float]:
    namespace = "bf" + uuid.uuid4().hex[:8]
    with RedisSentinelServers() as group, tempfile.TemporaryDirectory() as tmp:
        url = group.url()
        worker = _start_worker(url, namespace, Path(tmp), interval)
        try:
            with VaultClient(url, namespace) as client:
                old = group.master_address()
                assert group.master is not None
                group.master.kill()
                t0 = time.monotonic()
                promoted = accepted = None
                while accepted is None:
                    now = time.monotonic()
                    if now - t0 > DEADLINE_S:
                        raise RuntimeError("no stop was accepted within the deadline")
                    if promoted is None and group.master_address() not in (None, old):
                        promoted = now
                    if _try_stop(client):
                        accepted = time.monotonic()
                    time.sleep(0.01)
                worker.wait(DEADLINE_S)
                acted = time.monotonic()
                while promoted is None and time.monotonic() - t0 < DEADLINE_S:
                    if group.master_address() not in (None, old):
                        promoted = time.monotonic()
                    time.sleep(0.01)
                assert promoted is not None and worker.returncode == 0
                assert client.get_process("w").status == "stopped"
                got = {r["i"] for r in client.query_item_content("w_log")}
                lost = len(set(range(_common.worker_progress(Path(tmp)))) - got)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
    return {
        "promotion_s": promoted - t0,
        "stop_accepted_s": accepted - t0,
        "uncontrollable_s": acted - t0,
        "records_lost": lost,
    }


def run(rounds: int, interval: float) -> dict[str, Any]:
    results = [one_round(interval) for _ in range(rounds)]
    out = {k: [r[k] for r in results] for k in results[0]}
    promotion = _common.summary(out["promotion_s"])
    uncontrollable = _common.summary(out["uncontrollable_s"])
    worst_margin = max(
        u - p for u, p in zip(out["uncontrollable_s"], out["promotion_s"], strict=True)
    )
    rows = [
        _common.entry("sentinel_promotion", promotion["median"], "s", **promotion),
        _common.entry(
            "uncontrollable_after_sentinel_failover",
            uncontrollable["median"],
            "s",
            baseline=promotion["median"],
            target=f"at most promotion + 2 heartbeat intervals ({2 * interval} s) in every round",
            met=worst_margin <= 2 * interval,
            worst_beyond_promotion_s=worst_margin,
            stop_accepted_s=_common.summary(out["stop_accepted_s"]),
            **uncontrollable,
        ),
        _common.entry(
            "records_lost_in_failover",
            float(sum(out["records_lost"])),
            "records",
            target="0",
            met=sum(out["records_lost"]) == 0,
        ),
    ]
    return {
        "benchmarks": rows,
        "machine": _common.machine_info(heartbeat_interval_s=interval, rounds=rounds),
        "diagnostics": _common._round(out),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="failovers to measure")
    parser.add_argument("--heartbeat", type=float, default=0.5, help="worker heartbeat interval")
    args = parser.parse_args(argv)
    _common.emit("failover", run(args.rounds, args.heartbeat))


if __name__ == "__main__":
    main()
