"""The dashboard in a thread of the test process (real HTTP on a free port), and a
fast way to fill a namespace with many process records."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import uvicorn

from tablevault_redis import VaultClient, keys, scripts
from tablevault_redis.ui.app import bind, create_app
from tablevault_redis.ui.state import UiConfig, UiState

TOKEN = "test-token-0123456789abcdef"


class Dashboard:
    """``tablevault-redis ui`` served from a thread; ``stop()`` ends it."""

    def __init__(
        self, url: str, namespaces: list[str], *, read_only: bool = False, token: str = TOKEN
    ) -> None:
        self.sock = bind("127.0.0.1", 0)
        port = self.sock.getsockname()[1]
        self.config = UiConfig(
            namespaces=namespaces, token=token, url=url, port=port, read_only=read_only
        )
        self.state = UiState(self.config)
        self.app = create_app(self.state)
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
            )
        )
        self.base = f"http://127.0.0.1:{port}"
        self.token = token
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the dashboard did not start")
            time.sleep(0.01)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def http(self, **kwargs: Any) -> httpx.Client:
        """A client with the bearer token (pass ``headers={}`` for one without)."""
        kwargs.setdefault("headers", self.headers)
        return httpx.Client(base_url=self.base, timeout=10, **kwargs)

    def login_url(self, path: str = "/") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.state.close()
        self.sock.close()

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def populate(client: VaultClient, count: int, *, live_every: int = 10) -> None:
    """``count`` process records written as ``Vault`` registration writes them (the
    ``register`` script); every ``live_every``-th keeps a heartbeat for ten minutes,
    the others are finished as completed."""
    conn = client._conn
    ns = client.namespace
    for first in range(0, count, 500):
        index, batch = conn.client.pipeline(transaction=False), scripts.Batch(conn)
        for p in range(first, min(first + 500, count)):
            name = f"proc{p:05d}"
            token = f"host:{p}:tok"
            started = time.time() - count + p
            index.zadd(keys.processes(ns), {name: started})
            fields = {"name": name, "user_id": f"user{p % 3}", "execution_type": "script",
                      "host": "host", "pid": str(p + 1), "started_at": repr(started),
                      "parent_process_name": "", "parent_process_index": "0",
                      "heartbeat_token": token}  # fmt: skip
            scripts.register(
                conn, ns, name, token=token, ttl=600, dead_holder="", now=started,
                fields=fields, client=batch,
            )  # fmt: skip
            if p % live_every:
                scripts.finish(conn, ns, name, status="completed", token=token, client=batch)
        index.execute()
        batch.execute()
