"""The original TableVault's documented examples, run against this library.

Each test is one scenario of the original's documentation (item lists, record
lists, descriptions, basic queries, lineage, process management), written with the
original's calls (positional arguments where its docs use them) and checked
against the shapes its docstrings promise. The four deliberate differences are
asserted the way this library does them: a stop runs ``finally`` and exits cleanly
(a notebook cell is aborted, the kernel lives), a pause is cooperative (the paused
process stays alive and visible), a stop overrides a pending pause, and a name is
reused once its process ended.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from clitools import Cli
from helpers import run_python, wait_until

from tablevault_redis import (
    NotFoundError,
    TableVaultError,
    ValidationError,
)

pytestmark = pytest.mark.slow

HEADER = """
import json, os
from tablevault_redis import Vault
vault = Vault(user_id="researcher", process_name={name!r},
              namespace=os.environ["TEST_NAMESPACE"], new_arango_db=False)
"""


def scenario(redis_url: str, namespace: str, name: str, body: str) -> object:
    """Run ``body`` as the script of process ``name``; return what it printed (JSON)."""
    code = HEADER.format(name=name) + textwrap.dedent(body)
    r = run_python(code, redis_url, namespace)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else None


EXPERIMENTS = """
vault.create_record_list("experiment_results", column_names=["model", "accuracy", "params"])
vault.append_record("experiment_results", {
    "model": "random_forest",
    "accuracy": 0.95,
    "params": {"n_estimators": 100, "max_depth": 10}
})
vault.append_record("experiment_results", {
    "model": "xgboost",
    "accuracy": 0.97,
    "params": {"learning_rate": 0.1, "n_estimators": 200}
})
"""


def test_record_list_type_example(client, redis_url, namespace):
    scenario(redis_url, namespace, "types", EXPERIMENTS)
    assert [r["model"] for r in client.query_item_content("experiment_results")] == [
        "random_forest",
        "xgboost",
    ]
    meta = client.query_item_list("experiment_results")
    assert (meta["n_items"], meta["length"], meta["deleted"]) == (2, 2, -1)
    assert meta["column_names"] == ["model", "accuracy", "params"]


def test_querying_item_content(client, redis_url, namespace):
    scenario(redis_url, namespace, "chunks", EXPERIMENTS + EXPERIMENTS.split(")\n", 1)[1])
    content = client.query_item_content("experiment_results", index=0)
    assert content["model"] == "random_forest"
    assert (
        len(client.query_item_content("experiment_results", start_position=0, end_position=3)) == 3
    )
    assert len(client.query_item_content("experiment_results")) == 4


def test_process_content_is_the_code_with_status(client, redis_url, namespace):
    scenario(redis_url, namespace, "coder", "x = 1  # first script\n")
    (item,) = client.query_item_content("coder")
    assert set(item) == {"text", "status", "error", "start_position", "index"}
    assert "first script" in item["text"] and item["status"] == "complete"
    assert client.query_item_content("coder", index=0) == item
    assert client.query_item_content("coder", start_position=10**6) == []


def test_errors_are_recorded_with_the_code(client, redis_url, namespace):
    code = HEADER.format(name="broken") + "raise RuntimeError('boom in the script')\n"
    assert run_python(code, redis_url, namespace).returncode == 1
    item = client.query_item_content("broken", index=0)
    assert item["status"] == "failed" and "boom in the script" in item["error"]


def test_process_metadata_has_the_original_fields(client, redis_url, namespace):
    scenario(redis_url, namespace, "meta", "vault.checkpoint_execution()\n")
    meta = client.query_item_list("meta")
    for field in ("pid", "execution_type", "creator_user_id", "interrupt_request",
                  "interrupt_action", "n_items", "length", "deleted"):  # fmt: skip
        assert field in meta, field
    assert meta["creator_user_id"] == "researcher" and meta["execution_type"] == "script"
    assert meta["n_items"] == 1 and meta["deleted"] == -1 and meta["length"] > 0


def test_finding_the_creation_process(client, redis_url, namespace):
    scenario(redis_url, namespace, "training_run_01", EXPERIMENTS)
    assert client.query_item_creation_process("experiment_results") == [
        {"process_id": "process_list/training_run_01", "index": 0}
    ]


def test_finding_all_modifying_processes_by_range(client, redis_url, namespace):
    for name in ("first_half", "second_half"):
        scenario(redis_url, namespace, name, 'vault.append_record("chunks", {"n": 1})\n' * 3)
    assert client.query_item_process("chunks") == [
        {"process_id": "process_list/first_half", "index": 0},
        {"process_id": "process_list/second_half", "index": 0},
    ]
    assert client.query_item_process("chunks", start_position=0, end_position=3) == [
        {"process_id": "process_list/first_half", "index": 0}
    ]
    assert client.query_item_process("chunks", start_position=3) == [
        {"process_id": "process_list/second_half", "index": 0}
    ]


def test_finding_items_from_a_python_process(client, redis_url, namespace):
    scenario(redis_url, namespace, "data_pipeline_process", EXPERIMENTS)
    rows = client.query_process_item("data_pipeline_process")
    assert {"name": "experiment_results", "start_position": 0, "end_position": 2} in rows
    assert {"name": "experiment_results", "start_position": None, "end_position": None} in rows
    assert rows[-1]["name"] == "experiment_results"
    assert rows[0]["name"] == "data_pipeline_process"  # its own code


def test_input_items_and_lineage_queries(client, redis_url, namespace):
    scenario(
        redis_url,
        namespace,
        "lineage",
        """
        for i in range(3):
            vault.append_record("image_net_files", {"path": f"img{i}.png"})
        image_files = vault.query_item_content("image_net_files")
        for index, image_file in enumerate(image_files):
            input_item = {"image_net_files": [index, index + 1]}
            vault.append_record("image_net_embeddings", {"vec": [index, 0.5]}, input_item)
    """,
    )
    parents = client.query_item_parent("image_net_embeddings")
    assert parents[0] == [0, 1, "record_list", "image_net_files", 0, 1]
    assert len(parents) == 3
    assert client.query_item_parent("image_net_embeddings", start_position=1, end_position=2) == [
        [1, 2, "record_list", "image_net_files", 1, 2]
    ]
    children = client.query_item_child("image_net_files", start_position=2)
    assert children == [[2, 3, "record_list", "image_net_embeddings", 2, 3]]
    assert len(client.query_item_child("image_net_files")) == 3


def test_descriptions_example(client, redis_url, namespace):
    scenario(
        redis_url,
        namespace,
        "describer",
        """
        vault.create_record_list("frankenstein_novel", ["paragraph"])
        description = "Full novel of the Frankenstien by Mary Shelley in paragraphs"
        embedding = [0.1, 0.9, 0.2]
        vault.create_description("frankenstein_novel", description,  embedding)
        print(json.dumps(vault.query_item_description("frankenstein_novel")))
    """,
    )
    assert client.query_item_description("frankenstein_novel") == [
        ["BASE", "Full novel of the Frankenstien by Mary Shelley in paragraphs"]
    ]
    desc = client.get_descriptions("frankenstein_novel")["BASE"]
    assert (desc["process"], desc["process_index"]) == ("describer", 0)


def test_record_list_queries(client, redis_url, namespace):
    describe = 'vault.create_description("experiment_results", "experiment results", [1, 0])\n'
    scenario(redis_url, namespace, "evaluate_run", EXPERIMENTS + describe)
    found = client.query_record_list(record_text="random_forest")
    assert [(m[0], m[1]) for m in found] == [("experiment_results", 0)]
    name, index, start, descs, procs = client.query_record_list(
        record_text="accuracy", description_text="experiment", code_text="xgboost"
    )[0]
    assert (name, index, start, descs, procs) == (
        "experiment_results", 0, 0, ["BASE"], [["evaluate_run", 0]]
    )  # fmt: skip
    assert (
        len(client.query_record_list(record_text="xgboost", filtered=["experiment_results"])) == 1
    )
    assert client.query_record_list(record_text="xgboost", filtered=["other"]) == []
    assert len(client.query_record_list(filtered=[])) == 2


def test_process_list_queries_with_description_embedding(client, redis_url, namespace):
    for name, text, vec in (
        ("training_session_1", "training pipeline for images", [1.0, 0.0]),
        ("training_session_2", "an unrelated note", [0.0, 1.0]),
    ):
        scenario(
            redis_url,
            namespace,
            name,
            f"""
            vault.create_description({name!r}, {text!r}, {vec!r})
        """,
        )
    query_vector = [0.9, 0.1]
    results = client.query_process_list(description_embedding=query_vector)
    assert [r[0] for r in results] == ["training_session_1", "training_session_2"]  # ranked
    assert all(len(r) == 5 for r in results)
    both = client.query_process_list(
        description_embedding=query_vector, description_text="training pipeline"
    )
    assert [r[0] for r in both][0] == "training_session_1"
    assert client.query_process_list(filtered=[]) == client.query_process_list()
    only = client.query_process_list(
        code_text="create_description", filtered=["training_session_2"]
    )
    assert [r[0] for r in only] == ["training_session_2"]


def test_item_names_and_types(client, redis_url, namespace):
    scenario(redis_url, namespace, "namer", EXPERIMENTS)
    assert client.query_item_names("process_list") == ["namer"]
    assert client.query_item_names("record_list") == ["experiment_results"]
    assert client.query_item_names("process") == ["namer"]  # ours, kept as an alias
    assert client.query_item_type("namer") == "process_list"
    assert client.query_item_type("experiment_results") == "record_list"
    assert client.query_item_type("missing") is None


def test_errors_carry_code_operation_and_key(client):
    with pytest.raises(NotFoundError) as e:
        client.query_item_list("missing_item")
    assert (e.value.code, e.value.operation, e.value.key) == (
        "not_found", "query_item_list", "missing_item"
    )  # fmt: skip
    with pytest.raises(ValidationError) as v:
        client.query_item_content("missing_item", index="x")  # type: ignore[arg-type]
    assert v.value.code == "validation_error" and v.value.operation == "query_item_content"
    assert isinstance(v.value, TableVaultError)
    assert e.value.collection is None  # the original's attribute, kept when given
    made = NotFoundError("gone", operation="query_item_list", collection="items", key="x")
    assert (made.code, made.operation, made.collection, made.key) == (
        "not_found", "query_item_list", "items", "x"
    )  # fmt: skip


def test_second_vault_with_other_settings_is_a_runtime_error(redis_url, namespace):
    body = """
        try:
            Vault(user_id="researcher", process_name="another",
                  namespace=os.environ["TEST_NAMESPACE"])
        except RuntimeError as e:
            print(json.dumps([type(e).__name__, e.code]))
    """
    assert scenario(redis_url, namespace, "singleton", body) == ["VaultExistsError", "vault_exists"]


TUTORIAL = """
import hashlib, json, os
from tablevault_redis import Vault

# The tutorial's Vault(...), its Arango settings left in: ignored here, with a warning.
vault = Vault(
    user_id="tutorial_user",
    process_name="document_pipeline",
    arango_url="http://localhost:8529",
    arango_db="tutorial_db",
    new_arango_db=False,
    arango_root_password="rootpassword",
    description_embedding_size=48,
    namespace=os.environ["TEST_NAMESPACE"],
)

def get_embedding(text):
    h = hashlib.sha384(text.encode()).digest()
    return [float(b) / 255.0 for b in h]

documents = [
    "Machine learning is a subset of artificial intelligence.",
    "Neural networks are inspired by biological neurons.",
    "Deep learning has revolutionized computer vision.",
    "Transformers have changed natural language processing.",
]
vault.create_record_list("research_papers", column_names=["text"])
vault.create_record_list("paper_metadata", column_names=["title", "author", "chunk_id"])
for idx, doc in enumerate(documents):
    vault.append_record("research_papers", {"text": doc})
    vault.append_record(
        "paper_embeddings",
        {"embedding": get_embedding(doc)},
        input_items={"research_papers": [idx, idx + 1]},
    )
    vault.append_record("paper_metadata", {
        "title": f"Paper Section {idx + 1}", "author": "Tutorial Author", "chunk_id": idx
    })
    vault.checkpoint_execution()
vault.create_description(
    "research_papers",
    description="Collection of machine learning research paper excerpts",
    embedding=get_embedding("machine learning research papers"),
)
vault.create_description(
    "paper_embeddings",
    description="Vector embeddings of research paper text chunks",
    embedding=get_embedding("document embeddings vectors"),
)
vault.create_description("document_pipeline", "the tutorial pipeline", get_embedding("pipeline"))
for i in range(3):
    vault.append_record("iteration_results", {"i": i, "ok": True})
    vault.checkpoint_execution()
print(json.dumps({
    "all_docs": vault.query_item_content("research_papers"),
    "first_doc": vault.query_item_content("research_papers", index=0),
    "metadata": vault.query_item_list("research_papers"),
    "parents": vault.query_item_parent("paper_embeddings"),
    "children": vault.query_item_child("research_papers"),
    "first_source": vault.query_item_parent("paper_embeddings", start_position=0, end_position=1),
    "filtered": vault.query_record_list(
        record_text="neural networks", description_text="research paper",
        code_text="append_record",
    ),
    "creation": vault.query_item_creation_process("research_papers"),
    "items": vault.query_process_item("document_pipeline"),
    "by_words": vault.query_description("research paper"),
    "by_embedding": vault.query_description_embedding(get_embedding("pipeline"), k=2),
}))
"""


def test_tutorial_with_the_original_vault_arguments(client, redis_url, namespace):
    """The original's Basic Example (its document and embedding lists as record
    lists), its Vault(...) arguments unchanged but for the namespace."""
    r = run_python(TUTORIAL, redis_url, namespace)
    assert r.returncode == 0, r.stderr
    assert "arango_db, arango_root_password, arango_url ignored" in r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert [d["text"] for d in out["all_docs"]][1].startswith("Neural networks")
    assert out["first_doc"] == {"text": "Machine learning is a subset of artificial intelligence."}
    assert (out["metadata"]["n_items"], out["metadata"]["column_names"]) == (4, ["text"])
    assert out["parents"][0] == [0, 1, "record_list", "research_papers", 0, 1]
    assert len(out["parents"]) == len(out["children"]) == 4
    assert out["children"][3] == [3, 4, "record_list", "paper_embeddings", 3, 4]
    assert out["first_source"] == [[0, 1, "record_list", "research_papers", 0, 1]]
    assert out["filtered"] == [["research_papers", 1, 1, ["BASE"], [["document_pipeline", 0]]]]
    assert out["creation"] == [{"process_id": "process_list/document_pipeline", "index": 0}]
    names = {row["name"] for row in out["items"]}
    assert {"research_papers", "paper_embeddings", "paper_metadata", "iteration_results"} <= names
    assert out["by_words"] == [  # by item name
        ["BASE", "Vector embeddings of research paper text chunks", "paper_embeddings",
         "record_list"],
        ["BASE", "Collection of machine learning research paper excerpts", "research_papers",
         "record_list"],
    ]  # fmt: skip
    assert out["by_embedding"][0] == [
        "BASE", "the tutorial pipeline", "document_pipeline", "process_list"
    ]  # fmt: skip
    assert len(out["by_embedding"]) == 2
    # How far the run got, from the command line.
    shown = Cli(redis_url, namespace).ok(
        "records", "iteration_results", "--process", "document_pipeline", "--json"
    )
    assert json.loads(shown) == [{"i": i, "ok": True} for i in range(3)]


def test_setup_full_initialization_and_singleton(redis_url, namespace):
    """The original's setup page: every Vault argument, then the singleton rules."""
    code = """
import json, os
from tablevault_redis import Vault
ns = os.environ["TEST_NAMESPACE"]
vault1 = Vault(
    user_id="user1",
    process_name="process1",
    parent_process_name="",
    parent_process_index=0,
    arango_url="http://localhost:8529",
    arango_db="tablevault",
    arango_username="tablevault_user",
    arango_password="tablevault_password",
    new_arango_db=True,
    arango_root_username="root",
    arango_root_password="passwd",
    description_embedding_size=1024,
    log_file_location="~/.tablevault/logs/",
    is_experiment=True,
    namespace=ns,
)
vault2 = Vault(user_id="user1", process_name="process1", namespace=ns)
assert vault1 is vault2
try:
    Vault(user_id="user1", process_name="process2", namespace=ns)
except RuntimeError as e:
    print(json.dumps([type(e).__name__, vault1.query_item_names("process_list")]))
"""
    r = run_python(code, redis_url, namespace)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == ["VaultExistsError", ["process1"]]


# -- the four deliberate differences ---------------------------------------------------


def test_difference_stop_runs_finally_and_exits_cleanly(spawner, client, redis_url, namespace):
    """Original: the process is terminated. Here: ExecutionStopped at the checkpoint."""
    worker = spawner.worker(redis_url, namespace, "slow_experiment").wait_ready()
    worker.advancing()
    assert client.query_item_content("slow_experiment", index=0)["status"] == "start"  # running
    client.stop_execution("slow_experiment", wait=True, timeout=10)
    assert worker.wait_exit() == 0
    assert "finally" in worker.markers()
    assert client.query_item_content("slow_experiment", index=0)["status"] == "stopped"


def test_difference_pause_is_cooperative(spawner, client, redis_url, namespace):
    """Original: SIGSTOP. Here: the process waits in its checkpoint, alive and visible."""
    worker = spawner.worker(redis_url, namespace, "data_pipeline").wait_ready()
    worker.advancing()
    client.pause_execution("data_pipeline", wait=True, timeout=10)
    info = client.get_process("data_pipeline")
    assert info.status == "paused" and info.alive
    client.resume_execution("data_pipeline", wait=True, timeout=10)
    worker.advancing()
    client.stop_execution("data_pipeline", wait=True, timeout=10)
    assert worker.wait_exit() == 0


def test_difference_stop_overrides_a_pause(spawner, client, redis_url, namespace):
    """Original: a pending request blocks any other (ConflictError). Here: stop wins."""
    worker = spawner.worker(redis_url, namespace, "paused_one").wait_ready()
    client.pause_execution("paused_one", wait=True, timeout=10)
    client.stop_execution("paused_one", wait=True, timeout=10)
    assert worker.wait_exit() == 0
    assert client.get_process("paused_one").status == "stopped"


def test_difference_a_name_is_reused_once_ended(client, redis_url, namespace):
    """Original: names are unique forever. Here: a new run of an ended process."""
    scenario(redis_url, namespace, "nightly", "x = 'first run'\n")
    scenario(redis_url, namespace, "nightly", "x = 'second run'\n")
    assert client.get_process("nightly").run == 2
    texts = [c["text"] for c in client.query_item_content("nightly")]
    assert "first run" in texts[0] and "second run" in texts[1]
    wait_until(lambda: client.get_process("nightly").status == "completed")
