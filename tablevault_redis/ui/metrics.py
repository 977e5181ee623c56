"""Prometheus metrics, in the text format of the standard client library.

- ``tablevault_processes{namespace,status}``: processes per status (gauge; every
  status is present, 0 included).
- ``tablevault_heartbeat_age_seconds{namespace,process}``: seconds since each live
  process's last heartbeat (gauge).
- ``tablevault_records_appended_total{namespace,list}``: records in each record
  list, i.e. appended so far (counter).
- ``tablevault_request_action_latency_seconds{namespace,action}``: from a stop,
  pause or resume (made by anyone: see :mod:`latency`) to the target acting on it
  (histogram).
- ``tablevault_redis_up{namespace}``: 1 when the last scrape could read Redis.

The values are read from Redis at scrape time (through the cached summaries, at
most half a second old), so a scrape costs what the processes index holds.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..errors import TableVaultError
from ..models import STATUSES
from .latency import LatencyWatch
from .state import UiState
from .views import last_beat

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class VaultCollector(Collector):
    """Reads the namespaces of a :class:`UiState` at every scrape."""

    def __init__(self, state: UiState, watch: LatencyWatch) -> None:
        self.state = state
        self.watch = watch

    def collect(self) -> Iterator[Metric]:
        procs = GaugeMetricFamily(
            "tablevault_processes", "Processes by status.", labels=["namespace", "status"]
        )
        ages = GaugeMetricFamily(
            "tablevault_heartbeat_age_seconds",
            "Seconds since the last heartbeat of each live process.",
            labels=["namespace", "process"],
        )
        records = CounterMetricFamily(
            "tablevault_records_appended",
            "Records appended to each record list.",
            labels=["namespace", "list"],
        )
        up = GaugeMetricFamily(
            "tablevault_redis_up", "1 if Redis could be read at this scrape.", labels=["namespace"]
        )
        for ns in self.state.namespaces:
            try:
                self._namespace(ns, procs, ages, records)
                up.add_metric([ns], 1)
            except TableVaultError as exc:
                log.warning("metrics: cannot read namespace %r: %s", ns, exc)
                up.add_metric([ns], 0)
        yield from (procs, ages, records, up)

    def _namespace(
        self,
        ns: str,
        procs: GaugeMetricFamily,
        ages: GaugeMetricFamily,
        records: CounterMetricFamily,
    ) -> None:
        summaries = self.state.summaries(ns, max_age=0.5)
        counts = Counter(p.status for p in summaries)
        for status in STATUSES:
            procs.add_metric([ns, status], counts.get(status, 0))
        now = time.time()
        for p in summaries:
            beat = last_beat(p)
            if beat is not None:
                ages.add_metric([ns, p.name], max(0.0, now - beat))
        client = self.state.client(ns)
        self.watch.scan(client, summaries)
        lists = client.query_item_names("record_list")
        for name, count in client.record_counts(lists).items():
            records.add_metric([ns, name], count)


class Metrics:
    """A private registry (one per server, so tests can run several) with the
    collector and the latency histogram."""

    def __init__(self, state: UiState) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "tablevault_request_action_latency_seconds",
            "Seconds from a stop, pause or resume request to the target acting on it.",
            ["namespace", "action"],
            registry=None,
            buckets=LATENCY_BUCKETS,
        )
        self.watch = LatencyWatch(self.observe)
        # The collector first: what a scrape reads from Redis is in the same scrape.
        self.registry.register(VaultCollector(state, self.watch))
        self.registry.register(self.latency)
        state.observe = self.watch.acted

    def observe(self, namespace: str, action: str, seconds: float) -> None:
        self.latency.labels(namespace=namespace, action=action).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
