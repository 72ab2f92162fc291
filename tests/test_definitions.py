import pytest
from conftest import all_definitions

pytestmark = pytest.mark.integration

SOURCES = ("arena", "epoch_hub", "epoch_models", "lm_eval", "obsscaling", "open_llm_v1", "open_llm_v2", "safetywashing")
LATEST = ("arena", "epoch_hub", "epoch_models")  # the sources with a `latest` address
EXPECTED_ASSETS = {
    *(f"snapshots/{s}" for s in SOURCES),
    *(f"fetch/{s}" for s in LATEST),
    "raw/snapshots",
    "raw/snapshots_missing",
    *(f"raw/{s}__{t}" for s in SOURCES for t in ("scores", "models", "benchmarks")),
    "seeds/benchmark_taxonomy",
    *(f"staging/stg_{s}__{t}" for s in SOURCES for t in ("scores", "models", "benchmarks")),
    "marts/scores",
    "marts/scores_latest",
    "marts/models",
    "marts/benchmarks",
    "marts/snapshots",
    "marts/snapshots_missing",
    "marts/capabilities_scores",
    "marts/capabilities_components",
    "marts/capabilities_skipped",
    "marts/analyses",
    "marts/benchmark_correlations",
    "marts/correlation_history",
    "marts/safety_residuals",
    "marts/model_identity",
    "marts/unmatched_models",
    "seeds/model_aliases",
    "warehouse/published",
    "exports/report",
}


def test_exact_asset_keys_jobs_and_schedules():
    defs = all_definitions()
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == EXPECTED_ASSETS
    assert {j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__")} == {
        "refresh",
        *(f"snapshots_{s}" for s in SOURCES),
    }
    assert {s.name: s.cron_schedule for s in defs.schedules} == {"daily_refresh": "0 6 * * *"}
    assert [s.name for s in defs.sensors] == ["pinned_snapshots"]
    assert (
        defs.resolve_job_def("refresh").executor_def.name == "safetywash_executor"
    )  # in_process | multiprocess | celery
    # "Materialize all" (the implicit asset job) runs in-process, like `refresh`
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "in_process"


def test_every_step_is_in_the_writer_pool_and_checks_block_publishing():
    from dagster import AssetKey

    from assets.warehouse import WRITER_POOL

    defs = all_definitions()
    job = defs.resolve_implicit_global_asset_job_def()
    pools = {op.name: op.pool for op in job.graph.iterate_op_defs()}
    # the snapshot backfills write only content-addressed files (raw and landed stores): no pool, they run apart
    assert {name for name, pool in pools.items() if pool is None} == {f"snapshots__{s}" for s in SOURCES}
    assert {name for name in pools if name.startswith("land")} == {"land", *(f"land_{s}" for s in SOURCES)}
    assert len(pools) == 37 and {pool for pool in pools.values() if pool} == {WRITER_POOL}  # one writing run at a time
    graph = defs.resolve_asset_graph()
    checks = [k for k in graph.asset_check_keys if k.asset_key.to_user_string() == "marts/benchmark_correlations"]
    assert len(checks) == 3 and all(graph.get_check_spec(k).blocking for k in checks)
    assert "marts/benchmark_correlations" in {
        k.to_user_string() for k in graph.get(AssetKey.from_user_string("warehouse/published")).parent_keys
    }


def test_lineage_runs_fetch_raw_dbt_analysis():
    graph = all_definitions().resolve_asset_graph()
    from dagster import AssetKey

    def parents(key):
        return {p.to_user_string() for p in graph.get(AssetKey.from_user_string(key)).parent_keys}

    # each source lands in its own step, once `land` has decided that something is new (raw/snapshots_missing)
    assert parents("raw/safetywashing__scores") == {"snapshots/safetywashing", "raw/snapshots_missing"}
    assert parents("raw/arena__scores") == {"snapshots/arena", "fetch/arena", "raw/snapshots_missing"}
    assert parents("raw/snapshots") == {f"raw/{s}__{t}" for s in SOURCES for t in ("scores", "models", "benchmarks")}
    assert parents("staging/stg_safetywashing__scores") == {"raw/safetywashing__scores"}
    assert parents("staging/stg_arena__scores") == {"raw/arena__scores", "raw/arena__benchmarks"}
    assert parents("marts/scores_latest") == {"marts/scores"}
    assert parents("marts/benchmarks") == {
        "marts/scores",
        "seeds/benchmark_taxonomy",
        *(f"staging/stg_{s}__benchmarks" for s in SOURCES),
    }
    assert "marts/capabilities_scores" in parents("marts/benchmark_correlations")
    assert parents("exports/report") == {"warehouse/published"}  # the report reads the published version only


def test_bootstrap_runs_as_separate_steps():
    graph = all_definitions().resolve_job_def("refresh").graph
    node = graph.node_named("marts__benchmark_correlations")
    assert {n.name for n in node.definition.nodes} == {
        "plan_bootstrap",
        "bootstrap_chunk",
        "plan_summaries",
        "summarize_analysis",
        "write_correlations",
    }
    assert node.definition.node_named("plan_bootstrap").definition.output_defs[0].is_dynamic
    assert node.definition.node_named("plan_summaries").definition.output_defs[0].is_dynamic  # one step per analysis


def test_dbt_tests_are_asset_checks():
    graph = all_definitions().resolve_asset_graph()
    checks = {f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys}
    assert (
        "marts/scores:unique_combination_scores_source__snapshot__source_file__model_set__model_id__benchmark" in checks
    )
    assert "marts/benchmark_correlations:correlations_in_range" in checks
    assert "marts/benchmark_correlations:intervals_consistent" in checks
    assert len([c for c in checks if c.startswith(("marts/", "staging/", "seeds/"))]) >= 30


def test_the_sensor_backfills_the_sources_missing_pinned_snapshots(tmp_path, monkeypatch):
    import dagster as dg

    from conftest import backfill
    from orchestration.schedules import pinned_snapshots

    monkeypatch.setenv("SAFETYWASH_WAREHOUSE", str(tmp_path))
    requests = pinned_snapshots(dg.build_sensor_context())
    assert sorted(r.job_name for r in requests) == sorted(f"snapshots_{s}" for s in SOURCES)
    arena = next(r for r in requests if r.job_name == "snapshots_arena")
    assert (arena.tags["dagster/asset_partition_range_start"], arena.tags["dagster/asset_partition_range_end"]) == (
        "2024-06-19_3792cf00e845",
        "2025-08-06_e964e252a171",
    )  # every partition, in one run
    assert backfill(tmp_path, "lm_eval").success
    again = pinned_snapshots(dg.build_sensor_context())
    assert "snapshots_lm_eval" not in {r.job_name for r in again} and len(again) == len(SOURCES) - 1


def test_groups_match_the_key_prefixes_and_every_asset_has_an_owner():
    """In the UI each group is one layer: `marts/*` in group marts, `raw/*` in raw, and so on."""
    graph = all_definitions().resolve_asset_graph()
    wrong = {
        k.to_user_string(): graph.get(k).group_name
        for k in graph.get_all_asset_keys()
        if graph.get(k).group_name != k.path[0]
    }
    assert wrong == {}
    for key in graph.get_all_asset_keys():
        assert graph.get(key).owners == ["team:safetywash"] and graph.get(key).tags["layer"] == key.path[0]


def test_every_check_says_what_it_asserts():
    """The UI shows each check's description ("No description provided" before): dbt tests included."""
    from orchestration.dbt import dbt_models

    specs = [*dbt_models.check_specs]
    assert len(specs) >= 30 and all(s.description for s in specs)
    assert "dbt test: marts/snapshots.content_id is never null" in {s.description for s in specs}


def test_every_source_has_a_freshness_policy():
    """Each `fetch/<source>` (the sources with a `latest` address; pinned-only ones never change) warns after
    26 hours without a fetch and fails after 48 (the schedule runs daily)."""
    from datetime import timedelta

    from assets.sources import REGISTRY

    graph = all_definitions().resolve_asset_graph()
    fetches = [k for k in graph.get_all_asset_keys() if k.path[0] == "fetch"]
    assert sorted(k.path[1] for k in fetches) == sorted(name for name, reg in REGISTRY.items() if reg.latest)
    for key in fetches:
        policy = graph.get(key).freshness_policy
        assert (policy.fail_window.to_timedelta(), policy.warn_window.to_timedelta()) == (
            timedelta(hours=48),
            timedelta(hours=26),
        )


def test_table_metadata_rounds_floats_for_display_and_keeps_every_column():
    import polars as pl

    from assets.metadata import table_metadata

    frame = pl.DataFrame(
        {"benchmark": ["a", "b"], "spearman": [0.123456789, -0.98765], "n": [3, 40000], "flop": [1.23456e24, None]}
    )
    shown = table_metadata(frame)
    rows = [r.data for r in shown.records]
    assert rows == [
        {"benchmark": "a", "spearman": 0.1235, "n": 3, "flop": 1.235e24},
        {"benchmark": "b", "spearman": -0.9877, "n": 40000, "flop": None},
    ]
    assert [c.name for c in shown.schema.columns] == ["benchmark", "spearman", "n", "flop"]


def test_the_run_config_keys_spelt_once_are_the_nodes_names():
    """`assets/settings.py` spells the configurable nodes' keys once; they are the refresh job's own node names,
    and a run config built from them is one the job accepts."""
    from assets.settings import (
        BOOTSTRAP_OP,
        CAPABILITIES_OP,
        LAND_OP,
        BootstrapSettings,
        CapabilitiesSettings,
        ops_config,
    )

    job = all_definitions().resolve_job_def("refresh")
    assert {CAPABILITIES_OP, BOOTSTRAP_OP, LAND_OP} <= {node.name for node in job.graph.nodes}
    config = {"ops": ops_config(CapabilitiesSettings(method="sklearn"), BootstrapSettings(n_resamples=77), force=True)}
    import dagster as dg

    dg.validate_run_config(job, config)  # raises when the job refuses the config
    with pytest.raises(dg.DagsterInvalidConfigError, match="not_a_node"):
        dg.validate_run_config(job, {"ops": {**config["ops"], "not_a_node": {"config": {}}}})
