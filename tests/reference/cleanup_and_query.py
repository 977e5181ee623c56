from tablevault_redis import Vault

vault = Vault(user_id="researcher", process_name="janitor")

# --- the page's examples, unchanged ---
# Clean up operations older than 60 seconds
vault.vault_cleanup(interval=60)

# Clean up specific timestamps
vault.vault_cleanup(selected_timestamps=[1234567890, 1234567891])

# Find processes by code content
processes = vault.query_process_list(code_text="import pandas")

# Find processes by parent code
processes = vault.query_process_list(parent_code_text="spawn_worker")

# Find processes by description
processes = vault.query_process_list(description_text="training pipeline")

# Combine filters
processes = vault.query_process_list(
    code_text="model.fit",
    parent_code_text="hyperparameter_search",
    filtered=["exp_1", "exp_2", "exp_3"]
)
# --- end of the examples ---
import json  # noqa: E402

print(json.dumps({
    "training": vault.query_process_list(code_text="train_epoch"),
    "children": vault.query_process_list(parent_code_text="hyperparameter_search"),
}))
