"""A notebook-like worker for operations tests: IPython's InteractiveShell runs cells.

usage: ops_cell_worker.py NAME WORKDIR
The second cell writes WORKDIR/in_cell and then runs until it is killed.
"""

import os
import sys

from IPython.core.interactiveshell import InteractiveShell

name, workdir = sys.argv[1], sys.argv[2]
shell = InteractiveShell.instance()
ns = os.environ["TEST_NAMESPACE"]
setup = shell.run_cell(
    "from tablevault_redis import Vault\n"
    f"vault = Vault('tester', {name!r}, namespace={ns!r}, "
    "heartbeat_interval=0.2, heartbeat_ttl=0.6)\n"
)
if not setup.success:
    sys.exit(3)
shell.run_cell(
    "import pathlib, time\n"
    "# notebook cell: train the forest model\n"
    f"pathlib.Path({workdir!r}, 'in_cell').write_text('1')\n"
    "while True:\n"
    "    time.sleep(0.01)\n"
    "    vault.checkpoint_execution()\n"
)
