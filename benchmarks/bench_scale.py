"""Scale: queries, listing and cleanup with 10,000 processes of 10 code items each.

Run from the repository root (starts its own redis-server on a free port)::

    .venv/bin/python benchmarks/bench_scale.py [--processes N] [--items N] [--dead N]

The data is written through the library's own Lua scripts and key functions (the
same ``register``, ``op_begin``, ``open_code``, ``close_code``, ``op_end`` and
``finish`` calls a running Vault makes), pipelined so that populating takes seconds.
``--dead`` processes are left running with an open code item and no heartbeat, as a
kill -9 leaves them, for ``vault_cleanup`` to find.

Rows, each beside the time of a plain ``SCAN`` over every key of the namespace (what
an index-less design pays at least once per call), as ratios:

- ``query_process_list_two_words``: median of ``query_process_list(code_text=...)``
  with a two-word query (target < 50 ms);
- ``list_processes``: median of ``list_processes()`` (target < 100 ms), beside the
  same records read as the library read them before, measured in turns with it:
  ``HGETALL`` and ``EXISTS`` per process, pipelined (``list_processes_hgetall_baseline``),
  and the shown fields by a Lua script, 1,000 processes per call, one
  ``ProcessInfo.from_record`` per row (``list_processes_script_baseline``);
- ``vault_cleanup_dead``: one ``vault_cleanup()`` that marks the dead processes
  crashed and completes their operations (target < 2 s).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

from tablevault_redis import VaultClient, keys, operations, scripts  # noqa: E402

NS = "bench"
QUERY = "import pandas"


def item_text(rng: random.Random, vocab: list[str], p: int, i: int) -> str:
    lines = []
    if rng.random() < 0.6:
        lines.append("import numpy as np")
    if rng.random() < 0.05:
        lines.append("import pandas as pd")
    lines.append(" ".join(rng.choices(vocab, k=20)))
    lines.append(f"result_{p}_{i} = run(step={i})")
    return "\n".join(lines) + "\n"


def populate(client: VaultClient, n_proc: int, n_items: int, n_dead: int) -> dict[str, Any]:
    rng = random.Random(7)
    vocab = [f"w{k}" for k in range(5000)]
    conn = client._conn
    r = conn.client
    dead = set(rng.sample(range(n_proc), n_dead))
    t0 = time.perf_counter()
    per_batch = 200
    for first in range(0, n_proc, per_batch):
        index, batch, expire = r.pipeline(transaction=False), scripts.Batch(conn), []
        for p in range(first, min(first + per_batch, n_proc)):
            name = f"proc{p:05d}"
            token = f"benchhost:{p}:tok"
            started = time.time()
            index.zadd(keys.processes(NS), {name: started})
            fields = {"name": name, "user_id": "bench", "execution_type": "script"}
            fields.update(host="benchhost", pid=str(p), started_at=repr(started))
            fields.update(parent_process_name="", parent_process_index="0")
            fields.update(heartbeat_token=token)
            scripts.register(
                conn,
                NS,
                name,
                token=token,
                ttl=600,
                dead_holder="",
                now=started,
                fields=fields,
                client=batch,
            )
            start = 0
            for i in range(n_items):
                text = item_text(rng, vocab, p, i)
                op = operations.code_item_op(name, token, i, 1, start, text)
                scripts.op_begin(
                    conn, NS, op.id, op.json, code_words=op.words, member=op.member, client=batch
                )
                scripts.open_code(
                    conn, NS, name, index=i, run=1, text=text, start_position=start, client=batch
                )
                start += len(text)
                last = p in dead and i == n_items - 1
                if not last:
                    scripts.close_code(
                        conn, NS, name, index=i, run=1, status="completed", client=batch
                    )
                    scripts.op_end(conn, NS, op.id, client=batch)
            if p in dead:
                expire.append(name)
            else:
                scripts.finish(conn, NS, name, status="completed", token=token, client=batch)
        index.execute()  # the name index first, as a registration writes it
        batch.execute()
        pipe = r.pipeline(transaction=False)
        for name in expire:
            pipe.delete(keys.alive(NS, name))  # as if its heartbeat expired
        pipe.execute()
    return {"populate_s": time.perf_counter() - t0, "keys": r.dbsize()}


def scan_time(client: VaultClient) -> float:
    t0 = time.perf_counter()
    n = sum(1 for _ in client.redis.scan_iter(match=keys.namespace_pattern(NS), count=1000))
    elapsed = time.perf_counter() - t0
    assert n > 0
    return elapsed


def hgetall_list(client: VaultClient) -> list[Any]:
    """The records read whole, two replies per process (the earlier list_processes)."""
    from tablevault_redis.models import ProcessInfo

    r = client.redis
    names = r.zrange(keys.processes(NS), 0, -1)
    pipe = r.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(keys.proc(NS, name))
        pipe.exists(keys.alive(NS, name))
    replies = pipe.execute()
    pairs = zip(replies[::2], replies[1::2], strict=True)
    return [ProcessInfo.from_record(f, bool(a)) for f, a in pairs if f]


# The read list_processes made before the packed reads of process_reads.
READ_SCRIPT = """
local out = {}
for i = 1, #KEYS, 2 do
  local row = redis.pcall('HMGET', KEYS[i], unpack(ARGV))
  if row.err then
    out[#out + 1] = {-1}
  else
    row[#row + 1] = redis.call('EXISTS', KEYS[i + 1])
    out[#out + 1] = row
  end
end
return out
"""


def script_list(client: VaultClient, script: Any) -> list[Any]:
    """The shown fields by READ_SCRIPT, 1,000 processes per call, pipelined."""
    from tablevault_redis.models import ProcessInfo
    from tablevault_redis.process_reads import FIELDS

    r = client.redis
    names = r.zrange(keys.processes(NS), 0, -1)
    pipe = r.pipeline(transaction=False)
    for i in range(0, len(names), 1000):
        pairs = [(keys.proc(NS, n), keys.alive(NS, n)) for n in names[i : i + 1000]]
        script(keys=[k for pair in pairs for k in pair], args=list(FIELDS), client=pipe)
    out = []
    for row in (row for chunk in pipe.execute() for row in chunk):
        fields = {k: v for k, v in zip(FIELDS, row, strict=False) if v is not None}
        if fields and row != [-1]:
            out.append(ProcessInfo.from_record(fields, bool(row[-1])))
    return out


def in_turns(fns: dict[str, Any], repeat: int) -> dict[str, float]:
    """Median seconds of each function, called in turns (a noisy machine slows all alike)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def cpu_ms(client: VaultClient, fn: Any, repeat: int = 5) -> dict[str, float]:
    """Median CPU milliseconds of one call: the server's (its ``used_cpu_*``) and this
    process's. Less sensitive to other load on the machine than the wall time: a read
    that overlaps the two can take less than their sum."""

    def server_s() -> float:
        cpu = client.redis.info("cpu")
        return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])

    server, own = [], []
    for _ in range(repeat):
        s0, t0 = server_s(), time.process_time()
        fn()
        own.append((time.process_time() - t0) * 1e3)
        server.append((server_s() - s0) * 1e3)
    return {"server_cpu_ms": statistics.median(server), "client_cpu_ms": statistics.median(own)}


def median_time(fn: Any, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=10_000)
    ap.add_argument("--items", type=int, default=10)
    ap.add_argument("--dead", type=int, default=1_000)
    ap.add_argument("--repeat", type=int, default=21)
    opts = ap.parse_args()
    with _common.private_redis() as server:
        client = VaultClient(server.url, NS)
        try:
            info = populate(client, opts.processes, opts.items, opts.dead)
            query_s, matches = median_time(
                lambda: client.query_process_list(code_text=QUERY), opts.repeat
            )
            procs = client.list_processes()
            script = client.redis.register_script(READ_SCRIPT)
            assert repr(procs) == repr(script_list(client, script)) == repr(hgetall_list(client))
            reads = in_turns(
                {
                    "scan": lambda: scan_time(client),
                    "new": client.list_processes,
                    "hgetall": lambda: hgetall_list(client),
                    "script": lambda: script_list(client, script),
                },
                max(5, opts.repeat // 3),
            )
            scan_s, list_s = reads["scan"], reads["new"]
            old_s, script_s = reads["hgetall"], reads["script"]
            list_cpu = cpu_ms(client, client.list_processes)
            script_cpu = cpu_ms(client, lambda: script_list(client, script))
            t0 = time.perf_counter()
            report = client.vault_cleanup()
            cleanup_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = client.vault_cleanup()
            cleanup_again_s = time.perf_counter() - t0
            assert len(report.crashed) == opts.dead, report.to_dict()
            assert len(report.completed) == opts.dead and not again.changed

            def vs_scan(name: str, seconds: float, limit_s: float | None = None, **detail: Any):
                """A row in ms beside the SCAN baseline, with its target when it has one."""
                target = None if limit_s is None else f"< {limit_s * 1e3:.0f} ms"
                met = None if limit_s is None else seconds < limit_s
                return _common.entry(
                    name,
                    seconds * 1e3,
                    "ms",
                    baseline=scan_s * 1e3,
                    ratio=seconds / scan_s,
                    target=target,
                    met=met,
                    **detail,
                )

            rows = [
                _common.entry("scan_namespace_baseline", scan_s * 1e3, "ms", keys=info["keys"]),
                vs_scan(
                    "query_process_list_two_words", query_s, 0.05, matches=len(matches), query=QUERY
                ),
                vs_scan("list_processes_hgetall_baseline", old_s),
                vs_scan("list_processes_script_baseline", script_s, **script_cpu),
                vs_scan(
                    "list_processes",
                    list_s,
                    0.1,
                    processes=len(procs),
                    hgetall_baseline_ms=old_s * 1e3,
                    script_baseline_ms=script_s * 1e3,
                    **list_cpu,
                ),
                vs_scan(
                    "vault_cleanup_dead",
                    cleanup_s,
                    2.0,
                    crashed=len(report.crashed),
                    operations_completed=len(report.completed),
                    second_run_ms=cleanup_again_s * 1e3,
                ),
            ]
            doc = {
                "benchmarks": rows,
                "machine": _common.machine_info(redis=_common.redis_version(server)),
                "diagnostics": {
                    "processes": opts.processes,
                    "items_per_process": opts.items,
                    "dead": opts.dead,
                    "populate_s": info["populate_s"],
                    "keys": info["keys"],
                },
            }
        finally:
            client.close()
    _common.emit("scale", doc)


if __name__ == "__main__":
    main()
