from tablevault_redis import Vault

vault = Vault(user_id="researcher", process_name="process_a")

# --- the page's examples, unchanged ---
# In process A
vault.stop_execution("experiment_process")

# In process A
vault.pause_execution("data_pipeline")

# In process A
vault.resume_execution("data_pipeline")
