"""The process record: registration, name reuse, one Vault per process."""

from __future__ import annotations

import pytest
from helpers import run_python, wait_until

from tablevault_redis import (
    ValidationError,
    VaultClient,
    VaultConnectionError,
)

VAULT = "import os\nfrom tablevault_redis import Vault\nNS = os.environ['TEST_NAMESPACE']\n"


@pytest.mark.slow
def test_record_fields_are_readable_strings(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "w").wait_ready()
    raw = client.redis.hgetall(f"{namespace}:{{{namespace}:w}}:proc")
    for field in (
        "name",
        "user_id",
        "execution_type",
        "host",
        "pid",
        "pid_started_at",
        "started_at",
        "ended_at",
        "status",
        "parent_process_name",
        "parent_process_index",
        "interrupt_action",
        "interrupt_request",
    ):
        assert field in raw, field
    assert raw["status"] == "running" and raw["execution_type"] == "script"
    assert raw["pid"] == str(w.pid) and raw["user_id"] == "tester"
    info = client.get_process("w")
    d = info.to_dict()
    import json

    assert json.loads(json.dumps(d)) == d
    assert isinstance(d["started_at"], float) and d["ended_at"] is None
    assert [p.name for p in client.list_processes()] == ["w"]


@pytest.mark.slow
def test_live_name_is_refused_with_holder_host_and_pid(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "w").wait_ready()
    r = run_python(VAULT + "Vault('other', 'w', namespace=NS)", redis_url, namespace)
    assert r.returncode == 1
    assert "DuplicateItemError" in r.stderr and f"PID {w.pid}" in r.stderr
    host = client.get_process("w").host
    assert f"host {host}" in r.stderr
    assert client.get_process("w").pid == w.pid  # untouched
    # The refused registration left no operation behind for cleanup to find.
    assert [op.kind for op in client.get_current_operations()] == ["code_item"]


@pytest.mark.slow
def test_ended_name_is_reused_and_history_kept(client, redis_url, namespace):
    first = run_python(
        VAULT + "Vault('u', 'job', namespace=NS)\nprint('one')", redis_url, namespace
    )
    assert first.returncode == 0, first.stderr
    second = run_python(
        VAULT + "Vault('u', 'job', namespace=NS)\nprint('two')", redis_url, namespace
    )
    assert second.returncode == 0, second.stderr
    info = client.get_process("job")
    assert info.run == 2 and info.status == "completed"
    items = client.get_code_items("job")
    assert [(i.index, i.run, i.status) for i in items] == [(0, 1, "completed"), (1, 2, "completed")]
    assert items[1].start_position == len(items[0].text)
    history = client.redis.lrange(f"{namespace}:{{{namespace}:job}}:runs", 0, -1)
    assert len(history) == 1 and '"run":"1"' in history[0].replace(" ", "")


@pytest.mark.slow
def test_dead_holder_on_this_host_is_taken_over_at_once(spawner, client, redis_url, namespace):
    w = spawner.worker(redis_url, namespace, "w", "--heartbeat", "1", "60").wait_ready()
    w.kill()  # its heartbeat would last a minute, but its PID is gone
    r = run_python(VAULT + "v = Vault('u', 'w', namespace=NS)\nprint(v.run)", redis_url, namespace)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "2"
    history = client.redis.lrange(f"{namespace}:{{{namespace}:w}}:runs", 0, -1)
    assert '"status":"crashed"' in history[0].replace(" ", "")
    assert [i.status for i in client.get_code_items("w")] == ["crashed", "completed"]


@pytest.mark.slow
def test_one_vault_per_process(redis_url, namespace):
    code = VAULT + (
        "from tablevault_redis import ValidationError\n"
        "a = Vault('u', 'one', namespace=NS)\n"
        "assert Vault('u', 'one', namespace=NS) is a\n"
        "try:\n    Vault('u', 'two', namespace=NS)\nexcept ValidationError as e:\n"
        "    print('refused:', e)\n"
        "a.close()\n"
        "b = Vault('u', 'two', namespace=NS)\n"
        "assert b is not a\n"
        "print('ok')\n"
    )
    r = run_python(code, redis_url, namespace)
    assert r.returncode == 0, r.stderr
    assert "refused: this process already has a Vault (process 'one'" in r.stdout
    assert r.stdout.strip().endswith("ok")
    with VaultClient(redis_url, namespace) as c:
        assert c.get_process("one").status == "completed"
        assert c.get_process("two").status == "completed"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 201, "limit is 200"),
        ("a{b", "braces"),
        ("a}b", "braces"),
        ("tab\there", "control characters"),
        ("nl\n", "control characters"),
        (42, "must be a string"),
        ("bad\ud800", "not valid UTF-8"),
    ],
)
def test_bad_process_names_are_refused_before_any_write(redis_url, namespace, name, message):
    from tablevault_redis import Vault

    with pytest.raises(ValidationError, match=message):
        Vault("u", name, redis_url=redis_url, namespace=namespace)
    with VaultClient(redis_url, namespace) as c:
        assert c.redis.keys(f"{namespace}:*") == []
        with pytest.raises(ValidationError, match=message):
            c.stop_execution(name)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"user_id": ""}, "user_id"),
        ({"parent_process_name": "p{"}, "parent process name"),
        ({"parent_process_index": -1}, "parent_process_index"),
        ({"parent_process_index": "0"}, "parent_process_index"),
        ({"namespace": "a:b"}, "namespace"),
        ({"namespace": "t?"}, "glob characters"),
        ({"namespace": "a*"}, "glob characters"),
        ({"heartbeat_interval": 0}, "heartbeat_interval"),
        ({"heartbeat_ttl": "soon"}, "heartbeat_ttl"),
        ({"heartbeat_interval": 5, "heartbeat_ttl": 2}, "must be longer"),
        ({"colour": "red"}, "unexpected keyword argument 'colour'"),
    ],
)
def test_bad_arguments_are_refused_before_any_write(redis_url, namespace, kwargs, message):
    from tablevault_redis import Vault

    args = {
        "user_id": "u",
        "process_name": "p",
        "redis_url": redis_url,
        "namespace": namespace,
        **kwargs,
    }
    with pytest.raises(ValidationError, match=message):
        Vault(**args)
    with VaultClient(redis_url, namespace if ":" not in namespace else "tv") as c:
        assert c.redis.keys(f"{namespace}:*") == []


@pytest.mark.slow
def test_heartbeat_settings_from_environment(spawner, client, redis_url, namespace):
    w = spawner.worker(
        redis_url,
        namespace,
        "w",
        env={"TABLEVAULT_HEARTBEAT_INTERVAL": "0.1", "TABLEVAULT_HEARTBEAT_TTL": "0.4"},
    ).wait_ready()
    raw = client.redis.hmget(
        f"{namespace}:{{{namespace}:w}}:proc", "heartbeat_interval", "heartbeat_ttl"
    )
    assert raw == ["0.1", "0.4"]
    w.kill()
    wait_until(
        lambda: client.get_process("w").status == "crashed",
        timeout=3,
        what="a 0.4 s heartbeat to expire",
    )
    bad = spawner.worker(redis_url, namespace, "x", env={"TABLEVAULT_HEARTBEAT_TTL": "never"})
    assert bad.wait_exit() == 1
    assert "TABLEVAULT_HEARTBEAT_TTL='never'" in bad.output()


def test_unreachable_server_gives_one_clear_error(clean_env, namespace):
    from tablevault_redis import Vault

    url = "redis://:secret@127.0.0.1:1/0"
    with pytest.raises(VaultConnectionError) as info:
        Vault("u", "p", redis_url=url, namespace=namespace)
    text = str(info.value)
    assert "redis://:***@127.0.0.1:1/0" in text and "secret" not in text
    with pytest.raises(VaultConnectionError, match="127.0.0.1:1"):
        VaultClient(url)


@pytest.mark.slow
def test_new_db_deletes_only_its_namespace(redis_url, namespace):
    keep = namespace + "k"
    code = VAULT + "Vault('u', 'old', namespace=NS)\n"
    assert run_python(code, redis_url, namespace).returncode == 0
    assert (
        run_python(
            code,
            redis_url,
            keep,
        ).returncode
        == 0
    )
    code2 = VAULT + "v = Vault('u', 'new', namespace=NS, new_arango_db=True)\n"
    r = run_python(code2, redis_url, namespace)
    assert r.returncode == 0, r.stderr
    with VaultClient(redis_url, namespace) as c:
        assert [p.name for p in c.list_processes()] == ["new"]
    with VaultClient(redis_url, keep) as c:
        assert [p.name for p in c.list_processes()] == ["old"]


@pytest.mark.slow
def test_children_inherit_parent_through_environment(client, redis_url, namespace):
    code = VAULT + (
        "import subprocess, sys\n"
        "v = Vault('u', 'parent', namespace=NS)\n"
        "child = VAULT_CHILD\n"
        "for i in range(2):\n"
        "    subprocess.run([sys.executable, '-c', child % i], check=True)\n"
    ).replace("VAULT_CHILD", repr(VAULT + "Vault('u', 'child%d', namespace=NS)\n"))
    r = run_python(code, redis_url, namespace)
    assert r.returncode == 0, r.stderr
    kids = client.list_children("parent")
    assert [k.name for k in kids] == ["child0", "child1"]
    assert {(k.parent_process_name, k.parent_process_index) for k in kids} == {("parent", 0)}
    # A child in another namespace does not inherit.
    other = namespace + "o"
    code3 = VAULT + (
        "import subprocess, sys\n"
        "v = Vault('u', 'parent', namespace=NS)\n"
        f"subprocess.run([sys.executable, '-c', {VAULT + 'Vault(chr(117), chr(99))'!r}],"
        f" check=True, env={{**os.environ, 'TEST_NAMESPACE': {other!r}}})\n"
    )
    r = run_python(
        code3.replace("Vault(chr(117), chr(99))", f"Vault('u', 'c', namespace={other!r})"),
        redis_url,
        namespace + "p",
    )
    assert r.returncode == 0, r.stderr
    with VaultClient(redis_url, other) as c:
        assert c.get_process("c").parent_process_name == ""


@pytest.mark.slow
def test_a_replaced_excepthook_still_records_the_failure(client, redis_url, namespace):
    code = VAULT + (
        "import sys\n"
        "Vault('u', 'hooked', namespace=NS)\n"
        "sys.excepthook = lambda *a: print('custom hook', file=sys.stderr)\n"
        "raise KeyError('lost?')\n"
    )
    r = run_python(code, redis_url, namespace)
    assert r.returncode == 1 and "custom hook" in r.stderr
    info = client.get_process("hooked")
    assert info.status == "failed" and "KeyError: 'lost?'" in (info.error or "")


@pytest.mark.slow
def test_vault_retried_in_the_same_process_takes_its_own_name_back(client, redis_url, namespace):
    """A Vault() whose registration reply was lost (the name is held by this very
    process's earlier attempt) can be created again at once."""
    code = VAULT + (
        "import redis\n"
        "from tablevault_redis import identity, keys\n"
        "r = redis.Redis.from_url(os.environ['TABLEVAULT_REDIS_URL'], decode_responses=True)\n"
        "me = identity.describe()\n"
        "# What a first attempt leaves when its reply is lost: the record and heartbeat.\n"
        "r.hset(keys.proc(NS, 'again'), mapping={**me, 'status': 'running', 'run': 1})\n"
        "r.set(keys.alive(NS, 'again'), me['host'] + ':' + me['pid'] + ':lost', px=60000)\n"
        "v = Vault('u', 'again', namespace=NS)\n"
        "print('run', v.run)\n"
    )
    r = run_python(code, redis_url, namespace)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "run 2"
    assert client.get_process("again").status == "completed"
