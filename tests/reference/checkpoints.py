import itertools
import time

from tablevault_redis import Vault

vault = Vault(user_id="researcher", process_name="data_ingestion")
data_batches = itertools.count()


def process_batch(batch):
    time.sleep(0.01)
    return {"batch": batch, "rows": batch * 10}


# --- the page's example, unchanged ---
for batch in data_batches:
    # Process batch
    results = process_batch(batch)
    vault.append_record("results", results)

    # Safe point to check for stop/pause requests
    vault.checkpoint_execution()
