"""Request-to-action latency for the metrics, from the request histories in Redis.

Every scrape reads the recent history of each live process, and of each process that
was live at the previous scrape (so a stop acted on just before the process ended is
seen too), and observes each request acted on that it has not observed yet: requests
made by anyone (this dashboard, the CLI, the API), also by a bare ``tablevault-redis
metrics`` that makes none itself. Requests acted on before the server started are
observed on the first sight of their process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..client import VaultClient
from ..models import ProcessInfo
from .history import request_rows

log = logging.getLogger(__name__)

RECENT = 20  # history entries read per process and scrape
Observe = Callable[[str, str, float], None]  # (namespace, action, seconds)


class LatencyWatch:
    """What has been observed, per namespace and process, so nothing counts twice."""

    def __init__(self, observe: Observe) -> None:
        self.observe = observe
        self._seen: dict[tuple[str, str], set[tuple[int | None, str]]] = {}
        self._watch: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def acted(self, ns: str, name: str, action: str, seq: int | None, seconds: float) -> None:
        """Observe one request acted on, unless it was already."""
        with self._lock:
            seen = self._seen.setdefault((ns, name), set())
            if (seq, action) in seen:
                return
            seen.add((seq, action))
        self.observe(ns, action, seconds)

    def scan(self, client: VaultClient, summaries: list[ProcessInfo]) -> None:
        """Observe what the live (and lately live) processes of a namespace acted on."""
        ns = client.namespace
        alive = {p.name for p in summaries if p.alive}
        with self._lock:
            names = sorted(alive | self._watch.get(ns, set()))
            self._watch[ns] = alive
            for key in [k for k in self._seen if k[0] == ns and k[1] not in names]:
                del self._seen[key]  # ended and read once since: never read again
        infos = {p.name: p for p in summaries}
        histories = client.request_histories([n for n in names if n in infos], RECENT)
        for name, history in histories.items():
            for row in request_rows(history, [], infos[name]):
                if row["latency"] is not None:
                    self.acted(ns, name, row["action"], row["seq"], row["latency"])
