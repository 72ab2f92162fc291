"""The dbt models on small generated inputs, built by dbt itself into a temporary warehouse."""

import pytest

from assets.resources import Warehouse
from assets.sources import LANDERS, Source, SourceFile
from assets.warehouse import query_frame, replace_tables
from orchestration.dbt import dbt_resource, dbt_target

MATRIX = (
    "model,mmlu,wmdp_bio,mystery_metric,model_size,FLOP,name,type\n"
    "a,0.40,0.70,1.0,7e9,1e22,A,{set}\n"
    "b,0.55,,2.0,13e9,,B,{set}\n"
    "c,0.70,0.50,3.0,70e9,1e24,C,{set}\n"
)
INFO = "benchmark,name,metric\nmmlu,MMLU,Accuracy (↑)\nwmdp_bio,WMDP Bio,Score (↑)\n"


def land_small(root, duplicate=False):
    source = Source("safetywashing", "small", "safetywashing_csv", "snap1", "MIT", (
        SourceFile("base.csv", "https://h/base.csv", "matrix", model_set="base"),
        SourceFile("chat.csv", "https://h/chat.csv", "matrix", model_set="chat"),
        SourceFile("info.csv", "https://h/info.csv", "info"),
    ))
    data = {
        "base.csv": MATRIX.format(set="base").encode(),
        "chat.csv": MATRIX.format(set="chat").encode(),
        "info.csv": INFO.encode(),
    }
    tables = LANDERS["safetywashing_csv"](source, {f.name: (f, data[f.name], f"sha-{f.name}") for f in source.files}).tables
    if duplicate:
        tables["scores"] = tables["scores"].vstack(tables["scores"].head(1))
    wh = Warehouse(directory=str(root))
    candidate = wh.store.candidate("test")
    with candidate.connect() as con:
        replace_tables(con, {f"raw.safetywashing__{name}": (frame, "test") for name, frame in tables.items()})
    return wh, candidate


def dbt_build(wh, candidate):
    with dbt_target(wh, candidate) as target:
        return dbt_resource().cli(["build"], target_path=target, raise_on_error=False).wait()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    wh, candidate = land_small(tmp_path_factory.mktemp("small"))
    assert dbt_build(wh, candidate).is_successful()
    return candidate


def test_scores_keep_missing_cells_with_provenance(built):
    with built.connect(read_only=True) as con:
        rows = con.execute(
            "select model_set, model_id, benchmark, value, source_sha256, snapshot from marts.scores "
            "where benchmark = 'wmdp_bio' order by model_set, model_id"
        ).fetchall()
    assert rows == [
        ("base", "a", "wmdp_bio", 0.70, "sha-base.csv", "snap1"),
        ("base", "b", "wmdp_bio", None, "sha-base.csv", "snap1"),
        ("base", "c", "wmdp_bio", 0.50, "sha-base.csv", "snap1"),
        ("chat", "a", "wmdp_bio", 0.70, "sha-chat.csv", "snap1"),
        ("chat", "b", "wmdp_bio", None, "sha-chat.csv", "snap1"),
        ("chat", "c", "wmdp_bio", 0.50, "sha-chat.csv", "snap1"),
    ]


def test_benchmarks_join_taxonomy_and_count_values(built):
    with built.connect(read_only=True) as con:
        frame = query_frame(con, "select * from marts.benchmarks order by benchmark")
    assert frame.select("benchmark", "display_name", "area", "is_capability_input", "is_known", "n_values", "n_missing").rows() == [
        ("mmlu", "MMLU", "capabilities", True, True, 6, 0),
        ("mystery_metric", None, None, False, False, 6, 0),  # neither the source's list nor the taxonomy has it
        ("wmdp_bio", "WMDP Bio", "weaponization", False, True, 4, 2),
    ]
    assert frame["model_sets"].unique().to_list() == ["base,chat"]


def test_models_attributes(built):
    with built.connect(read_only=True) as con:
        rows = con.execute("select model_id, parameters, training_flop, model_type from marts.models where model_set='chat' order by 1").fetchall()
    assert rows == [("a", 7e9, 1e22, "chat"), ("b", 13e9, None, "chat"), ("c", 70e9, 1e24, "chat")]


def test_marts_carry_their_descriptions(built):
    with built.connect(read_only=True) as con:
        comment = con.execute("select comment from duckdb_tables() where schema_name='marts' and table_name='scores'").fetchone()[0]
    assert comment.strip().startswith("Every benchmark score of every source in long form")


def test_duplicate_cells_fail_the_unique_test(tmp_path):
    wh, candidate = land_small(tmp_path, duplicate=True)
    invocation = dbt_build(wh, candidate)
    assert not invocation.is_successful()
    results = invocation.get_artifact("run_results.json")["results"]
    failed = {r["unique_id"].split(".")[2] for r in results if r["status"] == "fail"}
    assert "unique_combination_stg_safetywashing__scores_model_set__model_id__benchmark" in failed
    with candidate.connect(read_only=True) as con:
        # dbt build stops downstream of a failed test: the mart is never built from bad staging data
        assert con.execute("select count(*) from duckdb_tables() where schema_name='marts' and table_name='scores'").fetchone()[0] == 0
