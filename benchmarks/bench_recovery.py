"""How long a live worker is uncontrollable after the server lost its data.

Each round starts a private redis-server without persistence and a worker process
(tests/scripts/worker.py) beating every ``--heartbeat`` seconds. Then the data goes:
the server is restarted (everything lost), or ``FLUSHALL`` runs. From the moment the
server answers again, the benchmark calls ``stop_execution`` (no wait) every 10 ms
until one is accepted (before the worker puts its record back the answer is "no
process named ..."), then waits for the worker to act on it (exit 0, record
``stopped``). Uncontrollable time = that exit - the server's return; the heartbeat
interval of the same run is beside it. It prints one JSON document and writes it to
``benchmarks/results/recovery.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import _common
from helpers import child_env

from tablevault_redis import NotFoundError, ValidationError, VaultClient, VaultConnectionError

SCRIPT = _common.ROOT / "tests" / "scripts" / "worker.py"
DEADLINE_S = 30.0


def _start_worker(url: str, namespace: str, workdir: Path, interval: float) -> Any:
    hb = ["--heartbeat", str(interval), str(interval * 3)]
    return _common.start_worker(
        [sys.executable, str(SCRIPT), "w", str(workdir), *hb],
        child_env(url, namespace),
        workdir,
        DEADLINE_S,
    )


def _try_stop(client: VaultClient) -> bool:
    try:
        client.stop_execution("w")
        return True
    except NotFoundError:  # the record is not back yet
        return False
    except VaultConnectionError as e:
        if not e.transient:
            raise
    except ValidationError as e:  # "not alive" until the heartbeat is back
        if "not alive" not in str(e):
            raise
    return False


def one_round(loss: str, interval: float) -> dict[str, float]:
    namespace = "br" + uuid.uuid4().hex[:8]
    with _common.private_redis() as server, tempfile.TemporaryDirectory() as tmp:
        worker = _start_worker(server.url, namespace, Path(tmp), interval)
        try:
            with VaultClient(server.url, namespace) as client:
                if loss == "restart":
                    server.restart()  # returns once the new server answers PING
                else:
                    client.redis.flushall()
                t0 = time.monotonic()
                accepted = None
                while accepted is None:
                    if time.monotonic() - t0 > DEADLINE_S:
                        raise RuntimeError("no stop was accepted within the deadline")
                    if _try_stop(client):
                        accepted = time.monotonic()
                    else:
                        time.sleep(0.01)
                worker.wait(DEADLINE_S)
                acted = time.monotonic()
                assert worker.returncode == 0
                assert client.get_process("w").status == "stopped"
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
    return {"stop_accepted_s": accepted - t0, "uncontrollable_s": acted - t0}


def run(rounds: int, interval: float) -> dict[str, Any]:
    rows, diagnostics = [], {}
    for loss in ("restart", "flushall"):
        results = [one_round(loss, interval) for _ in range(rounds)]
        out = {k: [r[k] for r in results] for k in results[0]}
        stats = _common.summary(out["uncontrollable_s"])
        rows.append(
            _common.entry(
                f"uncontrollable_after_data_loss_{loss}",
                stats["median"],
                "s",
                baseline=interval,
                ratio=stats["max"] / interval,
                target=f"at most 2 heartbeat intervals ({2 * interval} s) in every round",
                met=stats["max"] <= 2 * interval,
                stop_accepted_s=_common.summary(out["stop_accepted_s"]),
                **stats,
            )
        )
        diagnostics[loss] = _common._round(out)
    return {
        "benchmarks": rows,
        "machine": _common.machine_info(heartbeat_interval_s=interval, rounds=rounds),
        "diagnostics": diagnostics,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="losses of each kind to measure")
    parser.add_argument("--heartbeat", type=float, default=1.0, help="worker heartbeat interval")
    args = parser.parse_args(argv)
    _common.emit("recovery", run(args.rounds, args.heartbeat))


if __name__ == "__main__":
    main()
