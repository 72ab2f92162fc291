"""The dbt models on small generated inputs, built by dbt itself into a temporary warehouse."""

import hashlib
import json

import pytest

from assets.registry import SourceFile
from assets.resources import Warehouse
from assets.landing import parse_snapshot, resolve_snapshots
from assets.sources import REGISTRY, prepare_raw, write_source
from assets.warehouse import query_frame
from orchestration.dbt import BUILD, dbt_resource, dbt_target

pytestmark = pytest.mark.integration

MATRIX = (
    "model,mmlu,wmdp_bio,mystery_metric,model_size,FLOP,name,type\n"
    "a,0.40,0.70,1.0,7e9,1e22,A,{set}\n"
    "b,0.55,,2.0,13e9,,B,{set}\n"
    "c,0.70,0.50,3.0,70e9,1e24,C,{set}\n"
)
INFO = "benchmark,name,metric\nmmlu,MMLU,Accuracy (↑)\nwmdp_bio,WMDP Bio,Score (↑)\n"
SHA = {f"{s}.csv": hashlib.sha256(MATRIX.format(set=s).encode()).hexdigest() for s in ("base", "chat")}
# an lm-eval results file with a fraction metric where higher is better, one where lower is better
# (Brier score, a fraction: 1 - v), and an unbounded one (-v) where lower is better (word perplexity): directions from the file
LM_EVAL = json.dumps(
    {
        "results": {
            "arc_easy": {"acc,none": 0.75, "acc_stderr,none": 0.01, "brier_score,none": 0.2},
            "wikitext": {"word_perplexity,none": 12.5},
        },
        "higher_is_better": {"arc_easy": {"acc": True, "brier_score": False}, "wikitext": {"word_perplexity": False}},
        "n-shot": {"arc_easy": 0, "wikitext": 0},
        "config": {"model_args": "pretrained=org/tiny-model", "model_num_parameters": 1000},
    }
).encode()


def land_small(root, duplicate=False):
    """Land three small generated files as one snapshot of `safetywashing` and write the raw tables of a new
    candidate, which it returns."""
    files = (
        SourceFile("base.csv", "https://h/base.csv", "matrix", model_set="base"),
        SourceFile("chat.csv", "https://h/chat.csv", "matrix", model_set="chat"),
        SourceFile("info.csv", "https://h/info.csv", "info"),
    )
    data = {
        "base.csv": MATRIX.format(set="base").encode(),
        "chat.csv": MATRIX.format(set="chat").encode(),
        "info.csv": INFO.encode(),
    }
    wh = Warehouse(directory=str(root))
    parsed = parse_snapshot("safetywashing_csv", "safetywashing", [(f, data[f.name]) for f in files])
    manifest = {
        "files": [
            {"name": f.name, "url": f.url, "sha256": f"sha-{f.name}", "bytes": 1, "stored_path": "-"} for f in files
        ],
        "first_seen": {"snapshot": "snap1", "date": "2024-01-01T00:00:00+00:00", "urls": []},
        "via": "test",
        "parsed_at": "2024-01-01T00:00:00+00:00",
    }
    wh.landed.write("safetywashing", "small", manifest, parsed)
    lm_file = SourceFile("results.json", "https://h/results.json", "data")
    wh.landed.write(
        "lm_eval",
        "small",
        {**manifest, "files": [], "first_seen": {**manifest["first_seen"], "snapshot": "run1"}},
        parse_snapshot("lm_eval_json", "lm_eval", [(lm_file, LM_EVAL)]),
    )
    candidate = wh.store.candidate("test")
    with candidate.connect() as con:
        resolved = {name: resolve_snapshots(REGISTRY[name], wh.landed) for name in ("safetywashing", "lm_eval")}
        prepare_raw(con, wh.landed, resolved)
        for name, rows in resolved.items():
            write_source(con, REGISTRY[name], wh.landed, rows)
        if duplicate:
            con.execute("insert into raw.safetywashing__scores select * from raw.safetywashing__scores limit 1")
    return candidate


def dbt_build(candidate):
    """The refresh's dbt build, with dbt's debug log file, which a refresh does not write (the parse test reads it)."""
    with dbt_target(candidate) as target:
        return (
            dbt_resource().cli([*BUILD, "--log-level-file", "debug"], target_path=target, raise_on_error=False).wait()
        )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    candidate = land_small(tmp_path_factory.mktemp("small"))
    assert dbt_build(candidate).is_successful()
    return candidate


def test_scores_keep_missing_cells_with_provenance(built):
    with built.connect(read_only=True) as con:
        rows = con.execute(
            "select model_set, model_id, benchmark, value, source_sha256, snapshot from marts.scores "
            "where benchmark = 'wmdp_bio' and source = 'safetywashing' order by model_set, model_id"
        ).fetchall()
    assert rows == [
        ("base", "a", "wmdp_bio", 0.70, SHA["base.csv"], "snap1"),
        ("base", "b", "wmdp_bio", None, SHA["base.csv"], "snap1"),
        ("base", "c", "wmdp_bio", 0.50, SHA["base.csv"], "snap1"),
        ("chat", "a", "wmdp_bio", 0.70, SHA["chat.csv"], "snap1"),
        ("chat", "b", "wmdp_bio", None, SHA["chat.csv"], "snap1"),
        ("chat", "c", "wmdp_bio", 0.50, SHA["chat.csv"], "snap1"),
    ]


def test_staging_orients_every_score_from_the_file_directions(built):
    with built.connect(read_only=True) as con:
        rows = con.execute(
            "select benchmark, scale, higher_is_better, published_value, value, stderr, snapshot, snapshot_date "
            "from marts.scores where source = 'lm_eval' order by benchmark"
        ).fetchall()
    import datetime

    day = datetime.date(2024, 1, 1)
    assert rows == [
        ("arc_easy/acc", "fraction", True, 0.75, 0.75, 0.01, "run1", day),
        ("arc_easy/brier_score", "fraction", False, 0.2, 1 - 0.2, None, "run1", day),  # 1 - Brier, as the paper
        ("wikitext/word_perplexity", "score", False, 12.5, -12.5, None, "run1", day),
    ]


def test_benchmarks_join_taxonomy_and_count_values(built):
    with built.connect(read_only=True) as con:
        frame = query_frame(con, "select * from marts.benchmarks where source = 'safetywashing' order by benchmark")
    assert frame.select(
        "benchmark", "display_name", "area", "is_capability_input", "is_known", "n_values", "n_missing"
    ).rows() == [
        ("mmlu", "MMLU", "capabilities", True, True, 6, 0),
        ("mystery_metric", None, None, False, False, 6, 0),  # neither the source's list nor the taxonomy has it
        ("wmdp_bio", "WMDP Bio", "weaponization", False, True, 4, 2),
    ]
    assert frame["model_sets"].unique().to_list() == ["base,chat"]


def test_models_attributes(built):
    with built.connect(read_only=True) as con:
        rows = con.execute(
            "select model_id, parameters, training_flop, model_type from marts.models where model_set='chat' order by 1"
        ).fetchall()
    assert rows == [("a", 7e9, 1e22, "chat"), ("b", 13e9, None, "chat"), ("c", 70e9, 1e24, "chat")]


def test_marts_carry_their_descriptions(built):
    with built.connect(read_only=True) as con:
        comment = con.execute(
            "select comment from duckdb_tables() where schema_name='marts' and table_name='scores'"
        ).fetchone()[0]
    assert comment.strip().startswith("Every benchmark score of every snapshot of every source in long form")


def test_a_build_in_a_new_warehouse_parses_the_project_partially(built):
    """The profile keeps the candidate's path out of dbt's partial-parse check: a new warehouse's first build
    starts from the project's ``sql/target/partial_parse.msgpack`` and parses nothing again."""
    events = [
        json.loads(line)["info"]["name"] for line in (built.work_dir / "dbt" / "dbt.log").read_text().splitlines()
    ]
    assert "PartialParsingSkipParsing" in events and "UnableToPartialParse" not in events


def test_duplicate_cells_fail_the_unique_test(tmp_path):
    candidate = land_small(tmp_path, duplicate=True)
    invocation = dbt_build(candidate)
    assert not invocation.is_successful()
    results = invocation.get_artifact("run_results.json")["results"]
    failed = {r["unique_id"].split(".")[2] for r in results if r["status"] == "fail"}
    assert "unique_combination_stg_safetywashing__scores_snapshot__model_set__model_id__benchmark" in failed
    with candidate.connect(read_only=True) as con:
        # dbt build stops downstream of a failed test: the mart is never built from bad staging data
        assert (
            con.execute(
                "select count(*) from duckdb_tables() where schema_name='marts' and table_name='scores'"
            ).fetchone()[0]
            == 0
        )
