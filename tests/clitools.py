"""Helpers for the in-process CLI tests: run a command with click's CliRunner, and
write process records through the typed script functions (no worker processes)."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from click.testing import CliRunner

from tablevault_redis import keys, scripts
from tablevault_redis.cli import PROG, app
from tablevault_redis.connection import Connection


def invoke(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, width: int = 250
) -> subprocess.CompletedProcess[str]:
    """The CLI in this process, as a ``CompletedProcess``; a crash is raised, never
    mistaken for an exit code."""
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("TABLEVAULT_")}
    result = CliRunner().invoke(
        app,
        list(args),
        prog_name=PROG,
        env={**clean, "COLUMNS": str(width), **(env or {})},
        input=input,
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


class Cli:
    """Runs the CLI in-process on one server and namespace."""

    def __init__(self, url: str, namespace: str, width: int = 250) -> None:
        self.url, self.namespace, self.width = url, namespace, width

    def __call__(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        where = ("--url", self.url, "--namespace", self.namespace)
        return invoke(*args, *where, input=input, width=self.width)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.returncode == 0, f"{args}: {result.returncode}\n{result.stderr}"
        return result.stdout


def fake_process(
    conn: Connection, ns: str, name: str, *, ttl: float = 60.0, parent: str = "", **fields: Any
) -> None:
    """A live process record as a registering Vault writes it (heartbeat ``ttl`` s),
    plus any extra record ``fields``; nothing runs behind it."""
    now = time.time()
    record = {
        "name": name,
        "user_id": "u",
        "execution_type": "script",
        "host": "h",
        "pid": "1",
        "started_at": repr(now),
        "heartbeat_at": repr(now),
        "parent_process_name": parent,
        "parent_process_index": "0",
        "heartbeat_token": f"T-{name}",
    }
    record.update({k: str(v) for k, v in fields.items()})
    reply = scripts.register(
        conn, ns, name, token=f"T-{name}", ttl=ttl, dead_holder="", now=now, fields=record
    )
    assert not reply.held_by, reply
    conn.client.zadd(keys.processes(ns), {name: now})
    if parent:
        conn.client.zadd(keys.children(ns, parent), {name: now})


def set_fields(conn: Connection, ns: str, name: str, **fields: Any) -> None:
    """Change a record as the process would have (progress, times)."""
    conn.client.hset(keys.proc(ns, name), mapping={k: str(v) for k, v in fields.items()})
