"""Shared fixtures: real Redis servers, unique namespaces, a clean environment.

Where each feature is tested
----------------------------
``unit/test_unit_*.py``   pure logic, no server, no subprocess: ControlState
                          (control.py; its hints: test_unit_hints.py), record and
                          code event folding (models.py),
                          the word tokenizer (text.py), names, record JSON, URL
                          redaction, operation ids, cleanup's log entries, process
                          state and arguments (cleanup.py), the fast path's and
                          fast exit's settings (wakeup.py, exiting.py)
``test_lua_process.py``   every branch of register, heartbeat, request_state,
                          request, ack, finish, clear_request
                          (through scripts.py)
``test_lua_items.py``     every branch of open_code, close_code, op_begin, op_end,
                          record_append, record_progress, describe
``test_lua_requests.py``  every branch of withdraw, the ``stopping`` ack and finish's
                          unreached requests
``test_lua_request_many.py`` request_many: each branch of request in bulk, many
                          names in one call
``test_registration.py``  the process record, name reuse, one Vault per process
``test_lifecycle.py``     crashes seen on read, SIGHUP/SIGTERM, unreached stops,
                          withdrawing, worker notices, spawned children, thread stops
``test_prompt.py``        the plain ``python`` prompt (pexpect on a real pty)
``test_control.py``       stop / pause / resume of real workers, request rules
``test_listener.py``      the listener and outbox across dropped connections,
                          restarts and a failover
``test_recovery.py``      workers through data loss (FLUSHALL, DEL of each key,
                          restarts with and without AOF), a cleanup right after an
                          outage, a partition past the TTL, forged notifications
``test_forged_input.py``  property tests (hypothesis): notification payloads and
                          request-key contents; unreadable records; bad timeouts,
                          intervals, heartbeat settings and indexes
``test_notebook.py``      notebook cells in a real Jupyter kernel
``test_fast_signals.py``  the signal fast path (link_wakeup.py, wakeup.py) and
                          fast_exit in real workers: busy stops, own handlers, exit,
                          syscalls, fork
``test_link.py``          one connection per worker (link.py, link_pool.py): CLIENT
                          LIST under records, queries, pause and stop; forged
                          notifications with the right epoch; one round trip per
                          request
``test_direct.py``        one script call straight on a pooled connection (direct.py):
                          NOSCRIPT, error replies, a dropped connection, over the link
``test_lean_beat.py``     the heartbeat sent by the link's reader thread (beat.py):
                          the outbox asleep, revival through the full path, an
                          overdue reply, the fast path quiet for the beat's reply
``test_exit.py``          a worker's exit (exiting.py): no warning, every queued record
                          written, files left open flushed, with and without the quick exit
``test_operations.py``    operations and vault_cleanup (cleanup.py) after kill -9
``test_items.py``         record lists, descriptions, reading items back
``test_record_values.py`` record values (ML values, hypothesis), size and depth limits
``test_outage.py``        a Vault's records and descriptions through Redis outages
``test_final_status.py``  the final status at exit over a lost or crashed-marked
                          record, no heartbeat after it, no wait for a full outbox
``test_retention.py``     delete_processes / trim_record_list and the prune/trim CLI
``test_lineage.py``       record lineage, input_items, progress fields, embeddings
``test_compat.py``        the original TableVault's documented scenarios
``test_query.py``         query_process_list
``test_process_reads.py`` list_processes' packed reads (process_reads.py): protocols,
                          parsers, chunks, bad records; unit/test_unit_process_rows.py
                          its column-wise ProcessInfo building against from_record
``test_events.py``        code_events / follow_code (events.py)
``test_connection.py``    URL resolution, version checks, ACL users, TLS
``test_secrets.py``       passwords masked in errors, URLs and reprs
``test_acl.py``           docs/trust-model.md's ACL recipes with real users
``test_retry.py``         the transient-error rule and backoff (retry.py)
``test_redis_compat.py``  the redis-py internals the package relies on
``test_logging.py``       warnings through ``logging``
``test_cluster.py``       the control plane on a Redis Cluster;
                          ``test_cluster_failover.py`` a master lost under a worker
``test_sentinel.py``      Sentinel URLs and a failover (server_groups.py, ha_helpers.py)
``test_embedded.py``      the embedded per-user server; ``test_demo.py`` the README demo
``test_cli.py``           the command line (in-process ``cli``; ``cli_proc`` for exit
                          codes and signals); ``test_cli_units.py`` its tree logic
                          and rendering without Redis; ``test_cli_views.py`` what ps, show, tree,
                          logs -f and namespaces show and the errors (in process);
                          ``test_cli_control.py`` stop/pause/resume of several
                          processes; ``test_cli_top.py`` top (pilot and tmux);
                          ``test_cli_records.py`` records LIST (--process, --json);
                          ``clitools.py`` their CliRunner and fake records;
                          ``test_docs.py`` the docs' commands and
                          links; ``test_reference.py`` the TableVault page's examples;
                          ``test_compose.py`` compose.yaml
``test_ui.py``            the dashboard's HTTP API, token and CSRF rules, read-only
                          mode (ACL user too), namespaces, live feed, metrics (the
                          server runs in a thread: ``ui_server.py``);
                          ``test_ui_commands.py`` the ``ui``/``metrics`` commands;
                          ``test_ui_browser.py`` the page in headless Chromium
``test_lint.py``          ruff, mypy, module and function sizes, one function per script
``test_servers.py``       the test servers themselves (servers.py)
``test_benchmarks.py``    benchmarks/peers' quick mode runs and writes its JSON and plots

Which fixture
-------------
``client`` (a VaultClient) or ``redis_url`` + ``namespace``: most tests; they share
the session ``redis_server`` and stay apart by namespace. ``conn``: a library
Connection, to call the script functions of scripts.py directly. ``fresh_redis``: a
private server to kill, restart or reconfigure; ``durable_redis`` when data must
survive kill -9. ``redis_cluster``: a 3-master cluster (started on first use).
``spawner``: worker subprocesses (tests/scripts/), killed at teardown; ``run_python``
(helpers.py) for a one-off ``python -c``. ``home``: a private HOME for the embedded
server, which is ended afterwards. ``clean_env``: no TABLEVAULT_* variables.

The slow marker
---------------
A test that starts any subprocess other than redis-server / redis-cli (workers,
CLI runs, kernels, the demo, linters) is marked ``@pytest.mark.slow`` (per test, or
``pytestmark = pytest.mark.slow`` when the whole module does); an unmarked one fails
(see ``_slow_mark_required``). ``pytest -m "not slow"`` is the fast tier.

Add new fixtures in their own section below; keep server handling in servers.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the package is used from the checkout, not installed
    sys.path.insert(0, str(ROOT))

from helpers import Spawner  # noqa: E402
from servers import RedisClusterServers, RedisServer  # noqa: E402

from tablevault_redis import VaultClient  # noqa: E402
from tablevault_redis.connection import Connection, connect  # noqa: E402
from tablevault_redis.embedded import EmbeddedPaths, paths, stop_server  # noqa: E402
from tablevault_redis.errors import VaultConnectionError  # noqa: E402

# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One standalone server for the whole run; tests separate by ``namespace``."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL (restarted first if an earlier test ended it)."""
    if not redis_server.running:
        redis_server.restart()
    return redis_server.url


@pytest.fixture
def fresh_redis() -> Iterator[RedisServer]:
    """A private server for tests that kill, restart or reconfigure it."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def durable_redis() -> Iterator[RedisServer]:
    """A private server that fsyncs every write, so kill -9 and restart lose nothing."""
    with RedisServer({"appendonly": "yes", "appendfsync": "always"}) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServers]:
    """A 3-master cluster, started only when a test asks for it."""
    with RedisClusterServers() as cluster:
        yield cluster


# --------------------------------------------------------------------------- isolation


@pytest.fixture
def namespace() -> str:
    """A namespace no other test uses, so tests can share one server."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every TABLEVAULT_* variable for this test (restored afterwards)."""
    for name in list(os.environ):
        if name.startswith("TABLEVAULT_"):
            monkeypatch.delenv(name)


# --------------------------------------------------------------------------- processes


@pytest.fixture
def spawner(tmp_path: Path) -> Iterator[Spawner]:
    """Starts worker subprocesses and kills any left at the end of the test."""
    s = Spawner(tmp_path)
    yield s
    s.cleanup()


@pytest.fixture
def client(redis_url: str, namespace: str) -> Iterator[VaultClient]:
    """A non-registering client on the session server, in this test's namespace."""
    c = VaultClient(redis_url, namespace)
    yield c
    c.close()


@pytest.fixture
def conn(redis_url: str) -> Iterator[Connection]:
    """A library connection to the session server, for calling the script functions
    of ``tablevault_redis.scripts`` directly (with ``namespace`` as their ``ns``)."""
    c = connect(redis_url)
    yield c
    c.close()


# --------------------------------------------------------------------------- the slow marker

# Redis servers (and redis-cli, which builds the test cluster) are the ground every
# tier stands on; any other child process makes a test slow.
_INFRASTRUCTURE = ("redis-server", "redis-cli")


class _SpawnGuard:
    """Fails a test that starts a subprocess without ``@pytest.mark.slow``.

    Installed once as an audit hook (``subprocess.Popen`` raises the audit event in
    every thread, whoever calls it); armed only while an unmarked test runs.
    """

    def __init__(self) -> None:
        self.test: str | None = None  # the unmarked test now running, if any
        self.spawned: list[str] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event != "subprocess.Popen" or self.test is None:
            return
        executable, argv = args[0], args[1]
        if isinstance(argv, (str, bytes, os.PathLike)):
            argv = [argv]
        program = os.fsdecode(executable or (argv[0] if argv else ""))
        if any(name in os.path.basename(program) for name in _INFRASTRUCTURE):
            return
        command = " ".join(os.fsdecode(a) for a in argv)[:200]
        self.spawned.append(command)
        raise AssertionError(
            f"{self.test} starts a subprocess ({command}) but is not marked "
            "@pytest.mark.slow (see the map at the top of tests/conftest.py)"
        )


_guard = _SpawnGuard()
sys.addaudithook(_guard)


@pytest.fixture(autouse=True)
def _slow_mark_required(request: pytest.FixtureRequest) -> Iterator[None]:
    """Arms the guard for unmarked tests; set up before, torn down after the test's
    other function fixtures, so workers started by fixtures count too."""
    if request.node.get_closest_marker("slow") is not None:
        yield
        return
    _guard.test, _guard.spawned = request.node.nodeid, []
    try:
        yield
    finally:
        _guard.test = None
    if _guard.spawned:  # also catches a spawn whose error some code swallowed
        pytest.fail(f"subprocess started without the slow mark: {_guard.spawned}")


# --------------------------------------------------------------------------- embedded server


def servers_in(state_dir: Path) -> list[psutil.Process]:
    """redis-server processes working in ``state_dir`` (the embedded one chdirs there)."""
    found = []
    for proc in psutil.process_iter(["name", "cwd"]):
        with contextlib.suppress(psutil.Error):
            if (
                "redis-server" in (proc.info["name"] or "")
                and proc.info["cwd"]
                and (Path(proc.info["cwd"]).resolve() == state_dir.resolve())
            ):
                found.append(proc)
    return found


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddedPaths]:
    """A private HOME / XDG_STATE_HOME / XDG_RUNTIME_DIR; the server is ended after."""
    runtime = Path(tempfile.mkdtemp(prefix="tvr-run-"))  # short: socket paths are limited
    runtime.chmod(0o700)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.delenv("TABLEVAULT_REDIS_URL", raising=False)
    p = paths()
    try:
        yield p
    finally:
        current = paths()  # a test may have changed the environment
        with contextlib.suppress(VaultConnectionError):
            stop_server()
        for proc in servers_in(current.state_dir) + servers_in(p.state_dir):
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        shutil.rmtree(runtime, ignore_errors=True)
