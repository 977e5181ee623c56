"""Description embedding queries: exact cosine ranking over every stored embedding.

Creates ``--lists`` record lists (one record and one description each, with an
embedding of ``--dim`` floats), then times ``query_record_list(
description_embedding=...)`` against a baseline measured in the same run: reading
the same descriptions back (one pipelined HGETALL per list, the I/O floor of an
exact search). The ranking itself (pure Python, as the library does it) is also
timed alone, and the same ranking through numpy when it is installed, which is why
the library does not use numpy.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import _common

from tablevault_redis import VaultClient, keys
from tablevault_redis.descriptions import DESCRIPTION_TOP_K, cosine_ranking

NS = "bench"


def median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def populate(client: VaultClient, lists: int, dim: int) -> list[str]:
    rng = random.Random(7)
    names = [f"list{i:05d}" for i in range(lists)]
    for name in names:
        client.append_record(name, {"x": 1})
        client.create_description(
            name, f"description of {name}", [rng.random() for _ in range(dim)]
        )
    return names


def read_all(client: VaultClient, names: list[str]) -> list[tuple[Any, list[float]]]:
    pipe = client.redis.pipeline(transaction=False)
    for name in names:
        pipe.hgetall(keys.descriptions(NS, name))
    out = []
    for name, descs in zip(names, pipe.execute(), strict=True):
        for dname, raw in descs.items():
            out.append(((name, dname), json.loads(raw)["embedding"]))
    return out


def numpy_ranking(query: list[float], candidates: list[Any]) -> list[tuple[float, Any]]:
    """The same ranking through numpy, from the same lists, for comparison."""
    import numpy as np

    matrix = np.asarray([vec for _key, vec in candidates], dtype=float)
    scores = (matrix @ np.asarray(query)) / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    order = np.argsort(-scores)[:DESCRIPTION_TOP_K]
    return [(float(scores[i]), candidates[i][0]) for i in order]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lists", type=int, default=2_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--repeat", type=int, default=5)
    opts = ap.parse_args()
    query = [random.Random(1).random() for _ in range(opts.dim)]
    with _common.private_redis() as server:
        client = VaultClient(server.url, NS)
        try:
            t0 = time.perf_counter()
            names = populate(client, opts.lists, opts.dim)
            populate_s = time.perf_counter() - t0
            read_s, candidates = median_time(lambda: read_all(client, names), opts.repeat)
            query_s, found = median_time(
                lambda: client.query_record_list(description_embedding=query), opts.repeat
            )
            pure_s, _ = median_time(
                lambda: cosine_ranking(query, candidates, DESCRIPTION_TOP_K), opts.repeat
            )
            try:
                numpy_s: float | None = median_time(
                    lambda: numpy_ranking(query, candidates), opts.repeat
                )[0]
            except ImportError:
                numpy_s = None
            rows = [
                _common.entry("read_descriptions_baseline", read_s * 1e3, "ms"),
                _common.entry(
                    "query_record_list_description_embedding",
                    query_s * 1e3,
                    "ms",
                    baseline=read_s * 1e3,
                    ratio=query_s / read_s,
                    target="< 1000 ms",
                    met=query_s < 1.0,
                    matches=len(found),
                ),
                _common.entry(
                    "rank_pure_python",
                    pure_s * 1e3,
                    "ms",
                    baseline=read_s * 1e3,
                    ratio=pure_s / read_s,
                ),  # fmt: skip
            ]
            if numpy_s is not None:
                rows.append(
                    _common.entry(
                        "rank_numpy",
                        numpy_s * 1e3,
                        "ms",
                        baseline=read_s * 1e3,
                        ratio=numpy_s / read_s,
                    )  # fmt: skip
                )
            doc = {
                "benchmarks": rows,
                "machine": _common.machine_info(redis=_common.redis_version(server)),
                "diagnostics": {
                    "descriptions": len(candidates),
                    "dim": opts.dim,
                    "top_k": DESCRIPTION_TOP_K,
                    "populate_s": populate_s,
                },
            }
        finally:
            client.close()
    _common.emit("embeddings", doc)


if __name__ == "__main__":
    main()
