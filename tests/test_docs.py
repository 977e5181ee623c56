"""The documentation tells the truth: its commands run, its links resolve.

- Every ``redis-cli`` command in a ``console``/``bash`` block of ``docs/*.md`` runs
  against a live worker. The docs use the namespace ``tv`` and a process named
  ``trainer`` and leave connection options out (or write
  ``$(tablevault-redis server url --cli)`` for the embedded server); the test runs
  a real worker under those names on a private server and adds ``-h``/``-p``.
- Every ``tablevault-redis`` command line in the docs names a real command, and
  every option it uses is one that command accepts.
- Every relative link in README.md and docs/*.md points at an existing file.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import ROOT, wait_until
from servers import RedisServer

from tablevault_redis import VaultClient
from tablevault_redis.embedded import find_redis_binary

DOCS = sorted((ROOT / "docs").glob("*.md"))
NAMESPACE, PROCESS = "tv", "trainer"
EMBEDDED_ARGS = "$(tablevault-redis server url --cli)"
SHELL_LANGS = {"console", "bash", "sh", "shell"}
SEPARATORS = {"|", "||", "&&", ";", ">", ">>", "2>&1", "&"}
BLOCK_SECONDS = 5  # `timeout` for the commands that never return on their own
_FENCE = re.compile(r"^```([\w-]*)\s*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_ERROR_LINE = re.compile(r"^(\(error\)|ERR|WRONGTYPE|NOSCRIPT|NOPERM|Could not connect)", re.M)


def shell_lines(paths: list[Path] = DOCS) -> list[tuple[str, str]]:
    """``(file name, command)`` for every command line in shell blocks (``$ `` prompts
    removed, backslash continuations joined; output lines of console blocks skipped)."""
    found = []
    for path in paths:
        for lang, body in _FENCE.findall(path.read_text()):
            if lang not in SHELL_LANGS:
                continue
            pending = ""
            for raw in body.splitlines():
                line = raw.strip()
                if lang == "console" and not pending:
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                if line.endswith("\\"):
                    pending += line[:-1] + " "
                    continue
                found.append((path.name, pending + line))
                pending = ""
    return found


def redis_cli_commands() -> list[str]:
    return [cmd for _name, cmd in shell_lines() if cmd.startswith("redis-cli ")]


def argv_for(command: str, server: RedisServer) -> list[str]:
    """The doc's command with this server's address instead of the placeholder."""
    argv = shlex.split(command.replace(EMBEDDED_ARGS, ""), comments=True)
    assert argv[0] == "redis-cli"
    assert not {"-u", "-h", "-p", "-s", "-a"} & set(argv), f"connection options in {command!r}"
    return [find_redis_binary("redis-cli"), "-h", server.host, "-p", str(server.port), *argv[1:]]


def is_blocking(command: str) -> bool:
    words = command.upper().split()
    return "SUBSCRIBE" in words or "SSUBSCRIBE" in words or ("XREAD" in words and "BLOCK" in words)


# (pattern of the command, check of its output) for the commands the docs show; any
# other redis-cli command must still exit 0 without an error reply.
Check = Callable[[str, "Live"], bool]


class Live:
    """What the checks compare against: the worker's PID and the client's name."""

    def __init__(self, pid: int, requester: str) -> None:
        self.pid = pid
        self.requester = requester


def _int_in(low: int, high: int) -> Check:
    return lambda out, live: low <= int(out.strip()) <= high


CHECKS: list[tuple[str, Check]] = [
    (r"HGETALL '\S+:proc'", lambda o, lv: "trainer" in o and "status" in o and str(lv.pid) in o),
    (r"HMGET '\S+:proc' status interrupt_action interrupt_request",
     lambda o, lv: o.splitlines() == ["running", "pause", lv.requester]),
    (r"HGET '\S+:proc' status", lambda o, lv: o.strip() == "running"),
    (r"GET '\S+:alive'", lambda o, lv: f":{lv.pid}:" in o),
    (r"^redis-cli TTL '\S+:alive'", _int_in(1, 10)),
    (r"PTTL '\S+:alive'", _int_in(1, 10_000)),
    (r"XRANGE '\S+:code'", lambda o, lv: "open" in o and "checkpoint_execution" in o),
    (r"XLEN '\S+:code'", lambda o, lv: o.strip() == "1"),
    (r"GET '\S+:request'", lambda o, lv: '"action":"pause"' in o and lv.requester in o),
    (r"PUBSUB NUMSUB", lambda o, lv: o.split()[-1] == "1"),
    (r"LRANGE '\S+:runs'", lambda o, lv: o.strip() == ""),
    (r"ZRANGE '\S+:children'", lambda o, lv: o.strip() == ""),
    (r"ZRANGE '\S+:processes'", lambda o, lv: o.split()[0] == "trainer"),
    (r"HGETALL '\S+:operations'", lambda o, lv: '"kind":"code_item"' in o),
    (r"SMEMBERS '\S+:cword:", lambda o, lv: "trainer" in o),
    (r"HGETALL '\S+:desc:trainer'", lambda o, lv: "BASE" in o and "training loop" in o),
    (r"ZRANGE '\S+:record_lists'", lambda o, lv: o.strip() == "training_logs"),
    (r"HGETALL '\S+:listmeta:", lambda o, lv: "columns" in o and "epoch" in o),
    (r"LRANGE '\S+:records:", lambda o, lv: '"epoch":0' in o),
    (r"--scan", lambda o, lv: "tv:{tv:trainer}:proc" in o.split() and "tv:{tv}:processes" in o),
]  # fmt: skip


def check_for(command: str) -> Check | None:
    for pattern, check in CHECKS:
        if re.search(pattern, command):
            return check
    return None


def test_docs_show_the_inspection_commands():
    text = "\n".join(redis_cli_commands())
    for wanted in (
        "HGETALL 'tv:{tv:trainer}:proc'",
        "TTL 'tv:{tv:trainer}:alive'",
        "PTTL 'tv:{tv:trainer}:alive'",
        "XRANGE 'tv:{tv:trainer}:code' - +",
        "XREAD BLOCK 0 STREAMS 'tv:{tv:trainer}:code' '$'",
        "GET 'tv:{tv:trainer}:request'",
        "SUBSCRIBE 'tv:{tv:trainer}:ctl'",
        "SSUBSCRIBE 'tv:{tv:trainer}:ctl'",
        "ZRANGE 'tv:{tv}:processes' 0 -1",
    ):
        assert wanted in text, wanted


def _cli(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.slow
def test_redis_cli_commands_run_against_a_live_worker(fresh_redis, spawner, tmp_path):
    commands = redis_cli_commands()
    admin = fresh_redis.client()
    version = tuple(int(x) for x in admin.info("server")["redis_version"].split(".")[:2])
    admin.close()
    if version < (7, 0):  # sharded pub/sub (SSUBSCRIBE, SHARDNUMSUB) came with Redis 7
        commands = [c for c in commands if "SSUBSCRIBE" not in c.upper()]
    # The worker holds before its first checkpoint, so the pause asked below stays
    # pending and GET of the request key has something to show.
    w = spawner.worker(fresh_redis.url, NAMESPACE, PROCESS, "--hold").wait_ready()
    client = VaultClient(fresh_redis.url, NAMESPACE)
    try:
        client.append_record("training_logs", {"epoch": 0, "loss": 0.9})
        client.create_description(PROCESS, "a small training loop")
        wait_until(lambda: client.get_code_items(PROCESS), what="the code item to be written")
        client.pause_execution(PROCESS)
        live = Live(w.pid, client.requester)

        for command in commands:
            if is_blocking(command):
                continue
            r = _cli(argv_for(command, fresh_redis))
            assert r.returncode == 0 and not r.stderr, (command, r.stdout, r.stderr)
            assert not _ERROR_LINE.search(r.stdout), (command, r.stdout)
            check = check_for(command)
            if check is not None:
                assert check(r.stdout, live), (command, r.stdout)

        # The blocking ones in the background; SUBSCRIBE never returns by itself, so
        # it runs under `timeout` and its exit status is 124.
        background: list[tuple[str, subprocess.Popen[str], Path]] = []
        for i, command in enumerate(c for c in commands if is_blocking(c)):
            argv = argv_for(command, fresh_redis)
            if "XREAD" not in command.upper():
                argv = ["timeout", str(BLOCK_SECONDS), *argv]
            out = tmp_path / f"bg-{i}.out"
            with out.open("w") as f:
                proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, text=True)
            spawner.procs.append(proc)
            background.append((command, proc, out))
        ctl = f"{NAMESPACE}:{{{NAMESPACE}:{PROCESS}}}:ctl"
        subs = sum("SUBSCRIBE" in c.upper().split()[1:2] for c, _p, _o in background)
        ssubs = sum("SSUBSCRIBE" in c.upper().split()[1:2] for c, _p, _o in background)
        xreads = len(background) - subs - ssubs
        r = fresh_redis.client()
        try:
            wait_until(
                lambda: (
                    r.pubsub_numsub(ctl)[0][1] == 1 + subs
                    and (not ssubs or r.execute_command("PUBSUB", "SHARDNUMSUB", ctl)[1] == ssubs)
                    and sum(c["cmd"] == "xread" for c in r.client_list()) == xreads
                ),
                what="the blocking commands to be waiting",
            )
        finally:
            r.close()

        w.release()  # it reaches its checkpoint and pauses
        wait_until(lambda: client.get_process(PROCESS).status == "paused", what="the pause")
        client.resume_execution(PROCESS, wait=True, timeout=10)
        client.stop_execution(PROCESS, wait=True, timeout=10)  # closes the code item
        assert w.wait_exit() == 0
        for command, proc, out in background:
            code = proc.wait(BLOCK_SECONDS + 30)
            text = out.read_text()
            if "XREAD" in command.upper():
                assert code == 0, (command, text)
                assert "close" in text.split() and "stopped" in text.split(), (command, text)
            else:
                assert code == 124, (command, code, text)
                assert "subscribe" in text.lower() and ctl in text, (command, text)
                if command.split()[1].upper() == "SUBSCRIBE":
                    assert '"action":"resume"' in text, (command, text)
    finally:
        client.close()


# --------------------------------------------------------------------------- CLI lines


@functools.cache
def cli_help(*path: str) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "tablevault_redis", *path, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert r.returncode == 0, (path, r.stdout, r.stderr)
    return r.stdout


def _program_args(words: list[str]) -> list[str] | None:
    """The arguments after ``tablevault-redis`` or ``python -m tablevault_redis``."""
    for i, word in enumerate(words):
        if word == "tablevault-redis":
            rest = words[i + 1 :]
        elif words[i : i + 3] == ["python", "-m", "tablevault_redis"]:
            rest = words[i + 3 :]
        else:
            continue
        cut = next((j for j, t in enumerate(rest) if t in SEPARATORS), len(rest))
        return rest[:cut]
    return None


def cli_invocations() -> list[tuple[str, list[str]]]:
    """``(file, argv after the program name)`` of every tablevault-redis command line,
    including those inside ``$(...)``."""
    out = []
    for name, line in shell_lines([*DOCS, ROOT / "README.md"]):
        inner = re.findall(r"\$\(([^)]*)\)", line)
        for segment in [re.sub(r"\$\([^)]*\)", "SUBST", line), *inner]:
            args = _program_args(shlex.split(segment, comments=True))
            if args is not None:
                out.append((name, args))
    return out


@pytest.mark.slow
def test_cli_lines_in_the_docs_use_real_commands_and_options():
    invocations = cli_invocations()
    assert len(invocations) >= 15
    commands = set(re.findall(r"^  (\w+)  ", cli_help(), re.MULTILINE))
    server_commands = set(re.findall(r"^  (\w+)  ", cli_help("server"), re.MULTILINE))
    for name, argv in invocations:
        if not argv or argv[0] in ("--help", "-h"):
            continue
        assert argv[0] in commands, (name, argv)
        path = [argv[0]]
        if argv[0] == "server" and len(argv) > 1 and not argv[1].startswith("-"):
            assert argv[1] in server_commands, (name, argv)
            path.append(argv[1])
        text = cli_help(*path)
        for token in argv[len(path) :]:
            if token.startswith("-") and token not in ("-", "--"):
                option = token.split("=", 1)[0]
                assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), (name, argv)


# --------------------------------------------------------------------------- links

_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("path", [ROOT / "README.md", *DOCS], ids=lambda p: p.name)
def test_relative_links_point_at_existing_files(path: Path):
    text = _FENCE.sub("", path.read_text())
    for target in _LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # absolute URL or an anchor in the same page
        file = target.split("#", 1)[0]
        assert (path.parent / file).exists(), f"{path.name}: broken link {target}"


def test_every_doc_the_readme_links_exists():
    linked = set(re.findall(r"\(docs/([\w-]+\.md)\)", (ROOT / "README.md").read_text()))
    assert linked <= {p.name for p in DOCS}, linked - {p.name for p in DOCS}
    assert {"guide.md", "key-schema.md", "cli.md", "api.md", "deployment.md"} <= linked


# --------------------------------------------------------------------------- API


def test_api_md_lists_every_public_method_and_field():
    import dataclasses
    import inspect

    import tablevault_redis
    from tablevault_redis import CodeItem, ProcessInfo, Vault, VaultClient

    text = (ROOT / "docs" / "api.md").read_text()
    for cls in (VaultClient, Vault):
        for name, _member in inspect.getmembers(cls):
            if not name.startswith("_"):
                assert f"`{name}" in text or f" `{name}`" in text, f"{cls.__name__}.{name}"
    for cls in (ProcessInfo, CodeItem):
        for field in dataclasses.fields(cls):
            assert f"`{field.name}`" in text, f"{cls.__name__}.{field.name}"
    for name in tablevault_redis.__all__:
        assert name in text, name


# --------------------------------------------------------------------------- ACL


@pytest.mark.slow
def test_the_acl_rule_in_deployment_md_is_enough(tmp_path):
    from helpers import Spawner

    text = (ROOT / "docs" / "deployment.md").read_text()
    (rule,) = [
        line
        for lang, body in _FENCE.findall(text)
        if lang == "text"
        for line in body.splitlines()
        if line.startswith("user trainer on >s3cret ")
    ]
    # The server is managed (and its ACL log read) as an admin; everything else runs
    # as the user of the rule, which must cause no denial at all.
    options = {"user": ["default off", rule.removeprefix("user "), "admin on >a ~* &* +@all"]}
    spawner = Spawner(tmp_path)
    with RedisServer(options, username="admin", password="a") as admin_server:
        url = f"redis://trainer:s3cret@{admin_server.host}:{admin_server.port}/0"
        try:
            w = spawner.worker(url, NAMESPACE, PROCESS).wait_ready()
            with VaultClient(url, NAMESPACE) as client:
                w.advancing()
                client.pause_execution(PROCESS, wait=True, timeout=10)
                client.resume_execution(PROCESS, wait=True, timeout=10)
                client.append_record("training_logs", {"epoch": 0})
                client.create_description(PROCESS, "acl check")
                assert client.query_process_list(code_text="checkpoint_execution")
                assert client.query_process_list(description_text="acl check")
                client.stop_execution(PROCESS, wait=True, timeout=10)
                assert w.wait_exit() == 0
                assert client.get_process(PROCESS).status == "stopped"
                client.vault_cleanup(interval=0)
            code = (
                "from tablevault_redis import Vault\n"
                f"Vault('u', 'fresh', redis_url={url!r}, namespace='tv', new_db=True)\n"
            )
            r = subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
            )
            assert r.returncode == 0, r.stderr
            with VaultClient(url, NAMESPACE) as client:
                assert [p.name for p in client.list_processes()] == ["fresh"]
            admin = admin_server.client()
            try:
                assert admin.acl_log() == []
            finally:
                admin.close()
        finally:
            spawner.cleanup()


def test_key_schema_md_lists_every_lua_script():
    from tablevault_redis import scripts

    text = (ROOT / "docs" / "key-schema.md").read_text("utf-8")
    table = text.split("## The Lua scripts", 1)[1]
    missing = [name for name in scripts.names() if f"`{name}`" not in table]
    assert not missing, f"docs/key-schema.md's script table lacks {missing}"
