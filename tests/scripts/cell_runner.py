"""A notebook-like process: IPython's InteractiveShell runs cells handed to it as files.

usage: cell_runner.py NAME WORKDIR
Creates the Vault in a first cell, writes WORKDIR/markers ``ready``, then runs
WORKDIR/cell-0.py, cell-1.py, ... as they appear, writing ``ran-N`` after each,
until WORKDIR/quit exists.
"""

import os
import sys
import time

from IPython.core.interactiveshell import InteractiveShell

name, workdir = sys.argv[1], sys.argv[2]


def marker(text: str) -> None:
    with open(os.path.join(workdir, "markers"), "a") as f:
        f.write(text + "\n")


shell = InteractiveShell.instance()
ns = os.environ["TEST_NAMESPACE"]
setup = shell.run_cell(
    f"from tablevault_redis import Vault\nvault = Vault('tester', {name!r}, namespace={ns!r})\n"
)
if not setup.success:
    sys.exit(3)
marker("ready")
n = 0
while not os.path.exists(os.path.join(workdir, "quit")):
    path = os.path.join(workdir, f"cell-{n}.py")
    if os.path.exists(path):
        with open(path) as f:
            shell.run_cell(f.read())
        marker(f"ran-{n}")
        n += 1
    else:
        time.sleep(0.005)
