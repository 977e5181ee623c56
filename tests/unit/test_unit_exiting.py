"""The quick exit's settings and its split of modules into the library's and the
program's (exiting.py); the exit itself is tested in real processes in test_exit.py."""

from __future__ import annotations

import re
import sys
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


def test_a_kept_namespace_loses_its_objects_first_the_latest_assigned_first():
    """What the finalizers that run while the objects go still find: modules,
    classes, functions and constants."""
    dropped: list[str] = []

    class Noted:
        def __init__(self, name: str) -> None:
            self.name = name

        def __del__(self) -> None:
            dropped.append(self.name)

    namespace = {"__builtins__": {}, "re": re, "Noted": Noted, "PREFIX": "p"}
    namespace.update(first=Noted("first"), data=[1], second=Noted("second"), func=len)
    exiting._drop_objects(namespace)
    assert dropped == ["second", "first"]
    assert namespace["first"] is None and namespace["data"] is None
    assert namespace["re"] is re and namespace["Noted"] is Noted
    assert namespace["PREFIX"] == "p" and namespace["func"] is len
    assert namespace["__builtins__"] == {}


def test_nothing_is_frozen_when_the_quick_exit_is_off_or_at_a_prompt(monkeypatch):
    monkeypatch.delenv(exiting.ENV_FAST_EXIT, raising=False)
    assert exiting._may_freeze()  # pytest runs as a script
    monkeypatch.setattr(sys, "ps1", ">>> ", raising=False)
    monkeypatch.setattr(sys.modules["__main__"], "__file__", None, raising=False)
    assert not exiting._may_freeze()
    monkeypatch.undo()
    for value in ("0", "soon"):  # off, or a bad value that Vault() reports
        monkeypatch.setenv(exiting.ENV_FAST_EXIT, value)
        assert not exiting._may_freeze()
