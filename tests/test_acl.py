"""The trust model's recipes (docs/trust-model.md) with real ACL users: a team's user
runs and controls its own processes and is refused another team's; a read-only
observer reads everything and writes nothing; a user without INFO still connects."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from helpers import child_env, pause_resume_stop
from servers import RedisServer

from tablevault_redis import VaultClient, VaultConnectionError

pytestmark = pytest.mark.slow

TEAM = "+@read +@write +@keyspace +@scripting +@pubsub +@connection +info +acl|whoami"
OBSERVER = "+@read +@connection +info +acl|whoami"


@pytest.fixture
def teams(namespace: str) -> Iterator[tuple[RedisServer, str, str]]:
    """A server with users for namespaces ``<ns>a`` and ``<ns>b``, an observer of
    ``<ns>a`` and a user refused the ``@dangerous`` commands (INFO among them)."""
    ns_a, ns_b = f"{namespace}a", f"{namespace}b"
    users = [
        "default off",
        "admin on >adm ~* &* +@all",
        f"team_a on >pa ~{ns_a}:* resetchannels &{ns_a}:* {TEAM}",
        f"team_b on >pb ~{ns_b}:* resetchannels &{ns_b}:* {TEAM}",
        f"observer on >po ~{ns_a}:* resetchannels {OBSERVER}",
        "noinfo on >pn ~* &* +@all -@dangerous",
    ]
    with RedisServer({"user": users}, username="admin", password="adm") as server:
        yield server, ns_a, ns_b


def _url(server: RedisServer, user: str, password: str) -> str:
    return f"redis://{user}:{password}@127.0.0.1:{server.port}/0"


def _refused(error: VaultConnectionError) -> None:
    text = str(error)
    assert "refused access" in text and "\n" not in text and not error.transient, text


def test_a_team_controls_its_own_processes_only(teams, spawner):
    server, ns_a, ns_b = teams
    url_a, url_b = _url(server, "team_a", "pa"), _url(server, "team_b", "pb")
    wa = spawner.worker(url_a, ns_a, "wa").wait_ready()
    wb = spawner.worker(url_b, ns_b, "wb").wait_ready()
    with VaultClient(url_a, ns_a) as a:
        assert a._conn.acl_user == "team_a"
        assert a.requester.endswith("(redis user team_a)")
        pause_resume_stop(a, wa)
        assert a.get_process("wa").stopped_by == a.requester
    with VaultClient(url_a, ns_b) as intruder:
        for attempt in (
            lambda: intruder.stop_execution("wb"),
            lambda: intruder.pause_execution("wb"),
            intruder.list_processes,
            lambda: intruder.get_process("wb"),
        ):
            with pytest.raises(VaultConnectionError) as info:
                attempt()
            _refused(info.value)
    wb.advancing()  # untouched
    with VaultClient(url_b, ns_b) as b:
        assert b.get_process("wb").interrupt_action is None
        pause_resume_stop(b, wb)


def test_a_vault_records_its_acl_user(teams, spawner):
    server, ns_a, _ = teams
    url_a = _url(server, "team_a", "pa")
    code = (
        "from tablevault_redis import Vault\n"
        f"v = Vault('u', 'ctl', namespace={ns_a!r})\n"
        "print(v.requester)\n"
        "v.stop_execution('wa', wait=True, timeout=10)\n"
    )
    wa = spawner.worker(url_a, ns_a, "wa").wait_ready()
    r = subprocess.run(
        [sys.executable, "-c", code], env=child_env(url_a), capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ctl (redis user team_a)"
    assert wa.wait_exit() == 0
    with VaultClient(url_a, ns_a) as a:
        assert a.get_process("wa").stopped_by == "ctl (redis user team_a)"


def test_a_read_only_observer(teams, spawner):
    server, ns_a, _ = teams
    url_a, url_o = _url(server, "team_a", "pa"), _url(server, "observer", "po")
    wa = spawner.worker(url_a, ns_a, "wa").wait_ready()
    wa.advancing()
    with VaultClient(url_o, ns_a) as observer:
        assert [p.name for p in observer.list_processes()] == ["wa"]
        assert observer.get_process("wa").alive
        assert observer.get_code_items("wa")
        for attempt in (
            lambda: observer.stop_execution("wa"),
            lambda: observer.pause_execution("wa"),
            lambda: observer.append_record("notes", {"x": 1}),
        ):
            with pytest.raises(VaultConnectionError) as info:
                attempt()
            _refused(info.value)
    env = child_env(url_o)
    for args in (["ps"], ["show", "wa"], ["logs", "wa"]):
        r = subprocess.run(
            [sys.executable, "-m", "tablevault_redis", *args, "--namespace", ns_a],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0 and "wa" in r.stdout, (args, r.stderr)
    for args in (["stop", "wa"], ["pause", "wa"]):
        r = subprocess.run(
            [sys.executable, "-m", "tablevault_redis", *args, "--namespace", ns_a],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert "refused access" in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
    wa.advancing()  # the observer changed nothing
    with VaultClient(url_a, ns_a) as a:
        assert a.get_process("wa").interrupt_action is None


def test_a_user_without_info_connects(teams, spawner, namespace):
    server, _, _ = teams
    url = _url(server, "noinfo", "pn")
    w = spawner.worker(url, namespace, "w").wait_ready()
    with VaultClient(url, namespace) as c:
        assert c._conn.version >= (6, 2)
        assert c._conn.acl_user == "noinfo"
        pause_resume_stop(c, w)
