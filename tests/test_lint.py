"""The code base stays ruff clean (lint and format) and the package type-checks."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from helpers import ROOT


def _ruff() -> list[str]:
    exe = shutil.which("ruff") or str(ROOT / ".venv" / "bin" / "ruff")
    if not shutil.which(exe):
        return [sys.executable, "-m", "ruff"]
    return [exe]


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]])
def test_ruff(args):
    r = subprocess.run([*_ruff(), *args], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy():
    r = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
