"""The code base stays ruff clean (lint and format) and the package type-checks."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys

import pytest
from helpers import ROOT

from tablevault_redis import scripts


def _ruff() -> list[str]:
    exe = shutil.which("ruff") or str(ROOT / ".venv" / "bin" / "ruff")
    if not shutil.which(exe):
        return [sys.executable, "-m", "ruff"]
    return [exe]


@pytest.mark.slow
@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff(args):
    r = subprocess.run([*_ruff(), *args], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_mypy():
    r = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


PACKAGE = ROOT / "tablevault_redis"


def _modules() -> list[tuple[str, ast.Module]]:
    """(path relative to the package, syntax tree) of every module, subpackages too."""
    return [
        (p.relative_to(PACKAGE).as_posix(), ast.parse(p.read_text("utf-8")))
        for p in sorted(PACKAGE.rglob("*.py"))
    ]


def _is_keys_call(node: ast.AST) -> bool:
    """``keys.<something>(...)``: a key name built by the key schema module."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "keys"
    )


# scripts.py, the module it exports the item scripts' functions from, and the one
# that sends a script call (direct.py).
SCRIPT_MODULES = ("scripts.py", "item_scripts.py", "direct.py")


def test_only_scripts_py_runs_scripts():
    """Script calls go through the typed functions of scripts.py: nothing else runs a
    script by name or builds the KEYS list of one."""
    found = []
    for module, tree in _modules():
        if module in SCRIPT_MODULES:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = node.func.value
                on_scripts = (isinstance(target, ast.Name) and target.id == "scripts") or (
                    isinstance(target, ast.Attribute) and target.attr == "scripts"
                )
                if node.func.attr == "run" and on_scripts:
                    found.append(f"{module}:{node.lineno}: runs a script by name")
            if isinstance(node, ast.Call) and any(kw.arg == "keys" for kw in node.keywords):
                found.append(f"{module}:{node.lineno}: passes keys= to a script")
            if isinstance(node, ast.List) and any(_is_keys_call(e) for e in node.elts):
                found.append(f"{module}:{node.lineno}: builds a list of keys")
    assert not found, "\n".join(found)


def test_every_lua_script_has_one_function():
    lua = {p.stem for p in (PACKAGE / "lua").glob("*.lua")}
    assert set(scripts.names()) == lua
    assert set(scripts.WRAPPERS) == lua
    for name, fn in scripts.WRAPPERS.items():
        assert fn is getattr(scripts, name)
        assert "KEYS" in (fn.__doc__ or ""), f"{name}: the docstring repeats the contract"


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50


def test_modules_and_functions_stay_small():
    found = []
    for module, tree in _modules():
        lines = len((PACKAGE / module).read_text("utf-8").splitlines())
        if lines >= MAX_MODULE_LINES:
            found.append(f"{module}: {lines} lines")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length >= MAX_FUNCTION_LINES:
                    found.append(f"{module}:{node.lineno}: {node.name} is {length} lines")
    assert not found, "\n".join(found)


def test_the_test_map_names_every_test_file():
    """tests/conftest.py's map of which file holds which feature stays complete."""
    tests = ROOT / "tests"
    text = (tests / "conftest.py").read_text("utf-8")
    unlisted = [p.name for p in sorted(tests.glob("test_*.py")) if f"``{p.name}``" not in text]
    assert not unlisted, f"add these to the map in tests/conftest.py: {unlisted}"
    assert "``unit/test_unit_*.py``" in text
