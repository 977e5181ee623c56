"""Record benchmarks: outages, append throughput, Redis memory per process.

Run from the repository root (starts its own redis-servers on free ports)::

    .venv/bin/python benchmarks/bench_records.py [--long-outage 30] [--appends 20000]

It prints one JSON document and writes it to ``benchmarks/results/records.json``.

1. Records lost across a 2 s and a ``--long-outage`` s outage (kill -9 of a server
   with AOF ``appendfsync always``, then a restart), for a worker process appending
   in a loop (tests/scripts/outage_appender.py): records lost, duplicated, out of
   order, and the slowest loop iteration while the server was down.
2. ``append_record`` from a Vault (queued, sent in batches) beside a raw redis-py
   ``RPUSH`` loop of the same JSON, in the same run; the Vault's time includes
   waiting until every record is written. A VaultClient's synchronous append too.
3. Redis memory per live and per ended process (``MEMORY USAGE`` of each key of
   the namespace, and ``INFO used_memory``), and per ended process after
   ``delete_processes``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package

import _common  # noqa: E402

WORKER = _common.ROOT / "tests" / "scripts" / "outage_appender.py"


def _env(url: str, namespace: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABLEVAULT_")}
    env.update(TABLEVAULT_REDIS_URL=url, TEST_NAMESPACE=namespace, PYTHONPATH=str(_common.ROOT))
    return env


def _wait(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("benchmark step timed out")
        time.sleep(0.02)


def _progress(workdir: Path) -> int:
    try:
        return int((workdir / "progress").read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def outage(seconds: float) -> dict[str, Any]:
    """One worker through one outage of ``seconds``."""
    from tablevault_redis import VaultClient

    ns = "b" + uuid.uuid4().hex[:8]
    with _common.private_redis(appendonly="yes", appendfsync="always") as server:
        workdir = Path(tempfile.mkdtemp(prefix="tvr-bench-"))
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), "a", str(workdir)], env=_env(server.url, ns)
        )
        try:
            _wait(lambda: _progress(workdir) > 100, 30)
            server.kill()
            down = time.monotonic()
            time.sleep(seconds)
            server.restart()
            up = time.monotonic()
            _wait(lambda: _progress(workdir) > 0, 5)
            (workdir / "quit").write_text("")
            proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
        result = json.loads((workdir / "result.json").read_text())
        with VaultClient(server.url, ns) as c:
            seqs = [r["seq"] for r in c.get_records("a-log")][1:]
    during = [took for end, took in result["iterations"] if down <= end <= up]
    count = result["count"]
    return {
        "outage_s": round(up - down, 2),
        "appended": count,
        "stored": len(seqs),
        "lost": len(set(range(count)) - set(seqs)),
        "duplicates": len(seqs) - len(set(seqs)),
        "in_order": seqs == sorted(seqs),
        "slowest_iteration_during_outage_ms": max(during, default=0.0) * 1000,
        "slowest_iteration_ms": result["max"] * 1000,
    }


def throughput(n: int, rounds: int) -> dict[str, Any]:
    """Seconds for ``n`` appends: raw RPUSH, Vault (queued), VaultClient (sync)."""
    from tablevault_redis import Vault, VaultClient

    record = {"epoch": 1, "loss": 0.123456, "step": 42, "tag": "train"}
    text = json.dumps(record, separators=(",", ":"))
    raw_times, vault_times, client_times = [], [], []
    with _common.private_redis() as server:
        r = server.client()
        vault = Vault("bench", "bench-writer", redis_url=server.url, namespace="bt")
        client = VaultClient(server.url, "bt")
        for k in range(rounds):
            start = time.perf_counter()
            for _ in range(n):
                r.rpush("raw", text)
            raw_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(n):
                vault.append_record(f"v{k}", record)
            assert vault.flush_writes(120)
            vault_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(n // 4):
                client.append_record(f"c{k}", record)
            client_times.append((time.perf_counter() - start) * 4)
        stored = sum(r.llen(f"bt:{{bt}}:records:v{k}") for k in range(rounds))
        vault.close()
        client.close()
        r.close()
    raw, queued, sync = min(raw_times), min(vault_times), min(client_times)
    return {
        "n": n,
        "raw_rpush_s": raw,
        "vault_append_s": queued,
        "client_append_s": sync,
        "vault_ratio": queued / raw,
        "client_ratio": sync / raw,
        "vault_records_stored": stored,
    }


def _memory(r: Any, ns: str) -> tuple[int, int]:
    keys = list(r.scan_iter(match=f"{ns}:*", count=1000))
    return sum(r.memory_usage(k) or 0 for k in keys), int(r.info("memory")["used_memory"])


def memory(n: int) -> dict[str, Any]:
    """Memory per live process, per ended one, and what pruning leaves."""
    from tablevault_redis import VaultClient

    ns = "bm"
    with _common.private_redis() as server:
        r = server.client()
        keys0, used0 = _memory(r, ns)
        procs = []
        for i in range(n):
            workdir = Path(tempfile.mkdtemp(prefix="tvr-mem-"))
            procs.append((workdir, subprocess.Popen(
                [sys.executable, str(WORKER), f"m{i}", str(workdir), "--sleep", "0.05"],
                env=_env(server.url, ns),
            )))  # fmt: skip
        for workdir, _p in procs:
            _wait(lambda w=workdir: _progress(w) >= 20, 60)
        keys_live, used_live = _memory(r, ns)
        for workdir, p in procs:
            (workdir / "quit").write_text("")
            p.wait(60)
        keys_ended, used_ended = _memory(r, ns)
        with VaultClient(server.url, ns) as c:
            for i in range(n):
                # The lists are items of their own: measure the processes without them.
                for kind in ("records", "recmeta", "listmeta"):
                    c.redis.delete(f"{ns}:{{{ns}}}:{kind}:m{i}-log")
                c.redis.zrem(f"{ns}:{{{ns}}}:record_lists", f"m{i}-log")
            keys_records, _u = _memory(r, ns)  # the processes' own keys and index entries
            pruned = c.delete_processes(older_than=0)
        keys_pruned, used_pruned = _memory(r, ns)
        r.close()
    return {
        "processes": n,
        "live_keys_bytes_per_process": (keys_live - keys0) / n,
        "live_used_memory_per_process": (used_live - used0) / n,
        "ended_keys_bytes_per_process": (keys_ended - keys0) / n,
        "ended_without_records_bytes_per_process": (keys_records - keys0) / n,
        "after_prune_keys_bytes_per_process": (keys_pruned - keys0) / n,
        "pruned": len(pruned.deleted),
        "ended_used_memory_per_process": (used_ended - used0) / n,
        "after_prune_used_memory_per_process": (used_pruned - used0) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-outage", type=float, default=30.0)
    parser.add_argument("--appends", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=10)
    args = parser.parse_args()
    short, long_ = outage(2.0), outage(args.long_outage)
    tp = throughput(args.appends, args.rounds)
    mem = memory(args.processes)
    e = _common.entry
    rows = [
        e("records_lost_2s_outage", short["lost"], "records", target="0",
          met=short["lost"] == 0 and short["duplicates"] == 0 and short["in_order"], **short),
        e(f"records_lost_{args.long_outage:g}s_outage", long_["lost"], "records", target="0",
          met=long_["lost"] == 0 and long_["duplicates"] == 0 and long_["in_order"], **long_),
        e("slowest_iteration_during_outage",
          max(short["slowest_iteration_during_outage_ms"],
              long_["slowest_iteration_during_outage_ms"]), "ms", target="< 10 ms",
          met=max(short["slowest_iteration_during_outage_ms"],
                  long_["slowest_iteration_during_outage_ms"]) < 10),
        e("append_record_vs_raw_rpush", tp["vault_append_s"] / tp["n"] * 1e6, "us/record",
          baseline=tp["raw_rpush_s"] / tp["n"] * 1e6, ratio=tp["vault_ratio"],
          target="<= 1.2x", met=tp["vault_ratio"] <= 1.2, **tp),
        e("memory_per_live_process", mem["live_keys_bytes_per_process"], "bytes",
          **mem),
        e("memory_per_ended_process", mem["ended_without_records_bytes_per_process"], "bytes"),
        e("memory_per_pruned_process", mem["after_prune_keys_bytes_per_process"], "bytes",
          target="0", met=mem["after_prune_keys_bytes_per_process"] <= 0),
    ]  # fmt: skip
    _common.emit("records", {"benchmarks": rows, "machine": _common.machine_info()})


if __name__ == "__main__":
    main()
