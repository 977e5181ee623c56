"""A child of spawn_parent.py: the fit model step of a gradient boosting run.

usage: spawn_child.py NAME
"""

import os
import sys

from tablevault_redis import Vault

vault = Vault("tester", sys.argv[1], namespace=os.environ["TEST_NAMESPACE"])
vault.append_record("fits", {"child": sys.argv[1], "score": 0.5})
