"""The worker of the reference page's "Coordinated ML Workflow", unchanged but for
the import line and a stand-in for training."""

import time

from tablevault_redis import Vault

model, data = None, None


def train_epoch(model, data):
    time.sleep(0.005)
    return 1.0 / (1 + time.monotonic() % 7)


# fmt: off
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
# fmt: on
