"""Connection forms: ACL users, TLS, URL resolution order, the server version check."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import pause_resume_stop
from servers import RedisServer

import tablevault_redis
from tablevault_redis import VaultClient, VaultConnectionError, embedded
from tablevault_redis.connection import (
    MIN_REDIS_VERSION,
    _server_version,
    parse_redis_version,
    redact,
    resolve_url,
)


def test_url_argument_beats_environment(monkeypatch):
    monkeypatch.setenv("TABLEVAULT_REDIS_URL", "redis://from-env:1/0")
    assert resolve_url("redis://arg:2/0") == "redis://arg:2/0"
    assert resolve_url(None) == "redis://from-env:1/0"


def test_unsupported_scheme_is_refused(clean_env):
    with pytest.raises(Exception, match="use redis://, rediss:// or unix://"):
        VaultClient("http://127.0.0.1:6379")


def test_redact_hides_only_the_password():
    assert redact("redis://bob:pw@h:1/0") == "redis://bob:***@h:1/0"
    assert redact("redis://h:1/0") == "redis://h:1/0"


def test_one_version_parser_for_info_and_binaries():
    assert parse_redis_version("7.0.15") == (7, 0, 15)
    assert parse_redis_version("6.2") == (6, 2, 0)
    assert parse_redis_version("Redis server v=7.2.4 sha=00000000:0 bits=64") == (7, 2, 4)
    assert parse_redis_version("redis-cli 6.2.14") == (6, 2, 14)
    with pytest.raises(ValueError, match="no Redis version"):
        parse_redis_version("")
    # The embedded server applies the same minimum and parser to the binaries it picks.
    assert embedded.MIN_REDIS_VERSION is MIN_REDIS_VERSION
    assert embedded.parse_redis_version is parse_redis_version


def test_too_old_or_unknown_server_version_is_refused():
    url = "redis://bob:pw@h:1/0"
    assert _server_version(url, {"redis_version": "6.2.0"}) == (6, 2, 0)
    for reported, shown in (("6.0.16", "6.0.16"), ("5.0.7", "5.0.7"), ("", "unknown")):
        with pytest.raises(VaultConnectionError) as info:
            _server_version(url, {"redis_version": reported})
        text = str(info.value)
        assert f"version {shown};" in text and "needs 6.2 or newer" in text, text
        assert "bob:***@" in text and not info.value.transient


def test_version_comes_from_the_installed_metadata():
    from importlib.metadata import version

    assert tablevault_redis.__version__ == version("tablevault-redis")


def test_version_of_an_uninstalled_source_tree(monkeypatch):
    import importlib
    import importlib.metadata

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    try:
        assert importlib.reload(tablevault_redis).__version__ == "0+unknown"
    finally:
        monkeypatch.undo()
        importlib.reload(tablevault_redis)
    assert tablevault_redis.__version__ != "0+unknown"


@pytest.mark.slow
def test_acl_user_with_password(spawner, namespace):
    acl = ["default off", "bob on >s3cret ~* &* +@all"]
    with RedisServer({"user": acl}, username="bob", password="s3cret") as server:
        url = f"redis://bob:s3cret@127.0.0.1:{server.port}/0"
        w = spawner.worker(url, namespace, "w").wait_ready()
        with VaultClient(url, namespace) as c:
            pause_resume_stop(c, w)
        bad = f"redis://bob:wrong@127.0.0.1:{server.port}/0"
        with pytest.raises(VaultConnectionError) as info:
            VaultClient(bad, namespace)
        assert "bob:***@" in str(info.value) and "wrong" not in str(info.value)


def _make_certs(d: Path) -> None:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.crt",
    )


@pytest.mark.slow
def test_tls(spawner, tmp_path, namespace):
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make test certificates")
    _make_certs(tmp_path)
    tls = {
        k: str(tmp_path / f)
        for k, f in (("cert", "server.crt"), ("key", "server.key"), ("ca", "ca.crt"))
    }
    try:
        server = RedisServer(tls=tls)
    except RuntimeError as e:
        if "tls" in str(e).lower():
            pytest.skip(f"this redis-server has no TLS support: {e}")
        raise
    with server:
        url = server.url
        assert url.startswith("rediss://")
        w = spawner.worker(url, namespace, "w").wait_ready()
        with VaultClient(url, namespace) as c:
            pause_resume_stop(c, w)
