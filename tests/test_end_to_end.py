"""Every asset materialized from the mirror into a temporary warehouse, checked against the paper."""

import hashlib
import re
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from typer.testing import CliRunner

from assets.registry import Registered
from assets.resources import Fetcher, Warehouse
from assets.sources import REGISTRY, build_fetch_asset
from assets.warehouse import Store, query_frame
from conftest import LIGHT_CLI, MIRROR, PROJECT, SW_DATA, heavy_imports, refresh
from orchestration.cli import app

pytestmark = pytest.mark.integration

PAPER = REGISTRY["safetywashing"].snapshots[-1]


def table(root, sql):
    with Store(root).read() as con:
        return query_frame(con, sql)


def spearman(root, model_set, benchmark, versus="capabilities"):
    frame = table(
        root,
        f"""select spearman from marts.benchmark_correlations where source='safetywashing'
                            and model_set='{model_set}' and benchmark='{benchmark}' and versus='{versus}'""",
    )
    assert frame.height == 1
    return frame["spearman"][0]


@pytest.mark.parametrize("model_set, published", [("base", 0.783), ("chat", 0.708)])
def test_variance_explained_matches_paper(refreshed, model_set, published):
    assert table(refreshed, f"select analysis from marts.analyses where model_set = '{model_set}'")[
        "analysis"
    ].to_list() == [f"safetywashing_{model_set}"]
    frame = table(
        refreshed,
        f"select distinct variance_explained, n_models from marts.capabilities_components where model_set='{model_set}'",
    )
    assert frame.height == 1
    assert round(frame["variance_explained"][0], 3) == published


def test_published_capabilities_correlations(refreshed):
    assert round(spearman(refreshed, "chat", "MT_Bench"), 3) == 0.787
    assert round(spearman(refreshed, "chat", "wmdp_bio"), 3) == -0.875


def test_loo_is_lower_than_inclusive_for_capability_inputs(refreshed):
    frame = table(
        refreshed,
        """select a.model_set, a.benchmark, a.spearman as inclusive, b.spearman as loo
                                from marts.benchmark_correlations a join marts.benchmark_correlations b using (source, model_set, benchmark)
                                where a.versus='capabilities' and b.versus='capabilities_loo'""",
    )
    assert frame.height == 24
    assert (frame["loo"] < frame["inclusive"]).sum() >= 20  # including a benchmark in its own score inflates it


def test_every_benchmark_has_each_comparison_and_provenance(refreshed):
    frame = table(refreshed, "select * from marts.benchmark_correlations")
    counts = dict(frame.group_by("versus").len().iter_rows())
    n_bench = table(
        refreshed,
        "select count(*) n from (select distinct model_set, benchmark from marts.scores "
        "where source = 'safetywashing')",
    )["n"][0]
    assert counts["capabilities"] == counts["compute"] == n_bench
    assert counts["capabilities_loo"] == 24 and counts["accuracy"] == 24  # 12 calibration metrics per model set
    index = dict(line.split("\t")[:2] for line in (MIRROR / "INDEX.tsv").read_text().splitlines()[1:])
    for model_set in ("base", "chat"):
        url = next(f.url for f in PAPER.files if f.model_set == model_set)
        shas = frame.filter(pl.col("model_set") == model_set)["source_sha256"].unique().to_list()
        assert shas == [index[url]]
    assert frame["snapshot"].unique().to_list() == [PAPER.id]
    assert frame.filter(pl.col("spearman").is_not_null())["spearman"].abs().max() <= 1


def test_accuracy_comparison_uses_same_task(refreshed):
    import numpy as np
    from scipy import stats

    wide = table(refreshed, "select model_id, benchmark, value from marts.scores where model_set='chat'").pivot(
        on="benchmark", index="model_id", values="value"
    )
    expected = stats.spearmanr(wide["brier_mmlu"].to_numpy(), wide["mmlu"].to_numpy(), nan_policy="omit").statistic
    assert spearman(refreshed, "chat", "brier_mmlu", "accuracy") == pytest.approx(expected, abs=1e-12)
    assert np.isfinite(expected)


def test_fetch_log_raw_files_and_a_plain_duckdb_client(refreshed):
    log = table(refreshed, "select * from raw.fetch_log")
    assert sorted(log["file"].to_list()) == sorted(f.name for f in PAPER.files)
    for row in log.iter_rows(named=True):
        path = refreshed / "raw" / "safetywashing" / f"{row['sha256']}.csv"
        assert row["stored_path"] == f"raw/safetywashing/{row['sha256']}.csv"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
        assert row["bytes"] == path.stat().st_size
    # the README's plain-DuckDB way: the ducklake and sqlite extensions (installed from their wheels) and one ATTACH
    import duckdb

    from assets.lake import extension_dir

    with duckdb.connect(config={"extension_directory": str(extension_dir())}) as con:
        con.execute(f"attach 'ducklake:sqlite:{refreshed}/lake/catalog.sqlite' as sw (read_only)")
        for name in (
            "scores",
            "models",
            "benchmarks",
            "capabilities_scores",
            "capabilities_components",
            "benchmark_correlations",
        ):
            plain = pl.from_arrow(con.sql(f"select * from sw.marts.{name}").to_arrow_table())
            assert plain.height > 0 and plain.equals(table(refreshed, f"select * from marts.{name}"))
        files = con.sql("select data_file from ducklake_list_files('sw', 'scores', schema => 'marts')").fetchall()
        assert files and all(f.endswith(".parquet") and f.startswith(f"{refreshed}/lake/data/") for (f,) in files)
    notebook = Store(refreshed).open()  # the README's one line of this project's
    try:
        assert notebook.sql("select * from marts.scores").pl().equals(table(refreshed, "select * from marts.scores"))
        assert notebook.sql("select version from meta.version").fetchone()[0] == Store(refreshed).current_version()
    finally:
        notebook.close()


def test_missing_values_are_counted_not_dropped(refreshed):
    n_empty = 0
    for model_set in ("base", "chat"):
        import csv

        with open(SW_DATA / f"benchmarks_{model_set}_models.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        keep = [i for i, c in enumerate(rows[0]) if c not in ("model", "model_size", "FLOP", "name", "type")]
        n_empty += sum(r[i] == "" for r in rows[1:] for i in keep)
    assert (
        table(refreshed, "select count(*) - count(value) n from marts.scores where source = 'safetywashing'")["n"][0]
        == n_empty
    )


def broken_mirror(tmp_path, truncate_at=40_000):
    mirror = tmp_path / "mirror"
    rel = SW_DATA.relative_to(MIRROR)
    shutil.copytree(SW_DATA, mirror / rel)
    target = mirror / rel / "benchmarks_chat_models.csv"
    target.write_bytes(target.read_bytes()[:truncate_at])
    return mirror


def test_truncated_pinned_file_lands_nothing_and_publishes_nothing(tmp_path):
    outcome = refresh(tmp_path / "warehouse", mirror=broken_mirror(tmp_path))
    assert outcome.failed_sources == ["safetywashing"]
    [error] = outcome.sources["safetywashing"].errors
    assert error.startswith(
        f"source 'safetywashing', snapshot {PAPER.id} ({PAPER.date[:10]}), file 'benchmarks_chat_models.csv': sha256 "
    )
    assert "differs from the pinned" in error
    assert Warehouse(directory=str(tmp_path / "warehouse")).landed.content_ids("safetywashing") == []
    assert outcome.job.success and not outcome.published  # nothing new: nothing to publish
    assert Store(tmp_path / "warehouse").current_version() is None


def forget_landed(root):
    """Delete the landed snapshots of the paper's source, as if they had never been fetched."""
    shutil.rmtree(Warehouse(directory=str(root)).landed.root / "safetywashing")


def test_cli_reports_the_bad_file_keeps_the_last_good_snapshot_and_the_marts(warehouse_copy, tmp_path):
    before = table(warehouse_copy, "select * from marts.benchmark_correlations")
    version = Store(warehouse_copy).current_version()
    forget_landed(warehouse_copy)
    out = CliRunner().invoke(
        app,
        [
            "refresh",
            "--warehouse",
            str(warehouse_copy),
            "--mirror",
            str(broken_mirror(tmp_path)),
            "--quiet",
            "--source",
            "safetywashing",
        ],
    )
    assert out.exit_code == 3, out.output
    # the landed store was emptied: this was the source's only snapshot (the published version still holds it)
    assert (
        f"FAILED (this snapshot is not landed; nor is any other of this source): source 'safetywashing', snapshot "
        f"{PAPER.id} ({PAPER.date[:10]}), file 'benchmarks_chat_models.csv': sha256"
    ) in out.output
    assert (
        f"error: 1 source(s) had failures: safetywashing (1 snapshot(s) not landed); version {version} stays current"
    ) in out.output
    assert Store(warehouse_copy).current_version() == version
    assert table(warehouse_copy, "select * from marts.benchmark_correlations").equals(before)


def test_latest_file_truncated_fails_its_check_naming_the_line(tmp_path):
    url = REGISTRY["arena"].latest[0]
    mirror = tmp_path / "mirror"
    target = mirror / url.removeprefix("https://")
    target.parent.mkdir(parents=True)
    good = (MIRROR / url.removeprefix("https://")).read_bytes()
    target.write_bytes(good[: good.index(b"\n", 5000) + 20])  # stops inside a row
    registered = Registered("arena", "arena", "arena_csv", "MPL-2.0", (url,), ())
    warehouse = Warehouse(directory=str(tmp_path / "warehouse"))
    result = dg.materialize(
        [build_fetch_asset(registered)],
        raise_on_error=False,
        resources={"warehouse": warehouse, "fetcher": Fetcher(mirror=str(mirror))},
    )
    assert result.success  # the source failed, not the run: the others still publish
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    [failed] = check.metadata["failed"].value
    assert failed["error"].startswith("source 'arena', file 'lmarena_text.csv', line ")
    assert warehouse.landed.content_ids("arena") == []


def test_an_address_the_mirror_does_not_hold_passes_its_check_and_is_listed(tmp_path):
    """The CLI calls it `not_mirrored` (neutral): the UI's check agrees, and names the address."""
    registered = REGISTRY["epoch_hub"]
    assert not (MIRROR / registered.latest[0].removeprefix("https://")).exists()
    result = dg.materialize(
        [build_fetch_asset(registered)],
        resources={
            "warehouse": Warehouse(directory=str(tmp_path / "warehouse")),
            "fetcher": Fetcher(mirror=str(MIRROR)),
        },
    )
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["failed"].value == []
    [unmirrored] = check.metadata["not_mirrored"].value
    assert unmirrored["url"] == registered.latest[0] and unmirrored["status"] == "not_mirrored"
    assert check.description == unmirrored["error"] and "mirror" in unmirrored["error"]


def test_cli_sql_formats_and_read_only(refreshed):
    runner = CliRunner()
    q = "select benchmark, round(spearman, 3) as rho from marts.benchmark_correlations where model_set='chat' and versus='capabilities' and benchmark in ('MT_Bench','wmdp_bio') order by rho"
    out = runner.invoke(app, ["sql", q, "--warehouse", str(refreshed), "--format", "csv"])
    assert out.exit_code == 0, out.output
    assert out.output == "benchmark,rho\nwmdp_bio,-0.875\nMT_Bench,0.787\n"
    out = runner.invoke(app, ["sql", q, "--warehouse", str(refreshed), "-f", "json"])
    assert '"rho": 0.787' in out.output
    out = runner.invoke(app, ["sql", "create table marts.x as select 1", "--warehouse", str(refreshed)])
    assert out.exit_code == 1 and "read-only" in out.output.lower()
    out = runner.invoke(app, ["tables", "--warehouse", str(refreshed)])
    assert (
        "marts.benchmark_correlations(analysis, source, model_set, benchmark, area, versus, n_models, spearman, ci_low, ci_high"
        in out.output
    )


def latest_metadata(home: Path, key: str) -> dict:
    """The metadata of ``key``'s latest materialization, as the UI reads it from the Dagster instance at ``home``."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(key))
    return event.asset_materialization.metadata


def test_intervals_filled_with_bootstrap_provenance(refreshed_run):
    root, home = refreshed_run
    frame = table(root, "select * from marts.benchmark_correlations")
    defined = frame.filter(pl.col("spearman").is_not_null())
    assert defined["ci_low"].null_count() == 0 and defined["p_value"].null_count() == 0
    assert (defined["ci_low"] <= defined["ci_high"]).all()
    assert set(frame["n_resamples"]) == {10_000} and set(frame["bootstrap_seed"]) == {0}
    assert set(frame["confidence_level"]) == {0.95} and set(frame["ci_method"].drop_nulls()) <= {"bca", "percentile"}
    mt = frame.filter(model_set="chat", benchmark="MT_Bench", versus="capabilities").row(0, named=True)
    assert mt["ci_low"] < 0.787 < mt["ci_high"] and mt["ci_low"] > 0.3 and mt["p_value"] < 0.01
    assert frame["n_degenerate"].sum() > 0  # e.g. drop_em takes 4 values: some resamples make it constant
    metadata = latest_metadata(home, "marts/benchmark_correlations")
    assert metadata["bootstrap_resamples"].value == 10_000 and metadata["bootstrap_seed"].value == 0
    assert metadata["ci_method"].value == "bca" and metadata["confidence_level"].value == 0.95
    assert sorted(p.name for p in root.iterdir()) == [".refresh.lock", "lake", "landed", "raw", "report"]
    assert (root / "lake" / "catalog.sqlite").is_file() and (root / "lake" / "data").is_dir()  # no candidate left


def test_cli_refresh_flags_reach_the_bootstrap_and_a_repeat_rebuilds_nothing(warehouse_copy):
    runner = CliRunner()
    args = [
        "refresh",
        "--warehouse",
        str(warehouse_copy),
        "--mirror",
        str(MIRROR),
        "--resamples",
        "300",
        "--seed",
        "5",
        "--ci-method",
        "percentile",
        "--confidence-level",
        "0.9",
        "--source",
        "safetywashing",
    ]
    first = runner.invoke(app, args)  # no new snapshot, but other settings than the published version's: rebuilt
    assert first.exit_code == 0, first.output
    assert "settings differ from the published version's" in first.output
    assert "bootstrap: B=300, seed=5, percentile 90% intervals" in first.output
    # the default output: a progress line (steps done of total, elapsed, current step), the log in the file it names
    progress = re.findall(r"^\[\s*(\d+)/(\d+)\s*\]\s+[\d.]+ s\s+(\S+)$", first.stderr, re.MULTILINE)
    assert progress and progress[-1][0] == progress[-1][1] and int(progress[-1][1]) >= 10 and progress[-1][2] == "done"
    log = Path(re.search(r"^log: (.+)$", first.stderr, re.MULTILINE).group(1))
    assert log.parent == warehouse_copy / "logs"
    step_log = " - marts__benchmark_correlations.write_correlations - "  # its log lines (the progress line may name it)
    assert "Running with dbt=" in log.read_text() and step_log in log.read_text()
    assert "Running with dbt=" not in first.output and step_log not in first.output
    assert f"report: {(warehouse_copy / 'report' / 'report.html').as_uri()}" in first.stdout
    from assets.analyses import ANALYSES_FILE, ANALYSES_TAG
    from orchestration.instance import dagster_home

    with dg.DagsterInstance.from_config(str(dagster_home(warehouse_copy))) as instance:
        (run,) = instance.get_runs(dg.RunsFilter(job_name="refresh"))
    assert run.tags[ANALYSES_TAG] == hashlib.sha256(ANALYSES_FILE.read_bytes()).hexdigest()  # what the steps check
    version = Store(warehouse_copy).current_version()
    assert "nothing was rebuilt" in runner.invoke(app, args).output  # same settings, same snapshots
    assert Store(warehouse_copy).current_version() == version
    rows = table(
        warehouse_copy,
        "select distinct n_resamples, bootstrap_seed, ci_method, confidence_level from marts.benchmark_correlations where ci_method is not null",
    )
    assert rows.rows() == [(300, 5, "percentile", 0.9)]


def test_second_writer_is_refused_at_once_with_a_clear_message(tmp_path):
    import subprocess
    import sys

    from assets.warehouse import writer_lock

    with writer_lock(tmp_path, wait=False):
        out = subprocess.run(
            [sys.executable, "-c", LIGHT_CLI, "refresh", "--warehouse", str(tmp_path)],
            capture_output=True,
            text=True,
            cwd=PROJECT,
        )
    assert out.returncode == 2
    stderr, heavy = heavy_imports(out.stderr)
    assert re.fullmatch(
        rf"error: another refresh \(pid \d+ since .*\) is writing the warehouse {tmp_path}; "
        r"wait for it, or run again with --wait\n",
        stderr,
    )
    assert heavy == []  # refused before the heavy imports


USER_ANALYSIS = """
[[analyses]]
name = "chat_two_inputs"
description = "Chat models scored on MMLU and WinoGrande only."
source = "safetywashing"
model_set = "chat"
capability_inputs = ["mmlu", "winogrande"]
targets = {targets}
"""


def test_a_user_analysis_from_the_config_file_against_scipy(warehouse_copy, tmp_path):
    import numpy as np
    from scipy import stats

    from assets.analyses import ANALYSES_FILE, load_analyses

    path = tmp_path / "analyses.toml"
    path.write_text(ANALYSES_FILE.read_text() + USER_ANALYSIS.format(targets='["MT_Bench", "wmdp_bio"]'))
    args = [
        "refresh",
        "--warehouse",
        str(warehouse_copy),
        "--mirror",
        str(MIRROR),
        "--source",
        "safetywashing",
        "--analyses",
        str(path),
        "--verbose",
    ]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "the analyses file differs from the published version's: rebuilding the analyses" in out.output
    # --verbose: the step and dbt log on the console instead of the progress line and the log file
    assert "Running with dbt=" in out.output and " - marts__benchmark_correlations.write_correlations - " in out.output
    assert not re.search(r"^\[\s*\d+/", out.output, re.MULTILINE) and "log: " not in out.output
    described = table(warehouse_copy, "select analysis, status from marts.analyses order by 1")
    assert described["analysis"].to_list() == sorted(
        ["chat_two_inputs", *(a.name for a in load_analyses(ANALYSES_FILE))]
    )
    fitted = described.filter(pl.col("status") == "fitted")["analysis"].to_list()
    assert fitted == [
        "chat_two_inputs",
        "safetywashing_base",
        "safetywashing_chat",
    ]  # the others' sources are not fetched here
    got = table(
        warehouse_copy,
        "select benchmark, versus, spearman from marts.benchmark_correlations "
        "where analysis = 'chat_two_inputs' and versus = 'capabilities' order by benchmark",
    )
    assert got["benchmark"].to_list() == ["MT_Bench", "mmlu", "winogrande", "wmdp_bio"]  # targets and inputs
    frame = pl.read_csv(SW_DATA / "benchmarks_chat_models.csv")
    z = [(frame[c] - frame[c].mean()) / frame[c].std(ddof=0) for c in ("mmlu", "winogrande")]
    # two inputs: PC1 of their Spearman matrix is (1, 1)/sqrt(2), so the score ranks as the sum of z-scores
    score = (z[0] + z[1]).to_numpy()
    for bench in ("MT_Bench", "wmdp_bio"):
        y = frame[bench].to_numpy().astype(float)
        keep = ~np.isnan(y)
        expected = stats.spearmanr(y[keep], score[keep]).statistic
        assert got.filter(benchmark=bench)["spearman"][0] == pytest.approx(expected, abs=1e-12)


def test_an_analysis_naming_an_unknown_benchmark_fails_naming_it(warehouse_copy, tmp_path):
    from assets.analyses import ANALYSES_FILE

    path = tmp_path / "analyses.toml"
    path.write_text(ANALYSES_FILE.read_text() + USER_ANALYSIS.format(targets='["MT_Bench", "mt_bench_typo"]'))
    version = Store(warehouse_copy).current_version()
    out = CliRunner().invoke(
        app,
        [
            "refresh",
            "--warehouse",
            str(warehouse_copy),
            "--mirror",
            str(MIRROR),
            "--quiet",
            "--source",
            "safetywashing",
            "--analyses",
            str(path),
        ],
    )
    assert out.exit_code == 1
    assert (
        "analysis 'chat_two_inputs': ['mt_bench_typo'] are not known benchmarks of source 'safetywashing' "
        "(model set 'chat') in the snapshots it reads"
    ) in out.output
    assert Store(warehouse_copy).current_version() == version


def test_a_step_reading_another_analyses_file_than_the_run_was_launched_with_fails(warehouse_copy, tmp_path):
    """As on a worker whose own $SAFETYWASH_ANALYSES differs from the launching CLI's: the run's tag names the
    launcher's file, the step reads another, and it fails before computing anything."""
    from assets.analyses import ANALYSES_FILE, ANALYSES_TAG
    from orchestration.definitions import defs

    launched = tmp_path / "analyses.toml"
    launched.write_text(ANALYSES_FILE.read_text() + USER_ANALYSIS.format(targets='["MT_Bench"]'))
    launched_sha256 = hashlib.sha256(launched.read_bytes()).hexdigest()
    version = Store(warehouse_copy).current_version()
    result = defs.resolve_job_def("refresh").execute_in_process(  # the capabilities steps alone: the check is first
        run_config={"resources": {"warehouse": {"config": {"directory": str(warehouse_copy)}}}},
        tags={ANALYSES_TAG: launched_sha256},
        asset_selection=[
            dg.AssetKey(["marts", t])
            for t in ("analyses", "capabilities_components", "capabilities_scores", "capabilities_skipped")
        ],
        raise_on_error=False,
    )
    failures = {e.step_key: e.step_failure_data.error.message for e in result.all_events if e.is_step_failure}
    assert list(failures) == ["capabilities.plan_capabilities"]
    here = hashlib.sha256(ANALYSES_FILE.read_bytes()).hexdigest()
    assert (
        f"this step reads the analyses file {ANALYSES_FILE} (sha256 {here[:12]}), but the run was launched with "
        f"another (sha256 {launched_sha256[:12]})"
    ) in failures["capabilities.plan_capabilities"]
    assert Store(warehouse_copy).current_version() == version


def test_exclude_models_leaves_them_out_counted_and_refuses_a_name_it_cannot_find(refreshed):
    from assets.analyses import Analysis, AnalysisError
    from assets.model_sets import load_model_sets

    base = {
        "name": "chat_less",
        "description": "x",
        "source": "safetywashing",
        "model_set": "chat",
        "capability_inputs": ["mmlu", "winogrande"],
        "targets": ["MT_Bench"],
    }
    with Store(refreshed).read(allow_files=True) as con:
        (every,) = load_model_sets(con, [Analysis(**base)])
        dropped = every.model_ids[:2]
        (fewer,) = load_model_sets(con, [Analysis(**base, exclude_models=dropped)])
        assert fewer.model_ids == every.model_ids[2:] and fewer.excluded == {"exclude_models": 2}
        with pytest.raises(
            AnalysisError,
            match=r"analysis 'chat_less': exclude_models names \['no/such-model'\], which "
            r"no snapshot it reads holds in its population \(source 'safetywashing'\)",
        ):
            load_model_sets(con, [Analysis(**base, exclude_models=[dropped[0], "no/such-model"])])


def test_safety_residuals_are_the_least_squares_line_of_each_safety_benchmark(refreshed):
    """`marts.safety_residuals` on the paper's chat models: WMDP-Bio against the published capabilities score,
    recomputed with scipy; only safety areas, each model once."""
    from scipy import stats

    got = table(
        refreshed,
        "select * from marts.safety_residuals where analysis = 'safetywashing_chat' and benchmark = 'wmdp_bio'",
    )
    pairs = table(
        refreshed,
        """select c.model_id, c.capabilities_score, s.value from marts.capabilities_scores c
        join marts.scores_latest s on s.source = c.source and s.model_set = c.model_set and s.model_id = c.model_id
        where c.analysis = 'safetywashing_chat' and s.benchmark = 'wmdp_bio' and s.value is not null
          and c.capabilities_score is not null order by c.model_id""",
    )
    ref = stats.linregress(pairs["capabilities_score"], pairs["value"])
    assert got.height == pairs.height == got["model_id"].n_unique()
    assert got["slope"][0] == pytest.approx(ref.slope, abs=1e-12) and got["area"][0] is not None
    expected = dict(zip(pairs["model_id"], ref.intercept + ref.slope * pairs["capabilities_score"].to_numpy()))
    for row in got.iter_rows(named=True):
        assert row["expected"] == pytest.approx(expected[row["model_id"]], abs=1e-12)
    areas = table(refreshed, "select distinct area from marts.safety_residuals")["area"].to_list()
    assert "capabilities" not in areas and "bias" in areas  # targets only: a null area is a target the taxonomy lacks
    inputs = table(
        refreshed,
        """select count(*) as n from marts.safety_residuals r join marts.analyses a using (analysis)
        where list_contains(a.capability_inputs, r.benchmark)""",
    )["n"][0]
    assert inputs == 0


def test_asset_metadata_is_dagster_tables_with_column_schemas(refreshed_run):
    """What the UI shows: tables as Dagster table metadata (every column, none cut off), and each Python mart's
    columns and types as `dagster/column_schema`, equal to the published table's."""
    root, home = refreshed_run
    metadata = latest_metadata(home, "marts/benchmark_correlations")
    lowest = metadata["lowest_capabilities_correlation"]
    assert isinstance(lowest, dg.TableMetadataValue)
    assert [c.name for c in lowest.schema.columns] == [
        "benchmark",
        "spearman",
        "ci_low",
        "ci_high",
        "analysis",
        "area",
        "n_models",
        "p_value",
    ]  # rho and its interval first
    assert len(lowest.records) == 10 and all(r.data["p_value"] is not None for r in lowest.records)
    for key in ("marts/benchmark_correlations", "marts/capabilities_scores", "marts/safety_residuals"):
        schema = latest_metadata(home, key)["dagster/column_schema"].schema
        published = table(root, f"select * from {key.replace('/', '.')} limit 0")
        assert [c.name for c in schema.columns] == published.columns


def test_populations_are_read_once_per_candidate_state_and_again_after_a_change(refreshed, tmp_path):
    """A step given the run's key reuses the populations an earlier step of the run read, as long as the marts
    they come from are unchanged; a write to `marts.scores` reads them anew, equal to a fresh read."""
    import numpy as np

    from assets import lake
    from assets.analyses import Analysis
    from assets.model_sets import _reused, load_model_sets

    analysis = Analysis(
        name="chat_reuse",
        description="x",
        source="safetywashing",
        model_set="chat",
        capability_inputs=["mmlu", "winogrande"],
        targets=["MT_Bench"],
    )
    scratch = lake.LakeAddress(str(tmp_path / "catalog.ducklake"), str(tmp_path / "data") + "/")
    published = Store(refreshed)
    snapshot = published.versions()[0]["snapshot_id"]
    with lake.session(
        (scratch, "candidate", {"create": True}),
        (published.lake, "sw", {"read_only": True, "snapshot": snapshot}),
        use="candidate",
    ) as con:
        lake.copy_tables(con, "sw", "candidate", [t for t in lake.lake_tables(con, "sw") if t[0] == "marts"])
        (first,) = load_model_sets(con, [analysis], run_key="run-a")
        held = len(_reused)
        (again,) = load_model_sets(con, [analysis], run_key="run-a")
        assert len(_reused) == held and again is not first  # a copy of the one read
        assert np.array_equal(again.values, first.values, equal_nan=True) and again.model_ids == first.model_ids
        con.execute(
            "update marts.scores set value = value + 1 where source = 'safetywashing' and benchmark = 'MT_Bench'"
        )
        (changed,) = load_model_sets(con, [analysis], run_key="run-a")
        (fresh,) = load_model_sets(con, [analysis])
        column = changed.benchmarks.index("MT_Bench")
        assert np.allclose(changed.values[:, column], first.values[:, column] + 1, equal_nan=True)
        assert np.array_equal(changed.values, fresh.values, equal_nan=True)
