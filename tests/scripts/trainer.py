"""A training loop for dashboard tests: appends one record per step, slowly.

usage: trainer.py NAME WORKDIR LIST [--every SECONDS]
Each record is {"step": i, "loss": 1 / (i + 1), "writer": NAME}; writes ``ready`` to
WORKDIR/markers once the Vault exists, and WORKDIR/progress after every step.
"""

import os
import sys
import time

from tablevault_redis import Vault

name, workdir, list_name = sys.argv[1], sys.argv[2], sys.argv[3]
every = float(sys.argv[sys.argv.index("--every") + 1]) if "--every" in sys.argv else 0.05

vault = Vault("trainer", name, namespace=os.environ["TEST_NAMESPACE"])
with open(os.path.join(workdir, "markers"), "a") as f:
    f.write("ready\n")
step = 0
while True:
    vault.append_record(list_name, {"step": step, "loss": 1 / (step + 1), "writer": name})
    step += 1
    tmp = os.path.join(workdir, "progress.tmp")
    with open(tmp, "w") as f:
        f.write(str(step))
    os.replace(tmp, os.path.join(workdir, "progress"))
    time.sleep(every)
    vault.checkpoint_execution()
