import subprocess
import sys
from pathlib import Path

from tablevault_redis import Vault

# --- the page's example, unchanged ---
# Parent process
parent_vault = Vault(
    user_id="researcher",
    process_name="hyperparameter_search"
)

# ... spawn child processes ...
# --- end of the example; here the parent spawns its child ---
subprocess.run([sys.executable, str(Path(__file__).with_name("child.py"))], check=True)
