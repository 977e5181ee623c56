"""``tablevault-redis records LIST [--process NAME] [--json]``, in process (click's
CliRunner), on records written with a process's lineage."""

from __future__ import annotations

import json

import pytest
from clitools import Cli

from tablevault_redis import VaultClient


class Writer(VaultClient):
    """A client whose records carry a process's lineage, as a Vault's do."""

    def __init__(self, url: str, namespace: str, process: str) -> None:
        super().__init__(url, namespace)
        self.process = process

    def _lineage(self) -> tuple[str, int, int]:
        return (self.process, 0, 1)


@pytest.fixture
def cli(redis_url: str, namespace: str) -> Cli:
    return Cli(redis_url, namespace)


@pytest.fixture
def written(redis_url: str, namespace: str, client: VaultClient) -> None:
    """``epochs``: 0 and 2 by ``train_a``, 1 by ``train_b``, 3 by a client."""
    with Writer(redis_url, namespace, "train_a") as a, Writer(redis_url, namespace, "train_b") as b:
        a.append_record("epochs", {"epoch": 0, "loss": 0.9})
        b.append_record("epochs", {"epoch": 1, "loss": 0.8})
        a.append_record("epochs", {"epoch": 2, "loss": {"train": 0.7}})
    client.append_record("epochs", {"epoch": 3, "loss": 0.6})


def test_json_is_the_records_as_query_item_content_returns_them(cli, client, written):
    assert json.loads(cli.ok("records", "epochs", "--json")) == client.query_item_content("epochs")
    mine = json.loads(cli.ok("records", "epochs", "--process", "train_a", "--json"))
    assert mine == client.query_item_content("epochs", process_name="train_a")
    assert [r["epoch"] for r in mine] == [0, 2]
    last = json.loads(cli.ok("records", "epochs", "--last", "1", "--process", "train_a", "--json"))
    assert last == [{"epoch": 2, "loss": {"train": 0.7}}]


def test_table_shows_index_writer_and_columns(cli, written):
    result = cli("records", "epochs")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["#", "PROCESS", "epoch", "loss"]
    assert lines[1].split() == ["0", "train_a", "0", "0.9"]
    assert lines[2].split() == ["1", "train_b", "1", "0.8"]
    assert "2" in lines[3] and '{"train": 0.7}' in lines[3]
    assert lines[4].split() == ["3", "-", "3", "0.6"]  # a client write has no process
    assert "4 record(s) shown; epochs has 4" in result.stderr
    only_b = cli("records", "epochs", "--process", "train_b")
    assert [ln.split()[:2] for ln in only_b.stdout.splitlines()[1:]] == [["1", "train_b"]]
    assert "1 record(s) written by train_b shown" in only_b.stderr


def test_a_process_that_wrote_nothing_names_the_writers(cli, written):
    result = cli("records", "epochs", "--process", "nobody")
    assert result.returncode == 0 and result.stdout == ""
    assert "no records of process nobody in epochs (written by: train_a, train_b)" in (
        result.stderr
    )
    assert json.loads(cli.ok("records", "epochs", "--process", "nobody", "--json")) == []


def test_empty_list(cli, client):
    client.create_record_list("empty", ["a"])
    result = cli("records", "empty")
    assert result.returncode == 0 and "record list empty is empty" in result.stderr
    assert json.loads(cli.ok("records", "empty", "--json")) == []


def test_unknown_list_and_bad_names(cli, client):
    missing = cli("records", "ghost")
    assert missing.returncode == 1 and "no record list named 'ghost'" in missing.stderr
    as_json = cli("records", "ghost", "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stderr)["code"] == 1
    assert cli("records", "bad{name}").returncode == 2  # malformed: a usage error
    assert cli("records", "epochs", "--process", "").returncode == 2
    assert cli("records", "epochs", "--last", "0").returncode == 2
