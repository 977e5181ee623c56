"""``top``: the live view. In process through textual's test pilot (keys pressed,
table read), and in a real terminal: tmux runs ``tablevault-redis top``, keys select
a live worker and pause, resume and stop it, and the screen is read back."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from clitools import fake_process
from helpers import Spawner, child_env, wait_until

from tablevault_redis import VaultClient
from tablevault_redis.cli.topview import TopApp
from tablevault_redis.connection import Connection


def cells(app: TopApp) -> list[list[str]]:
    table = app.query_one("#table")
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]  # type: ignore[attr-defined]


def test_keys_select_and_act(client: VaultClient, conn: Connection, namespace: str):
    for name in ("a", "b", "c"):
        fake_process(conn, namespace, name)

    async def scenario() -> None:
        app = TopApp(client, interval=0.5, sort="started", view="live")
        async with app.run_test(size=(100, 20)) as pilot:
            assert [row[0] for row in cells(app)] == ["a", "b", "c"]
            await pilot.press("j")
            assert app.selected == "b"
            await pilot.press("p")
            assert client.get_process("b").interrupt_action == "pause"
            assert "pause requested for b" in app.message
            assert "pause pending" in cells(app)[1][4]
            await pilot.press("r")  # cancels the pause no checkpoint reached
            assert client.get_process("b").interrupt_action is None
            await pilot.press("j", "s")  # stop asks first
            await pilot.press("n")
            assert client.get_process("c").interrupt_action is None
            assert "cancelled" in app.message
            await pilot.press("s", "y")
            assert client.get_process("c").interrupt_action == "stop"
            await pilot.press("k", "k")
            assert app.selected == "a"
            await pilot.press("o")  # next sort order: by name
            assert app.sort == "name"
            await pilot.press("f", "f")  # live -> running -> paused: nothing paused
            assert app.view == "paused" and cells(app) == []
            await pilot.press("q")

    asyncio.run(scenario())


def test_match_and_all_views(client: VaultClient, conn: Connection, namespace: str):
    fake_process(conn, namespace, "train-1")
    fake_process(conn, namespace, "eval-1")

    async def scenario() -> None:
        app = TopApp(client, interval=5, sort="name", view="all", match="train")
        async with app.run_test(size=(100, 20)) as pilot:
            assert [row[0] for row in cells(app)] == ["train-1"]
            await pilot.press("q")

    asyncio.run(scenario())


# --------------------------------------------------------------------------- tmux


class Tmux:
    """One tmux server of its own (``-L``), one session running a command."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.socket = "tv" + uuid.uuid4().hex[:8]
        exports = [f"{k}={v}" for k, v in env.items() if k.startswith(("TABLEVAULT_", "PYTHON"))]
        shell = " ".join(["env", *map(_quote, exports), *map(_quote, command)])
        self.tmux("new-session", "-d", "-s", "top", "-x", "110", "-y", "24", shell)

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "top")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "top", *keys)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        return wait_until(
            lambda: self.screen() if text in self.screen() else None, timeout, 0.1, what=text
        )

    def running(self) -> bool:
        """Whether the session (the command in it) is still there."""
        check = ["tmux", "-L", self.socket, "has-session", "-t", "top"]
        return subprocess.run(check, capture_output=True, check=False).returncode == 0

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture
def tmux_top(redis_url: str, namespace: str) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    command = [sys.executable, "-m", "tablevault_redis", "top", "--interval", "0.3"]
    command += ["--url", redis_url, "--namespace", namespace]
    term = Tmux(command, child_env(redis_url))
    yield term
    term.close()


@pytest.mark.slow
def test_top_in_a_real_terminal(
    spawner: Spawner, client: VaultClient, redis_url: str, namespace: str, tmux_top: Tmux
):
    spawner.worker(redis_url, namespace, "first").wait_ready()
    w = spawner.worker(redis_url, namespace, "second").wait_ready()
    screen = tmux_top.wait_for("second")
    assert "NAME" in screen and "STATUS" in screen and "first" in screen

    tmux_top.keys("j")  # the rows are oldest first: "second" is the next one
    tmux_top.keys("p")
    wait_until(lambda: client.get_process("second").status == "paused", 15, what="paused")
    assert client.get_process("first").status == "running"
    tmux_top.wait_for("paused")

    tmux_top.keys("r")
    wait_until(lambda: client.get_process("second").status == "running", 15, what="resumed")

    tmux_top.keys("s")
    tmux_top.wait_for("[y/n]")
    tmux_top.keys("y")
    assert w.wait_exit(20) == 0
    assert client.get_process("second").status == "stopped"
    assert client.get_process("first").status == "running"

    tmux_top.keys("q")
    wait_until(lambda: not tmux_top.running(), 15, what="top to quit")
