"""Retention: ended processes pruned with every key and index entry they had; live
ones never touched; record lists trimmed (retention.py, cli/retention.py)."""

from __future__ import annotations

import datetime
import json

import pytest
from click.testing import CliRunner
from helpers import run_python

from tablevault_redis import VaultClient
from tablevault_redis.cli import app
from tablevault_redis.errors import NotFoundError, ValidationError

ENDED = """
import os
from tablevault_redis import Vault
vault = Vault('u', os.environ['NAME'], namespace=os.environ['TEST_NAMESPACE'])
vault.create_description(os.environ['NAME'], 'zebra quokka notes', description_name='about')
vault.append_record(os.environ['NAME'] + '-out', {'x': 1})
if os.environ.get('INPUT'):
    vault.append_record('derived', {'y': 2}, input_items={os.environ['INPUT']: [0, 1]})
"""


def _ended(url: str, namespace: str, name: str, **env: str) -> None:
    r = run_python(ENDED, url, namespace, NAME=name, **env)
    assert r.returncode == 0, r.stderr


def _snapshot(redis, namespace: str) -> dict[str, object]:
    """Every key of the namespace with its content (sets and hashes as sorted items)."""
    out: dict[str, object] = {}
    for key in redis.scan_iter(match=f"{namespace}:*"):
        kind = redis.type(key)
        if kind == "set":
            out[key] = sorted(redis.smembers(key))
        elif kind == "zset":
            out[key] = redis.zrange(key, 0, -1)
        elif kind == "hash":
            out[key] = sorted(redis.hgetall(key).items())
        elif kind == "list":
            out[key] = redis.lrange(key, 0, -1)
        else:
            out[key] = kind
    return out


def _mentions(snapshot: dict[str, object], name: str) -> list[str]:
    """Keys named after process ``name`` or holding a member/field naming it."""

    def names_it(value: object) -> bool:
        return isinstance(value, str) and (value == name or value.startswith(f"{name}\x1f"))

    found = []
    for key, value in snapshot.items():
        named = f":{name}}}" in key or key.endswith((f":{name}", f"desc:{name}"))
        if named or (isinstance(value, list) and any(names_it(v) for v in value)):
            found.append(key)
    return found


@pytest.mark.slow
def test_prune_removes_every_trace_and_spares_the_live(spawner, fresh_redis, namespace):
    url = fresh_redis.url
    _ended(url, namespace, "old")
    _ended(url, namespace, "old2", INPUT="old")  # names "old" as an input item
    live = spawner.worker(url, namespace, "live", "--heartbeat", "0.2", "3").wait_ready()
    redis = fresh_redis.client()
    live_before = {k: v for k, v in _snapshot(redis, namespace).items() if "live}" in k}
    with VaultClient(url, namespace) as c:
        c.create_description("live", "zebra running")
        dry = c.delete_processes(older_than=0, dry_run=True)
        assert sorted(dry.deleted) == ["old", "old2"] and dry.dry_run
        assert _mentions(_snapshot(redis, namespace), "old")  # a dry run deletes nothing
        report = c.delete_processes(older_than=0)
        assert sorted(report.deleted) == ["old", "old2"]
        assert "live" not in report.deleted
        after = _snapshot(redis, namespace)
        assert _mentions(after, "old") == [] and _mentions(after, "old2") == []
        for key, value in live_before.items():
            if not key.endswith((":alive", ":proc")):  # these change with each beat
                assert after[key] == value, key
        assert c.get_process("live").alive
        assert [n for n, _t in c.query_item_description("live")] == ["BASE"]
        assert [m[0] for m in c.query_process_list(description_text="zebra")] == ["live"]
        # Their records stay in the lists, which are items of their own.
        assert c.get_records("old-out") == [{"x": 1}]
        with pytest.raises(NotFoundError):
            c.get_process("old")
        c.stop_execution("live", wait=True, timeout=10)
    assert live.wait_exit() == 0
    redis.close()


@pytest.mark.slow
def test_prune_keeps_recent_and_live_processes(spawner, client, redis_url, namespace):
    _ended(redis_url, namespace, "recent")
    live = spawner.worker(redis_url, namespace, "w", "--heartbeat", "0.2", "3").wait_ready()
    report = client.delete_processes(older_than=3600)
    assert report.deleted == []
    assert client.get_process("recent").status == "completed"
    # A process whose record says it ended but whose heartbeat is alive is kept.
    client.redis.hset(f"{namespace}:{{{namespace}:w}}:proc", "status", "completed")
    client.redis.hset(f"{namespace}:{{{namespace}:w}}:proc", "ended_at", "1")
    report = client.delete_processes(older_than=0)
    assert report.deleted == ["recent"] and report.skipped == {"w": "live"}
    assert client.get_process("w").pid == live.pid  # its record is still there
    live.kill()


@pytest.mark.slow
def test_cli_prune_and_trim(redis_url, namespace):
    _ended(redis_url, namespace, "gone")
    runner = CliRunner()
    base = ["--url", redis_url, "--namespace", namespace]
    r = runner.invoke(app, ["prune", "--older-than", "0s", "--dry-run", "--json", *base])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["deleted"] == ["gone"]
    r = runner.invoke(app, ["prune", "--older-than", "0", *base])
    assert r.exit_code == 0 and "deleted gone" in r.stdout
    r = runner.invoke(app, ["prune", "--older-than", "soon", *base])
    assert r.exit_code == 2
    with VaultClient(redis_url, namespace) as c:
        for i in range(5):
            c.append_record("logs", {"i": i})
    r = runner.invoke(app, ["trim", "logs", "--keep-last", "2", "--json", *base])
    assert r.exit_code == 0 and json.loads(r.stdout) == {"list": "logs", "removed": 3}
    assert runner.invoke(app, ["trim", "logs", *base]).exit_code == 2
    assert runner.invoke(app, ["trim", "nolist", "--keep-last", "1", *base]).exit_code == 1


def test_trim_record_list(client, namespace):
    for i in range(10):
        client.append_record("t", {"i": i})
    assert client.trim_record_list("t", keep_last=4) == 6
    assert [r["i"] for r in client.get_records("t")] == [6, 7, 8, 9]
    assert client.query_item_content("t", index=0) == {"i": 6}
    lineage = client.redis.lrange(f"{namespace}:{{{namespace}}}:recmeta:t", 0, -1)
    assert len(lineage) == 4
    assert client.trim_record_list("t", older_than=3600) == 0
    assert client.trim_record_list("t", older_than=0) == 4
    assert client.get_records("t") == []
    assert client.redis.hget(f"{namespace}:{{{namespace}}}:listmeta:t", "trimmed") == "10"
    with pytest.raises(NotFoundError):
        client.trim_record_list("missing", keep_last=1)
    for bad in ({}, {"keep_last": -1}, {"older_than": float("nan")}, {"older_than": "1"}):
        with pytest.raises(ValidationError):
            client.trim_record_list("t", **bad)
    with pytest.raises(ValidationError):
        client.delete_processes(older_than=-1)


def test_prune_of_an_empty_namespace_reports_nothing(client):
    report = client.delete_processes(older_than=0)
    assert report.deleted == [] and report.skipped == {}


@pytest.mark.slow
def test_ages_as_timedelta_and_prune_processes(client, redis_url, namespace):
    _ended(redis_url, namespace, "old")
    assert client.prune_processes(older_than=datetime.timedelta(days=1)).deleted == []
    report = client.prune_processes(datetime.timedelta(0), dry_run=True)
    assert report.deleted == ["old"] and report.dry_run
    assert client.delete_processes(older_than=datetime.timedelta(seconds=0)).deleted == ["old"]
    for i in range(3):
        client.append_record("t", {"i": i})
    assert client.trim_record_list("t", older_than=datetime.timedelta(hours=1)) == 0
    assert client.trim_record_list("t", older_than=datetime.timedelta(0)) == 3
    with pytest.raises(ValidationError, match="older_than"):
        client.prune_processes(older_than=datetime.timedelta(seconds=-1))
