"""What the dashboard server holds: one client per namespace it was asked to show,
cached process summaries, and the requests it made with their outcome.

Only the namespaces given at start-up are ever read or controlled: every request
names its namespace and :meth:`UiState.client` refuses any other one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..client import VaultClient
from ..connection import redact
from ..errors import NotFoundError, TableVaultError
from ..models import ProcessInfo

log = logging.getLogger(__name__)

SUMMARY_MAX_AGE = 1.0  # seconds a cached summary of every process may be reused
_SCAN_SHARE = 10  # a summary is reused for at least this many times its cost
_HISTORY = 50  # requests remembered per process
_WAIT_TIMEOUT = 120.0  # seconds a request's outcome is awaited before giving up


@dataclass
class UiConfig:
    """How the server was started."""

    namespaces: list[str]
    token: str
    url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    read_only: bool = False


class NamespaceNotServed(NotFoundError):
    """A request named a namespace that this server was not asked to show."""


@dataclass
class _Summary:
    at: float = 0.0
    cost: float = 0.0  # seconds the last scan took
    rows: list[ProcessInfo] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class UiState:
    """Clients, caches and the request log shared by every route."""

    def __init__(self, config: UiConfig, observe: Any = None) -> None:
        self.config = config
        self.clients: dict[str, VaultClient] = {}
        try:
            for ns in config.namespaces:
                client = VaultClient(config.url, ns)
                # Records show that a request came from the dashboard.
                client.requester = "ui:" + client.requester.partition(":")[2]
                self.clients[ns] = client
        except TableVaultError:
            self.close()
            raise
        self._summaries = {ns: _Summary() for ns in config.namespaces}
        self._history: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        self._history_lock = threading.Lock()
        # observe(namespace, name, action, seq, seconds): where request-to-action
        # latency goes.
        self.observe = observe

    @property
    def namespaces(self) -> list[str]:
        return list(self.config.namespaces)

    @property
    def redis_url_shown(self) -> str:
        """The Redis URL with its password hidden."""
        return redact(next(iter(self.clients.values())).redis_url)

    def client(self, namespace: str | None) -> VaultClient:
        """The client of ``namespace`` (the first configured one when None)."""
        ns = namespace or self.config.namespaces[0]
        found = self.clients.get(ns)
        if found is None:
            raise NamespaceNotServed(f"namespace {ns!r} is not shown by this server")
        return found

    def summaries(self, namespace: str, max_age: float = SUMMARY_MAX_AGE) -> list[ProcessInfo]:
        """Every process of ``namespace`` in brief, at most ``max_age`` seconds old:
        filters and counts share one scan however many pages are open."""
        client = self.client(namespace)
        cache = self._summaries[client.namespace]
        with cache.lock:
            # A scan of many processes is reused for ten times what it cost, so
            # summaries never take more than a tenth of the server's time.
            if time.monotonic() - cache.at > max(max_age, cache.cost * _SCAN_SHARE):
                started = time.monotonic()
                cache.rows = client.process_summaries()
                cache.at = time.monotonic()
                cache.cost = cache.at - started
            return cache.rows

    # -- control -------------------------------------------------------------------

    def request(self, namespace: str, name: str, action: str, by: str) -> dict[str, Any]:
        """Make the request and return at once; a thread records when it was acted on."""
        client = self.client(namespace)
        method = {
            "stop": client.stop_execution,
            "pause": client.pause_execution,
            "resume": client.resume_execution,
        }[action]
        requested_at = time.time()
        seq = method(name)
        entry: dict[str, Any] = {
            "action": action,
            "seq": seq,
            "by": by,
            "requested_at": requested_at,
            "acted_at": None,
            "outcome": "pending",
        }
        self._remember(client.namespace, name, entry)
        threading.Thread(
            target=self._await_action,
            args=(client, name, entry),
            name=f"tablevault-ui-wait-{action}",
            daemon=True,
        ).start()
        return {"namespace": client.namespace, "name": name, "action": action, "seq": seq}

    def _await_action(self, client: VaultClient, name: str, entry: dict[str, Any]) -> None:
        try:
            client.wait_for_action(entry["action"], name, entry["seq"], _WAIT_TIMEOUT)
        except TableVaultError as exc:
            entry["outcome"] = f"not acted on: {exc}"
            return
        acted_at = time.time()
        latency = max(0.0, acted_at - entry["requested_at"])
        entry.update(acted_at=acted_at, outcome="acted", latency=latency)
        if self.observe is not None:
            self.observe(client.namespace, name, entry["action"], entry["seq"], latency)

    def _remember(self, namespace: str, name: str, entry: dict[str, Any]) -> None:
        with self._history_lock:
            log_ = self._history.setdefault((namespace, name), deque(maxlen=_HISTORY))
            log_.append(entry)

    def history(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """Requests this server made to ``name``, newest first."""
        with self._history_lock:
            return [dict(e) for e in reversed(self._history.get((namespace, name), ()))]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
