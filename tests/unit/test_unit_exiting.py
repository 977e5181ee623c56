"""The quick exit's settings and its split of modules into the library's and the
program's (exiting.py); the exit itself is tested in real processes in test_exit.py."""

from __future__ import annotations

import re
import tomllib

from helpers import ROOT

from tablevault_redis import exiting

# Distribution name -> the top-level package it installs, where they differ.
IMPORT_NAMES = {"ipython": "IPython"}


def test_the_quick_exit_is_on_unless_turned_off(monkeypatch):
    monkeypatch.delenv(exiting.ENV_FAST_EXIT, raising=False)
    assert exiting.teardown_enabled(None) is True
    assert exiting.teardown_enabled(False) is False
    monkeypatch.setenv(exiting.ENV_FAST_EXIT, "0")
    assert exiting.teardown_enabled(None) is False
    assert exiting.enabled(None) is False  # nor the freeze at atexit
    monkeypatch.setenv(exiting.ENV_FAST_EXIT, "1")
    assert exiting.teardown_enabled(None) is True
    assert exiting.enabled(None) is True


def test_the_library_is_the_standard_library_this_package_and_its_dependencies():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {"tablevault_redis"}
    for requirement in meta["dependencies"]:
        name, extras = re.match(r"([A-Za-z0-9_.-]+)(?:\[([^\]]*)\])?", requirement).groups()
        wanted.add(IMPORT_NAMES.get(name, name))
        wanted.update(e.strip() for e in (extras or "").split(",") if e.strip())
    assert wanted == exiting.LIBRARY_PACKAGES
    assert exiting._library("json") and exiting._library("redis.asyncio.client")
    assert not exiting._library("__main__") and not exiting._library("numpy")
