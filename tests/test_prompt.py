"""The plain interactive interpreter (``python`` at its prompt, on a real pty): a
stop aborts the running statement with one line and the session goes on, and each
statement entered is a code item with its outcome, like a notebook cell."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator

import pexpect
import pytest
from helpers import child_env, wait_until
from test_cli import Cli

from tablevault_redis import NotFoundError, VaultClient

pytestmark = pytest.mark.slow  # every test here starts an interpreter

PROMPT = ">>> "
LOOP = ["for i in range(100000):", "    time.sleep(0.01); v.checkpoint_execution()", ""]


@pytest.fixture
def prompt(redis_url: str, namespace: str) -> Iterator[pexpect.spawn]:
    session = pexpect.spawn(
        sys.executable,
        ["-q"],
        env={**child_env(redis_url, namespace), "PYTHON_BASIC_REPL": "1"},
        encoding="utf-8",
        timeout=20,
    )
    session.logfile_read = io.StringIO()
    session.expect(PROMPT)
    try:
        yield session
    finally:
        if session.isalive():
            session.terminate(force=True)


def enter(session: pexpect.spawn, *lines: str) -> None:
    for line in lines:
        session.sendline(line)
    session.expect(PROMPT)


def open_item(client: VaultClient, index: int) -> bool:
    try:
        items = client.get_code_items("repl")
    except NotFoundError:
        return False
    return any(i.index == index and i.status == "open" for i in items)


def test_a_stop_aborts_the_statement_and_the_session_goes_on(
    prompt: pexpect.spawn, client: VaultClient, namespace: str
):
    enter(prompt, "import time; from tablevault_redis import Vault")
    enter(prompt, f"v = Vault('me', 'repl', namespace={namespace!r})")
    enter(prompt, "x = 1 + 1")
    enter(prompt, "1 / 0")
    for line in LOOP:
        prompt.sendline(line)
    wait_until(lambda: open_item(client, 2), what="the loop statement to run")
    assert client.get_process("repl").execution_type == "interactive"
    client.stop_execution("repl", wait=True, timeout=10)
    prompt.expect(PROMPT)
    stopped = prompt.before
    enter(prompt, "print('still here', x)")
    assert "still here 2" in prompt.before
    assert "Traceback" not in stopped and "KeyboardInterrupt" not in stopped
    notices = [ln for ln in stopped.splitlines() if ln.startswith("tablevault-redis")]
    assert notices == [
        f"tablevault-redis: stopped by {client.requester} at a checkpoint; the running "
        "statement ends; the session goes on"
    ]
    expected = [
        ("x = 1 + 1", "completed"),
        ("1 / 0", "failed"),
        ("\n".join(LOOP[:2]), "stopped"),
        ("print('still here', x)", "completed"),
    ]
    # Closing an item is written in the background: wait for the last one's.
    wait_until(
        lambda: [(i.text, i.status) for i in client.get_code_items("repl")] == expected,
        what=f"the items to be {expected}",
    )
    items = client.get_code_items("repl")
    assert "ZeroDivisionError" in items[1].error
    info = client.get_process("repl")
    assert (info.status, info.interrupt_action) == ("running", None)
    prompt.sendline("exit()")
    prompt.expect(pexpect.EOF)
    prompt.close()
    assert prompt.exitstatus == 0
    assert client.get_process("repl").status == "completed"


def test_pause_at_the_prompt_and_the_cli_says_what_a_stop_did(
    prompt: pexpect.spawn, client: VaultClient, redis_url: str, namespace: str
):
    enter(prompt, "import time; from tablevault_redis import Vault")
    enter(prompt, f"v = Vault('me', 'repl', namespace={namespace!r})")
    for line in LOOP:
        prompt.sendline(line)
    wait_until(lambda: open_item(client, 0), what="the loop statement to run")
    client.pause_execution("repl", wait=True, timeout=10)
    prompt.expect("tablevault-redis: paused by .* at a checkpoint; waiting for resume")
    client.resume_execution("repl", wait=True, timeout=10)
    prompt.expect("tablevault-redis: resumed; running again")
    out = Cli(redis_url, namespace).ok("stop", "repl", "--wait", "--timeout", "10")
    assert "the running statement was stopped; the prompt is waiting for input" in out
    prompt.expect(PROMPT)
    enter(prompt, "v.close()")
    assert client.get_process("repl").status == "completed"
