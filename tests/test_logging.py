"""Warnings go through ``logging`` under ``tablevault_redis``, seen even unconfigured.

The library adds no handler of its own: with nothing configured, Python's last-resort
handler prints WARNING and above to stderr; once the program configures logging, its
settings decide (a level, a format, a file).
"""

from __future__ import annotations

import re

import pytest
from helpers import run_python

pytestmark = pytest.mark.slow

# A worker whose final writes cannot be made: its record and the namespace's operation
# log are turned into strings under it, so the outcome cannot be written (a warning)
# and ending its code item's operation fails with WRONGTYPE (dropped with a warning).
CHILD = """
import logging, os
setup = os.environ.get("LOG_SETUP", "")
if setup == "error-level":
    logging.getLogger("tablevault_redis").setLevel(logging.ERROR)
elif setup == "format":
    logging.basicConfig(format="%(name)s|%(levelname)s|%(message)s")
import redis
from tablevault_redis import Vault, keys
ns = os.environ["TEST_NAMESPACE"]
vault = Vault("tester", "w", namespace=ns)
r = redis.Redis.from_url(os.environ["TABLEVAULT_REDIS_URL"])
r.delete(keys.proc(ns, "w"))
r.set(keys.proc(ns, "w"), "no longer a hash")
r.delete(keys.operations(ns))
r.set(keys.operations(ns), "no longer a hash")
print("body done", flush=True)
"""


def _run(url: str, namespace: str, setup: str) -> str:
    result = run_python(CHILD, url, namespace, LOG_SETUP=setup)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "body done" in result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def test_warnings_reach_stderr_with_logging_unconfigured(redis_url, namespace):
    err = _run(redis_url, namespace, "")
    assert "tablevault-redis: dropped write" in err and "WRONGTYPE" in err, err


def test_a_configured_level_silences_them(redis_url, namespace):
    assert _run(redis_url, namespace, "error-level") == ""


def test_a_configured_handler_gets_them_with_the_module_logger(redis_url, namespace):
    err = _run(redis_url, namespace, "format")
    assert re.search(r"^tablevault_redis\.\w+\|WARNING\|tablevault-redis: dropped write", err, re.M)
