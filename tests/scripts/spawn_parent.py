"""A parent that spawns two children (spawn_worker): they inherit its name and
code item index through the environment.

usage: spawn_parent.py NAME CHILD1 CHILD2
"""

import os
import subprocess
import sys

from tablevault_redis import Vault

name, children = sys.argv[1], sys.argv[2:]
vault = Vault("tester", name, namespace=os.environ["TEST_NAMESPACE"])
child_script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spawn_child.py")


def spawn_worker(child: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, child_script, child])


procs = [spawn_worker(child) for child in children]
codes = [p.wait(30) for p in procs]
sys.exit(max(codes))
