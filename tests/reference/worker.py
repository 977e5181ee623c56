import time


def train_epoch(model, data):
    time.sleep(0.01)
    return 1.0 / (1 + len(data))


model, data = None, [1, 2, 3]

# --- the page's example, unchanged but for the import ---
from tablevault_redis import Vault  # noqa: E402

vault = Vault(
    user_id="researcher",
    process_name="slow_experiment",
    new_arango_db=False
)

for epoch in range(1000):
    # Training loop
    loss = train_epoch(model, data)

    # Record results
    vault.append_record("training_logs", {
        "epoch": epoch,
        "loss": loss
    })

    # Checkpoint: safe to stop/pause here
    vault.checkpoint_execution()
