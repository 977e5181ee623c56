from tablevault_redis import Vault

vault = Vault(
    user_id="researcher",
    process_name="controller",
    new_arango_db=False
)

# Check status of running experiments
operations = vault.get_current_operations()
print(f"Active operations: {operations}")

# Stop an experiment that's taking too long
vault.stop_execution("slow_experiment")

# Pause data ingestion while we analyze
vault.pause_execution("data_ingestion")

# ... do analysis ...

# Resume data ingestion
vault.resume_execution("data_ingestion")
