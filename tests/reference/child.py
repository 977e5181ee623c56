from tablevault_redis import Vault

# --- the page's example, unchanged ---
# Child process (spawned by parent)
child_vault = Vault(
    user_id="researcher",
    process_name="experiment_run_1",
    parent_process_name="hyperparameter_search",
    parent_process_index=0  # Index in parent's code
)
