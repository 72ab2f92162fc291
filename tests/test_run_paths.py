"""Every run path is the same product: runs launched through Dagster as the UI launches them, the CLI
beside them, "Materialize all", re-execution from failure, and a dbt test that fails on new data."""

import pytest
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime

import dagster as dg
import yaml
from typer.testing import CliRunner

from assets.report import write_report
from assets.resources import Warehouse
from assets.settings import BootstrapSettings, CapabilitiesSettings
from assets.landing import pinned_content_id
from assets.sources import REGISTRY
from assets.warehouse import Store, writer_lock
from orchestration.cli import app
from conftest import (
    MIRROR,
    PROJECT,
    SW_DATA,
    backfill,
    land_as_own_snapshot,
    materialize_all,
    paper_only_analyses,
    paper_score_cells,
)
from test_publish import published_marts, refresh_cli

pytestmark = pytest.mark.system


def refresh_job():
    from orchestration.definitions import defs

    return defs.resolve_job_def("refresh")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ASSET_GRAPH = "{ assetNodes { assetKey { path } dependencyKeys { path } } }"
LAUNCHPAD_DEFAULTS = """{ runConfigSchemaOrError(selector: {repositoryLocationName: "safetywash",
    repositoryName: "__repository__", pipelineName: "refresh"}) { __typename ... on RunConfigSchema { rootDefaultYaml } } }"""
LINEAGE = [
    "fetch/arena",
    "raw/arena__scores",
    "staging/stg_arena__scores",
    "marts/scores",
    "marts/capabilities_scores",
    "marts/benchmark_correlations",
    "warehouse/published",
    "exports/report",
]
BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL_RUNS = """query($id: String!) { runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status } } } }"""
LATEST_REPORT = """{ assetOrError(assetKey: {path: ["exports", "report"]}) {
    ... on Asset { assetMaterializations(limit: 1) { runId } } } }"""


def ended(status: str) -> bool:
    return status in ("SUCCESS", "FAILURE", "CANCELED")


ASSETS_SEEN = """{ assetNodes { assetKey { path } jobNames isPartitioned
    assetMaterializations(limit: 1) { runId metadataEntries { label __typename } }
    assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } }"""
RUNS = "{ runsOrError { ... on Runs { results { runId jobName status } } } }"


def start_ui(root, port, env):
    """`safetywash ui` as from a terminal (SIGINT handled: a shell's background job would ignore it), once it answers."""
    from dagster_graphql import DagsterGraphQLClient

    server = subprocess.Popen(
        [sys.executable, "-m", "orchestration", "ui", "--warehouse", str(root), "--port", str(port)],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    deadline = time.monotonic() + 120
    while True:
        try:
            client._execute("{ version }")
            return server, client
        except Exception:
            assert server.poll() is None and time.monotonic() < deadline, "safetywash ui did not start"
            time.sleep(1)


def stop_ui(server) -> None:
    os.killpg(server.pid, signal.SIGINT)  # as Ctrl-C in the terminal that runs it
    try:
        assert server.wait(timeout=120) == 0  # it shut down on SIGINT, its webserver and daemon with it
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        raise


def test_the_ui_shows_the_cli_history_queues_runs_and_materializes_all(tmp_path):
    """After a CLI refresh, `safetywash ui` shows its run, every asset's materialization with metadata and the checks;
    UI runs queue one at a time and the CLI waits its turn; "Materialize all" (the UI's backfill of every asset and
    partition) rebuilds and succeeds; once the UI stops, the warehouse's Dagster instance (the one the UI reads when
    started again) still holds every run."""
    root, port = tmp_path / "warehouse", free_port()
    # the paper's analyses, each asking for 400 resamples: "Materialize all" runs with the default B (10,000)
    analyses = paper_only_analyses(tmp_path / "analyses.toml", resamples=400)
    cli_env = {"DAGSTER_HOME": None, "SAFETYWASH_MIRROR": str(MIRROR), "SAFETYWASH_ANALYSES": str(analyses)}
    env = {k: v for k, v in {**os.environ, **cli_env}.items() if v is not None}  # the default home: <warehouse>/dagster
    # the CLI in this process (as in test_end_to_end): one interpreter start fewer than a subprocess, same code
    cold = CliRunner().invoke(app, ["refresh", "--warehouse", str(root), "--quiet", "--resamples", "400"], env=cli_env)
    assert cold.exit_code == 0, cold.output
    server, client = start_ui(root, port, env)
    try:
        assert (root / "dagster" / "dagster.yaml").read_text() == (PROJECT / "dagster.yaml").read_text()
        cli_runs = client._execute(RUNS)["runsOrError"]["results"]
        (cli_run,) = [r["runId"] for r in cli_runs if r["jobName"] == "refresh"]
        assert {r["status"] for r in cli_runs} == {"SUCCESS"}
        nodes = client._execute(ASSETS_SEEN)["assetNodes"]
        refresh_assets = {"/".join(n["assetKey"]["path"]): n for n in nodes if "refresh" in n["jobNames"]}
        assert len(refresh_assets) > 60
        unseen = [k for k, n in refresh_assets.items() if not n["assetMaterializations"]]
        assert not unseen  # every asset the CLI's refresh job materialized, as the UI shows it
        latest = refresh_assets["marts/benchmark_correlations"]["assetMaterializations"][0]
        assert latest["runId"] == cli_run
        assert {"TableMetadataEntry", "TableSchemaMetadataEntry"} <= {
            e["__typename"] for e in latest["metadataEntries"]
        }
        checks = [c for n in refresh_assets.values() for c in (n["assetChecksOrError"] or {}).get("checks", [])]
        assert len(checks) > 20 and all(c["executionForLatestMaterialization"] for c in checks)
        # the asset graph as the UI draws it: fetch -> dbt staging -> marts -> capabilities -> correlations -> publish
        nodes = client._execute(ASSET_GRAPH)["assetNodes"]
        parents = {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
        for upstream, downstream in zip(LINEAGE, LINEAGE[1:]):
            assert upstream in parents[downstream], (upstream, downstream)
        # the Launchpad's scaffolded config shows the bootstrap and capabilities settings with their defaults
        launchpad = client._execute(LAUNCHPAD_DEFAULTS)["runConfigSchemaOrError"]
        assert launchpad["__typename"] == "RunConfigSchema", launchpad
        scaffold = yaml.safe_load(launchpad["rootDefaultYaml"])
        defaults = scaffold["ops"]
        assert defaults["marts__benchmark_correlations"]["config"] == BootstrapSettings().model_dump()
        assert defaults["capabilities"]["config"] == CapabilitiesSettings().model_dump()
        assert scaffold["resources"]["warehouse"]["config"]["directory"] == str(root)  # the folder a run writes
        # two runs as the Launchpad launches them, at once, with its settings: each finds nothing new in its turn
        # (the CLI's --force and settings reach a run as the same run config: test_end_to_end)
        settings = {"marts__benchmark_correlations": {"config": {"n_resamples": 400}}}
        with writer_lock(root, wait=False):  # another writer holds the warehouse: the first run waits for it
            runs = [client.submit_job_execution("refresh", run_config={"ops": settings}) for _ in range(2)]
            deadline = time.monotonic() + 300
            while (status := client.get_run_status(runs[0]).value) != "STARTED":
                assert time.monotonic() < deadline and not ended(status), status
                time.sleep(0.5)
            assert client.get_run_status(runs[1]).value == "QUEUED"  # waits in Dagster's queue
            # "Materialize all": the UI's request for every asset of the graph, every partition. Launched now, its
            # runs queue behind the two above; the backfill daemon's 30 s ticks pass while they run
            everything = [{"path": n["assetKey"]["path"]} for n in nodes]
            launched = client._execute(BACKFILL, {"params": {"assetSelection": everything, "allPartitions": True}})[
                "launchPartitionBackfill"
            ]
            assert launched["__typename"] == "LaunchBackfillSuccess", launched
        # the UI runs' settings: once its turn comes the CLI finds nothing new (the wait is what is tested). It
        # takes the warehouse's lock as the second UI run lets it go: the backfill's partition runs (which write
        # no version) are queued behind that run, and its run of the other assets starts a tick after them
        cli = CliRunner().invoke(app, refresh_cli(root, "--quiet", "--wait", "--resamples", "400"), env=cli_env)
        assert cli.exit_code == 0, cli.output
        assert "nothing was rebuilt" in cli.stdout, cli.output
        deadline = time.monotonic() + 600
        statuses = []
        while len(statuses) < 2 or not all(map(ended, statuses)):
            time.sleep(2)
            statuses = [client.get_run_status(r).value for r in runs]
            assert time.monotonic() < deadline
        assert statuses == ["SUCCESS", "SUCCESS"]
        # the backfill's runs, until its last (the report's) has ended: the backfill's own status follows on the
        # daemon's next 30 s tick, which a user watching the runs need not wait for
        while True:
            backfill_runs = {
                r["runId"]: r["status"]
                for r in client._execute(BACKFILL_RUNS, {"id": launched["backfillId"]})["runsOrError"]["results"]
            }
            report = client._execute(LATEST_REPORT)["assetOrError"]["assetMaterializations"]
            if report and report[0]["runId"] in backfill_runs and all(map(ended, backfill_runs.values())):
                break
            assert time.monotonic() < deadline + 600, backfill_runs
            time.sleep(3)  # two queries of the webserver a poll; its runs take a minute or two
        seen = {"/".join(n["assetKey"]["path"]): n for n in client._execute(ASSETS_SEEN)["assetNodes"]}
        assert set(backfill_runs.values()) == {"SUCCESS"}, backfill_runs
        rebuilt = {
            k
            for k, n in seen.items()
            if n["assetMaterializations"] and n["assetMaterializations"][0]["runId"] in backfill_runs
        }
        assert {"marts/benchmark_correlations", "warehouse/published", "exports/report"} <= rebuilt
        assert {k for k, n in seen.items() if n["isPartitioned"]} <= rebuilt  # every source's pinned snapshots
    finally:
        stop_ui(server)
    with dg.DagsterInstance.from_config(str(root / "dagster")) as instance:  # what `safetywash ui` reads on a restart
        listed = {run.run_id for run in instance.get_runs()}
    assert {cli_run, *runs} <= listed and set(backfill_runs) <= listed
    arena = {pinned_content_id(snap) for snap in REGISTRY["arena"].snapshots}  # two commits hold the same bytes
    assert set(Warehouse(directory=str(root)).landed.content_ids("arena")) == arena and len(arena) == 92
    versions = Store(root).versions()
    # the cold CLI refresh and "Materialize all" (the two UI runs and the waiting CLI found nothing new)
    assert cli_run in {v["run_id"] for v in versions} and len(versions) == 2
    windows = sorted(
        (datetime.fromisoformat(v["building_started_at"]), datetime.fromisoformat(v["published_at"])) for v in versions
    )
    assert all(earlier[1] <= later[0] for earlier, later in zip(windows, windows[1:]))  # one writer at a time
    with dg.DagsterInstance.from_config(str(root / "dagster")) as instance:
        assert any("waiting for the warehouse" in (e.message or "") for e in instance.all_logs(runs[0]))
        first, second = (instance.get_run_record_by_id(r) for r in runs)
        assert first.end_time <= second.start_time  # one run at a time
        logs = instance.all_logs(runs[1])
        assert any(
            "in process" in (e.message or "") for e in logs if e.dagster_event and e.dagster_event.is_engine_event
        )
        assert not any("multiprocess" in (e.message or "").lower() for e in logs)


def test_reexecution_from_failure_continues_the_run_and_reuses_bootstrap_chunks(tmp_path, monkeypatch, refreshed):
    import assets.benchmark_correlations

    root = tmp_path / "warehouse"
    run_config = {
        "resources": {"warehouse": {"config": {"directory": str(root)}}, "fetcher": {"config": {"mirror": str(MIRROR)}}}
    }
    real = assets.benchmark_correlations.correlation_table

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure")

    (tmp_path / "home").mkdir()
    assert backfill(root, "safetywashing").success  # the pinned paper data, landed before the refresh job
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        monkeypatch.setattr(assets.benchmark_correlations, "correlation_table", broken)
        first = dg.execute_job(dg.reconstructable(refresh_job), instance, run_config=run_config)
        assert not first.success
        failed = [e.step_key for e in first.all_events if e.is_step_failure]
        assert failed == [
            f"marts__benchmark_correlations.summarize_analysis[safetywashing_{a}]" for a in ("base", "chat")
        ]
        assert Store(root).current_version() is None and (root / "candidate" / "work" / "bootstrap").is_dir()
        monkeypatch.setattr(assets.benchmark_correlations, "correlation_table", real)
        options = dg.ReexecutionOptions.from_failure(first.run_id, instance)
        second = dg.execute_job(
            dg.reconstructable(refresh_job), instance, run_config=run_config, reexecution_options=options
        )
        assert second.success
        ran = {e.step_key for e in second.all_events if e.is_step_success}
    assert not any("bootstrap_chunk" in key or "fetch" in key for key in ran)
    assert "warehouse__published" in ran and Store(root).versions()[0]["run_id"] == second.run_id
    assert published_marts(root)["benchmark_correlations"].equals(published_marts(refreshed)["benchmark_correlations"])
    assert not (root / "candidate").exists()


def flop_out_of_range_mirror(tmp_path):
    """The mirror with one chat model's training FLOP made 1e31: parseable, but outside the dbt test's range."""
    mirror = tmp_path / "mirror"
    rel = SW_DATA.relative_to(MIRROR)
    shutil.copytree(SW_DATA, mirror / rel)
    path = mirror / rel / "benchmarks_chat_models.csv"
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    rows[1][rows[0].index("FLOP")] = "1e31"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return mirror


def test_failing_dbt_test_on_new_data_fails_the_refresh_and_publishes_nothing(warehouse_copy, tmp_path):
    version, marts = Store(warehouse_copy).current_version(), published_marts(warehouse_copy)
    assert land_as_own_snapshot(warehouse_copy, flop_out_of_range_mirror(tmp_path)).success  # a new snapshot
    result = materialize_all(warehouse_copy, sources=())
    assert not result.success
    assert [e.step_key for e in result.all_events if e.is_step_failure] == ["dbt_models"]
    failed_checks = {
        e.asset_check_evaluation_data.check_name
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.asset_check_evaluation_data.passed
    }
    assert failed_checks == {
        "accepted_range_models_training_flop__1e30__1e15",
        "accepted_range_models_training_flop__1e30__0",
    }
    assert not result.asset_materializations_for_node("warehouse__published")
    assert Store(warehouse_copy).current_version() == version
    assert all(frame.equals(marts[t]) for t, frame in published_marts(warehouse_copy).items())
    # the report reads the published version, never the failed run's candidate (which holds the 1e31 FLOP)
    with Store(warehouse_copy).candidate(result.run_id).connect(read_only=True) as con:
        assert con.execute("select max(training_flop) from marts.models").fetchall()[0][0] == 1e31
    report = write_report(Store(warehouse_copy), tmp_path / "report")
    page = report.path.read_text()
    assert report.version == version and version in page and "1e+31" not in page and "1e31" not in page


def test_a_warehouse_from_before_the_lake_is_migrated_losing_nothing(refreshed, tmp_path):
    """Today's layout before the lake: versions/<id>/ (DuckDB 2.0 file, Parquet), `current` and the fixed links,
    beside the raw files and landed snapshots. Readers are told what to do; the next refresh moves the versions,
    byte for byte, to legacy/ and rebuilds the lake from the raw files."""
    import hashlib

    root = tmp_path / "old"
    shutil.copytree(refreshed / "raw", root / "raw")
    shutil.copytree(refreshed / "landed", root / "landed")
    version = root / "versions" / "20261128T101010.000000Z-0badc0de"
    (version / "parquet").mkdir(parents=True)
    (version / "safetywash.duckdb").write_bytes(b"DUCK" * 1000)  # stands for a DuckDB 2.0 file (1.5 cannot open it)
    (version / "parquet" / "scores.parquet").write_bytes(b"PAR1" * 10)
    (version / "version.json").write_text('{"version": "20261128T101010.000000Z-0badc0de"}')
    os.symlink("versions/20261128T101010.000000Z-0badc0de", root / "current")
    os.symlink("current/safetywash.duckdb", root / "safetywash.duckdb")
    os.symlink("current/parquet", root / "parquet")
    digests = {
        p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).parts[0] not in ("current", "parquet", "safetywash.duckdb")
    }
    runner = CliRunner()
    read = runner.invoke(app, ["sql", "select 1", "--warehouse", str(root)])
    assert (
        read.exit_code == 2
        and "written before the lake" in read.output
        and "`safetywash refresh` moves them" in read.output
    )
    out = runner.invoke(
        app,
        [
            "refresh",
            "--warehouse",
            str(root),
            "--mirror",
            str(MIRROR),
            "--source",
            "safetywashing",
            "--resamples",
            "200",
        ],
    )
    assert out.exit_code == 0, out.output
    [legacy] = (root / "legacy").iterdir()
    assert f"its versions (DuckDB 2.0 files) moved, whole, to {legacy}" in out.output
    for path, digest in digests.items():  # every file kept, byte for byte: the old versions moved, the rest in place
        moved = legacy / path if path.parts[0] == "versions" else root / path
        assert hashlib.sha256(moved.read_bytes()).hexdigest() == digest, path
    assert os.readlink(legacy / "current") == "versions/20261128T101010.000000Z-0badc0de"
    assert (
        published_marts(root)["scores"].height == paper_score_cells()
        and "DuckDB 2.0" in (legacy / "README.txt").read_text()
    )
