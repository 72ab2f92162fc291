"""Every source in the mirror, refreshed cold, again with nothing new, with a new `latest` file, and with a
broken one: history kept snapshot by snapshot, nothing rebuilt when nothing changed, failures isolated."""

import csv
import hashlib
import io
import json
import os
import re
import shutil
from datetime import datetime, timezone

import polars as pl
import pytest
from typer.testing import CliRunner

from assets.model_keys import model_key
from assets.landing import pinned_content_id
from assets.sources import REGISTRY
from assets.warehouse import Store, query_frame
from conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    EVERY_SOURCE_B,
    EVERY_SOURCE_CONFIG,
    MIRROR,
    PROJECT,
    paper_only_analyses,
    paper_score_cells,
    refresh,
)
from orchestration.cli import app

pytestmark = pytest.mark.integration

ARENA_LATEST = REGISTRY["arena"].latest[0]
B = EVERY_SOURCE_B
FAST = EVERY_SOURCE_CONFIG
NEW_DAY = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def table(root, sql):
    with Store(root).read() as con:
        return query_frame(con, sql)


def mirror_path(mirror, url):
    return mirror / url.removeprefix("https://")


def linked_mirror(tmp_path):
    """The mirror as a tree of links, so a test can swap one file without copying the rest."""
    mirror = tmp_path / "mirror"
    shutil.copytree(MIRROR, mirror, copy_function=os.symlink)
    return mirror


def swap(mirror, url, data: bytes, when: datetime):
    path = mirror_path(mirror, url)
    path.unlink()
    path.write_bytes(data)
    os.utime(path, (when.timestamp(), when.timestamp()))


def edited_arena(data: bytes) -> tuple[bytes, str, float]:
    """The Arena file with its first model's score raised by 1: new content, same shape."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    col = rows[0].index("arena_score") if "arena_score" in rows[0] else rows[0].index("arena_elo")
    model = rows[1][rows[0].index("model")]
    rows[1][col] = str(float(rows[1][col]) + 1)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8"), model, float(rows[1][col])


@pytest.fixture(scope="module")
def runs(tmp_path_factory, every_source):
    """Four refreshes of one warehouse: cold (the session's), again, after `latest` changed, with `latest` broken."""
    tmp = tmp_path_factory.mktemp("sources")
    root, mirror = tmp / "warehouse", linked_mirror(tmp)
    out = {"root": root, "mirror": mirror, "cold": every_source["summary"]}
    out["cold_root"] = every_source["root"]  # every analysis, as the cold refresh published it
    shutil.copytree(out["cold_root"], root, symlinks=True, ignore=shutil.ignore_patterns(".refresh.lock"))
    out["cold_snapshots"] = table(root, "select * from marts.snapshots")
    out["cold_arena"] = table(root, "select * from marts.scores where source = 'arena' order by all")
    out["cold_marts"], out["cold_runs"] = analysis_state(root)
    # the forced run with a broken file tests failures: the paper's analyses are enough (and a third of the time)
    out.update(_later_runs(root, mirror, paper_only_analyses(tmp / "paper_analyses.toml")))
    return out


# the marts an analysis writes: kept row for row for the analyses whose inputs did not change
ANALYSIS_MARTS = (
    "capabilities_scores",
    "capabilities_components",
    "benchmark_correlations",
    "correlation_history",
    "safety_residuals",
)


def analysis_state(root) -> tuple[dict[str, pl.DataFrame], dict[str, str]]:
    """The analysis marts of the published version, sorted, and the run that computed each analysis."""
    marts = {t: table(root, f"select * from marts.{t} order by all") for t in ANALYSIS_MARTS}
    return marts, dict(table(root, "select analysis, computed_in_run from marts.analyses").iter_rows())


def _later_runs(root, mirror, analyses):
    out = {"again": refresh(root, mirror, FAST, sources=None)}
    original = mirror_path(MIRROR, ARENA_LATEST).read_bytes()
    data, model, score = edited_arena(original)
    swap(mirror, ARENA_LATEST, data, NEW_DAY)
    out["edited"] = (hashlib.sha256(data).hexdigest(), model, score)
    out["changed"] = refresh(root, mirror, FAST, sources=None)  # every analysis, the cold refresh's settings
    out["changed_snapshots"] = table(root, "select * from marts.snapshots")
    out["changed_marts"], out["changed_runs"] = analysis_state(root)
    swap(
        mirror, ARENA_LATEST, b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>\n", datetime.now(timezone.utc)
    )
    out["broken"] = CliRunner().invoke(
        app,
        [
            "refresh",
            "--warehouse",
            str(root),
            "--mirror",
            str(mirror),
            "--quiet",
            "--force",
            "--resamples",
            str(B),
            "--analyses",
            str(analyses),
        ],
    )
    return out


def test_cold_refresh_lands_every_distinct_snapshot_of_every_source(runs):
    assert runs["cold"]["success"] and runs["cold"]["published"] and not runs["cold"]["failed_sources"]
    counts = dict(runs["cold_snapshots"].group_by("source").len().iter_rows())
    latest = {
        name: hashlib.sha256(mirror_path(MIRROR, url).read_bytes()).hexdigest()
        for name, reg in REGISTRY.items()
        for url in reg.latest
        if mirror_path(MIRROR, url).is_file()
    }
    expected = {
        name: len({pinned_content_id(s) for s in reg.snapshots} | ({latest[name]} if name in latest else set()))
        for name, reg in REGISTRY.items()
    }
    assert counts == expected
    assert counts["arena"] == 92  # 93 pinned commits, two with the same bytes; `main` equals one of them


def test_arena_header_generations_give_one_row_per_model(runs):
    snaps = runs["cold_snapshots"].filter(pl.col("source") == "arena").sort("snapshot_at")
    for snap in (snaps.row(0, named=True), snaps.row(-1, named=True)):  # arena_elo (2024) and arena_score (2025)
        spec = next(s for s in REGISTRY["arena"].snapshots if s.id == snap["snapshot"])
        rows = list(csv.DictReader(io.StringIO(mirror_path(MIRROR, spec.files[0].url).read_text(encoding="utf-8"))))
        arena = runs["cold_arena"].filter(pl.col("snapshot") == snap["snapshot"], pl.col("benchmark") == "arena_score")
        # a row repeated but for its rank (Yi-34B-Chat, 2025-08) is one model, dropped once and counted
        distinct = {tuple(v for k, v in r.items() if k not in ("rank", "rank_stylectrl")) for r in rows}
        assert arena.height == len(distinct) == snap["n_models"]
        assert snap["duplicate_rows_dropped"] == len(rows) - len(distinct)
        column = "arena_score" if "arena_score" in rows[0] else "arena_elo"
        first = rows[0]
        assert arena.filter(pl.col("model_id") == first["model"])["value"].to_list() == [float(first[column])]


def test_scores_latest_holds_each_sources_newest_snapshot(runs):
    latest = table(runs["root"], "select source, snapshot, count(*) n from marts.scores_latest group by all")
    newest = runs["changed_snapshots"].filter(pl.col("is_latest"))
    assert dict(latest.select("source", "snapshot").iter_rows()) == {
        s: n for s, n in newest.select("source", "snapshot").iter_rows() if s != "epoch_models"
    }  # it has no scores
    assert latest["source"].n_unique() == latest.height  # one snapshot per source


def test_paper_figures_stand_beside_the_other_sources(runs):
    components = table(
        runs["cold_root"],
        "select distinct analysis, round(variance_explained, 3) v from marts.capabilities_components "
        "where analysis like 'safetywashing%' order by all",
    )
    assert components.rows() == [("safetywashing_base", 0.783), ("safetywashing_chat", 0.708)]
    skipped = table(runs["cold_root"], "select source, reason from marts.capabilities_skipped order by source")
    assert skipped.rows() == [("open_llm_v2", "no analysis in analyses.toml reads this source")]
    rho = table(
        runs["cold_root"],
        "select round(spearman, 3) r from marts.benchmark_correlations where model_set = 'chat' "
        "and benchmark = 'MT_Bench' and versus = 'capabilities'",
    )
    assert rho["r"].to_list() == [0.787]


def test_a_refresh_with_nothing_new_rebuilds_nothing(runs):
    again = runs["again"]
    assert again.success and not again.published and not again.backfills  # every pinned snapshot is landed
    materialized = {e.asset_key.to_user_string() for e in again.job.all_events if e.is_step_materialization}
    # the fetches themselves (a "304" from the mirror; not mirrored), nothing downstream of them
    assert materialized == {f"fetch/{name}" for name, reg in REGISTRY.items() if reg.latest}
    skipped = {e.step_key for e in again.job.all_events if e.event_type_value == "STEP_SKIPPED"}
    assert {
        "land_arena",
        "raw__snapshots",
        "dbt_models",
        "capabilities.plan_capabilities",
        "marts__benchmark_correlations.plan_bootstrap",
        "warehouse__published",
    } <= skipped
    assert again.sources["arena"].latest == ["unchanged"]


def test_a_changed_latest_file_adds_one_snapshot_and_keeps_the_old_ones(runs):
    sha, model, score = runs["edited"]
    assert runs["changed"].published and runs["changed"].sources["arena"].latest == ["new"]
    before, after = runs["cold_snapshots"], runs["changed_snapshots"]
    new = after.join(before, on=["source", "snapshot"], how="anti")
    assert new.select("source", "snapshot", "content_id", "snapshot_date", "pinned").rows() == [
        ("arena", f"2026-11-27_{sha[:12]}", sha, NEW_DAY.date(), False)
    ]  # dated by Last-Modified
    arena = table(
        runs["root"],
        "select * from marts.scores where source = 'arena' and snapshot in "
        f"(select snapshot from marts.snapshots where source = 'arena' and snapshot <> '2026-11-27_{sha[:12]}') order by all",
    )
    assert arena.equals(runs["cold_arena"])  # history kept row for row
    latest = table(
        runs["root"],
        f"select value from marts.scores_latest where source = 'arena' and model_id = '{model}' "
        "and benchmark = 'arena_score'",
    )
    assert latest["value"].to_list() == [score]


def test_a_broken_latest_file_keeps_the_last_good_snapshot_and_the_others_publish(runs):
    out = runs["broken"]
    assert out.exit_code == 3, out.output
    arena = runs["changed_snapshots"].filter(pl.col("source") == "arena")
    held, [fetched] = (
        arena.height,
        arena.filter(pl.col("snapshot").str.starts_with("2026-11-27_"))["snapshot"].to_list(),
    )
    assert len(fetched) == 23  # its date and 12 hex digits of its sha256, shown whole
    assert (
        f"FAILED (kept the last good snapshot: {held} held, newest {fetched})" in out.output
        and "source 'arena', file 'lmarena_text.csv', line 1: an HTML page" in out.output
    )
    # --force rebuilds, so the other sources publish a new version beside arena's kept snapshots
    assert (
        "1 source(s) had failures: arena (1 latest address(es) failed); everything else was published as version "
        in out.output
    )
    # Epoch's names with a '/' inside them ('ViT-G/14') are counted, as the published version records them
    assert (
        "model names that are not plain names, kept as given and joined by no organisation prefix: "
        "11 implausible org prefix (marts.unmatched_models.name_issue)"
    ) in out.output
    counts = dict(table(runs["root"], "select source, count(*) from marts.snapshots group by all").iter_rows())
    assert counts == dict(runs["changed_snapshots"].group_by("source").len().iter_rows())
    checks = table(runs["root"], "select count(*) n from marts.scores where source = 'safetywashing'")
    assert checks["n"][0] == paper_score_cells()


def test_epoch_hub_latest_archive_lands_the_same_rows_as_its_files(tmp_path):
    """`benchmark_data.zip` (built here from the mirrored CSVs) through the fetch asset: one new snapshot
    whose tables equal the pinned snapshot's, file for file."""
    import zipfile

    import dagster as dg

    from assets.resources import Fetcher, Warehouse
    from assets.landing import parse_snapshot
    from assets.sources import build_fetch_asset

    registered = REGISTRY["epoch_hub"]
    pinned = registered.snapshots[-1]
    archive = mirror_path(tmp_path / "mirror", registered.latest[0])
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for spec in pinned.files:
            zf.writestr(f"benchmark_data/{spec.name}", mirror_path(MIRROR, spec.url).read_bytes())
    warehouse = Warehouse(directory=str(tmp_path / "warehouse"))
    result = dg.materialize(
        [build_fetch_asset(registered)],
        resources={"warehouse": warehouse, "fetcher": Fetcher(mirror=str(tmp_path / "mirror"))},
    )
    [check] = result.get_asset_check_evaluations()
    assert check.passed
    [cid] = warehouse.landed.content_ids("epoch_hub")
    assert cid == hashlib.sha256(archive.read_bytes()).hexdigest()
    reference = parse_snapshot(
        "epoch_hub_csv", "epoch_hub", [(f, mirror_path(MIRROR, f.url).read_bytes()) for f in pinned.files]
    )
    for table, frame in reference.tables.items():
        landed = warehouse.landed.read("epoch_hub", cid, table).with_columns(
            pl.col("file").str.strip_prefix("benchmark_data.zip/")
        )
        assert landed.drop("sha256").sort(pl.all()).equals(frame.drop("sha256").sort(pl.all())), table


def test_model_identity_joins_by_rules_and_reviewed_aliases_only(runs):
    identity = table(runs["root"], "select * from marts.model_identity")
    key = {
        (s, raw): (k, rule)
        for s, raw, k, rule in identity.select("source", "raw_name", "model_key", "rule").iter_rows()
    }
    assert key[("safetywashing", "dbrx-instruct")] == (model_key("DBRX-Instruct-Preview").key, "alias")
    assert key[("safetywashing", "Llama-2-70b-chat-hf")][0] == key[("arena", "Llama-2-70b-chat")][0]
    assert key[("arena", "Claude 3 Opus")] == ("claude-3-opus-20240229", "undated")
    newest = set(
        table(runs["root"], "select distinct model_id from marts.scores_latest where source = 'arena'")["model_id"]
    )
    arena_keys = [key[("arena", name)][0] for name in newest]
    assert len(arena_keys) == len(set(arena_keys))  # no key stands for two rows of one Arena snapshot
    chat = table(
        runs["root"], "select distinct model_id from marts.models where source = 'safetywashing' and model_set = 'chat'"
    )
    on_arena = {key[("safetywashing", m)][0] for m in chat["model_id"]} & set(arena_keys)
    assert len(on_arena) == 20  # the six others (Qwen1.5 0.5B/1.8B, Yi-6B, falcon 7B/40B, deepseek 7B) are not on Arena
    left = table(runs["root"], "select * from marts.unmatched_models")
    shared = (
        identity.group_by("model_key").agg(pl.col("source").n_unique().alias("n")).filter(pl.col("n") > 1)["model_key"]
    )
    unmatched_keys = identity.join(left, on=["source", "raw_name"])["model_key"]
    assert not unmatched_keys.is_in(shared.implode()).any() and left["snapshot"].null_count() == 0
    odd = left.drop_nulls("name_issue")
    assert dict(odd.group_by("name_issue").len().iter_rows()) == {"implausible_org_prefix": 11}
    assert set(odd["source"]) == {"epoch_models"} and {"ViT-G/14", "DiT-XL/2 + CADS"} <= set(odd["raw_name"])
    assert key[("epoch_models", "ViT-G/14")][0] == "vit-g-14"  # no longer '14', as the organisation rule made it
    assert Store(runs["root"]).versions()[0]["name_issues"] == {"implausible_org_prefix": 11}


def test_every_shipped_analysis_runs_on_the_mirror(runs):
    analyses = table(
        runs["cold_root"],
        "select analysis, status, n_snapshots, n_models, n_models_scored from marts.analyses order by analysis",
    )
    status = dict(zip(analyses["analysis"], analyses["status"]))
    assert status.pop("lm_eval_results").startswith(
        "no score: need at least 3 models"
    )  # one model in the mirror's file
    assert set(status.values()) == {"fitted"}
    scored = dict(zip(analyses["analysis"], analyses["n_models_scored"]))
    assert (scored["obsscaling_paper"], scored["obsscaling_base"]) == (77, 148)
    assert scored["open_llm_v1"] > 7000
    rows = table(
        runs["cold_root"],
        """select analysis, n_models, spearman, ci_low, ci_high, n_resamples, ci_method
                                  from marts.benchmark_correlations
                                  where versus = 'capabilities' and (analysis, benchmark) in (values
                                      ('obsscaling_base', 'TruthfulQA'), ('open_llm_v1', 'truthfulqa'),
                                      ('arena_vs_epoch', 'arena_score')) order by analysis""",
    )
    assert rows["analysis"].to_list() == ["arena_vs_epoch", "obsscaling_base", "open_llm_v1"]
    assert (rows["ci_low"] < rows["spearman"]).all() and (rows["spearman"] < rows["ci_high"]).all()
    assert rows["n_resamples"].to_list() == [B, B, B]
    assert (
        rows.filter(pl.col("analysis") == "open_llm_v1")["ci_method"].item() == "percentile"
    )  # no 7,000-refit jackknife


def test_correlations_equal_scipy_on_the_published_scores(runs):
    """The published correlation is scipy's Spearman of the published capabilities score and the benchmark."""
    from scipy import stats

    for analysis, benchmark in [("obsscaling_base", "TruthfulQA"), ("open_llm_v1", "truthfulqa")]:
        pairs = table(
            runs["cold_root"],
            f"""
            select c.capabilities_score, s.value from marts.capabilities_scores c
            join marts.scores_latest s on s.source = c.source and s.model_id = c.model_id and s.benchmark = '{benchmark}'
            where c.analysis = '{analysis}' and c.capabilities_score is not null
              and (c.source <> 'obsscaling' or s.source_file = 'base_llm_benchmark_eval.csv')""",
        )
        published = table(
            runs["cold_root"],
            f"select n_models, spearman from marts.benchmark_correlations where analysis = "
            f"'{analysis}' and benchmark = '{benchmark}' and versus = 'capabilities'",
        ).row(0)
        assert published[0] == pairs.height
        assert published[1] == pytest.approx(
            stats.spearmanr(pairs["capabilities_score"], pairs["value"]).statistic, abs=1e-12
        )


def test_arena_against_epoch_snapshot_by_snapshot(runs):
    history = table(
        runs["cold_root"],
        """select snapshot, snapshot_date, n_models, spearman, ci_low, ci_high
                                     from marts.correlation_history
                                     where analysis = 'arena_vs_epoch' and benchmark = 'arena_score' and versus = 'capabilities'
                                     order by snapshot_date""",
    )
    arena = table(
        runs["cold_root"],
        "select snapshot from marts.snapshots where source = 'arena' and snapshot_date >= '2024-10-01'",
    )
    assert sorted(history["snapshot"]) == sorted(arena["snapshot"])  # one row per snapshot from October 2024
    assert history["n_models"].min() >= 30 and history["ci_low"].null_count() == 0
    newest = table(
        runs["cold_root"],
        "select n_models from marts.benchmark_correlations where analysis = 'arena_vs_epoch' "
        "and benchmark = 'arena_score' and versus = 'capabilities'",
    ).item()
    assert newest >= 55
    # ranks within one snapshot: each row equals scipy on that snapshot's Arena scores and the score fitted on it
    from scipy import stats

    one = history.row(0, named=True)
    pairs = table(
        runs["cold_root"],
        f"""
        select c.capabilities_score, s.value from marts.capabilities_scores c
        join marts.scores s on s.source = 'arena' and s.snapshot = c.snapshot and s.model_id = c.model_id
        where c.analysis = 'arena_vs_epoch' and c.snapshot = '{one["snapshot"]}' and s.benchmark = 'arena_score'
          and c.capabilities_score is not null""",
    )
    assert pairs.height == one["n_models"]
    assert one["spearman"] == pytest.approx(
        stats.spearmanr(pairs["capabilities_score"], pairs["value"]).statistic, abs=1e-12
    )


# ObsScaling's default selection, written here from its repository at the commit the registry pins
# (utils/constants.py, utils/helper.py at 4d6e1e43), not read from analyses.toml: the families it evaluated,
# minus the models it pre-registered and held out
OBSSCALING_EVAL_FAMILIES = [
    "Llama-2",
    "Llama",
    "Llama-3",
    "Llama-3.1",
    "Qwen2",
    "Qwen1.5",
    "Qwen",
    "Mistral",
    "Mixtral",
    "Yi",
    "Yi-1.5",
    "Gemma",
    "Gemma-2",
    "Falcon",
    "Phi",
    "Pythia",
    "BLOOM",
    "GPT-Neo/J",
    "OPT",
    "MPT",
    "XGLM",
    "CodeLlama",
    "StarCoder",
    "StarCoder2",
    "DeepSeek-Coder",
    "DeepSeek-V2",
    "DeepSeek-Coder-V2",
    "Jamba",
]
OBSSCALING_PREREGISTERED = [
    "meta-llama/Meta-Llama-3.1-405B-FP8",
    "meta-llama/Meta-Llama-3.1-70B",
    "meta-llama/Meta-Llama-3.1-8B",
    "Qwen/Qwen1.5-110B",
    "Qwen/Qwen2-72B",
    "Qwen/Qwen2-57B-A14B",
    "Qwen/Qwen2-7B",
    "Qwen/Qwen2-1.5B",
    "Qwen/Qwen2-0.5B",
    "deepseek-ai/DeepSeek-V2",
    "deepseek-ai/DeepSeek-Coder-V2-Base",
    "google/gemma-2-27b",
    "google/gemma-2-9b",
    "google/gemma-2-2b",
    "mistralai/Mixtral-8x22B-v0.1",
    "mistralai/Mistral-Nemo-Base-2407",
    "01-ai/Yi-1.5-34B",
    "01-ai/Yi-1.5-9B",
    "01-ai/Yi-1.5-6B",
    "ai21labs/Jamba-v0.1",
]


def test_obsscaling_paper_equals_its_default_loader_and_procedure_rebuilt_from_sklearn(runs):
    """`obsscaling_paper` against ObsScaling's default loader (`load_base_llm_benchmark_eval`: evaluated
    families, pre-registered models dropped) and its procedure rebuilt from scikit-learn on the CSV itself:
    StandardScaler + mean imputer + 1-component PCA loop, clipped to [0, 1], then PCA of the unstandardised
    matrix (5 components, as their constants say)."""
    import numpy as np
    from sklearn.decomposition import PCA

    from test_stats_imputation import sklearn_reference

    inputs = ["MMLU", "ARC-C", "HellaSwag", "Winograd", "TruthfulQA", "GSM8K", "XWinograd", "HumanEval"]
    url = next(f.url for f in REGISTRY["obsscaling"].snapshots[-1].files if f.name == "base_llm_benchmark_eval.csv")
    frame = pl.read_csv(mirror_path(MIRROR, url)).filter(
        pl.col("Model Family").is_in(OBSSCALING_EVAL_FAMILIES), ~pl.col("Model").is_in(OBSSCALING_PREREGISTERED)
    )
    x = frame.select(inputs).to_numpy().astype(float)
    filled = np.clip(sklearn_reference(x, n_components=1, max_iter=1000, tol=1e-4), 0.0, 1.0)
    pca = PCA(n_components=5).fit(filled)
    pc1 = pca.components_[0] * np.sign(pca.components_[0][np.abs(pca.components_[0]).argmax()])
    published = table(
        runs["cold_root"],
        "select benchmark, loading, variance_explained, n_models from marts.capabilities_components "
        "where analysis = 'obsscaling_paper'",
    )
    loading = dict(zip(published["benchmark"], published["loading"]))
    assert published["n_models"].unique().to_list() == [frame.height] == [77]
    np.testing.assert_allclose([loading[b] for b in inputs], pc1, atol=1e-8)
    assert published["variance_explained"][0] == pytest.approx(pca.explained_variance_ratio_[0], abs=1e-10)
    scored = table(
        runs["cold_root"],
        "select model_id from marts.capabilities_scores where analysis = 'obsscaling_paper' "
        "and capabilities_score is not null order by model_id",
    )["model_id"].to_list()
    assert scored == sorted(frame["Model"].to_list())  # the same models, by name
    excluded = table(
        runs["cold_root"], "select excluded from marts.analyses where analysis = 'obsscaling_paper'"
    ).item()
    assert json.loads(excluded)["exclude_models"] == len(OBSSCALING_PREREGISTERED)


@pytest.mark.system  # Chromium
def test_the_report_opens_offline_in_chromium_and_draws_every_analysis(runs, tmp_path):
    """The report the refresh's Dagster asset wrote equals `safetywash report`'s, opens in headless Chromium with
    no console error and no request but its own file, names every analysis and safety area, and draws the
    published numbers."""
    from playwright.sync_api import sync_playwright

    root = runs["cold_root"]
    from_asset = root / "report" / "report.html"
    out = CliRunner().invoke(app, ["report", "--warehouse", str(root), "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "report.html").read_bytes() == from_asset.read_bytes()
    analyses = table(root, "select analysis, status from marts.analyses")
    areas = table(root, "select distinct area from marts.benchmark_correlations where area is not null")[
        "area"
    ].to_list()
    chat = table(
        root,
        """select benchmark, spearman from marts.benchmark_correlations where analysis = 'safetywashing_chat'
        and versus = 'capabilities' and area is not null and area <> 'capabilities' and spearman is not null""",
    )
    history = table(
        root,
        """select count(*) as n from marts.correlation_history where analysis = 'arena_vs_epoch'
        and benchmark = 'arena_score' and versus = 'capabilities' and spearman is not null""",
    )["n"][0]
    assert set(areas) >= {"weaponization", "calibration", "bias"} and history >= 60

    console, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(from_asset.as_uri(), wait_until="load")
        text = page.inner_text("body")
        drawn = page.evaluate("document.querySelectorAll('.js-plotly-plot .main-svg').length")
        figure1 = page.evaluate(
            "document.getElementById('analysis-safetywashing_chat-figure1').data.map(t => ({x: t.x, y: t.y}))"
        )
        bands = page.evaluate("document.getElementById('analysis-arena_vs_epoch-history').data.map(t => t.x.length)")
        width = page.evaluate("document.documentElement.scrollWidth")
        charts = page.evaluate("[...document.querySelectorAll('.js-plotly-plot')].map(d => d.id)")
        residuals = page.evaluate(
            "[...document.querySelectorAll('section')].filter(s => [...s.querySelectorAll('h3')]"
            ".some(h => h.textContent === 'Differential progress')).map(s => s.id)"
        )
        provenance = page.evaluate(
            "[...document.querySelectorAll('#provenance table')].map(t => "
            "[[...t.querySelectorAll('th')].map(h => h.textContent), "
            "[...t.querySelectorAll('tbody tr')].map(r => [...r.children].map(c => c.textContent))])"
        )
        page_messages = list(console)  # the page's own; the screenshots' GPU read-backs make Chromium warn
        for name in analyses.filter(pl.col("status") == "fitted")["analysis"]:  # a screenshot of each section
            page.locator(f"#analysis-{name}").screenshot(path=str(tmp_path / f"{name}.png"))
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
        browser.close()
    assert page_messages == [] and requests == [from_asset.as_uri()]
    assert (tmp_path / "report.png").stat().st_size > 50_000
    for name in analyses["analysis"]:
        assert name in text
    for area in areas:
        assert area in text
    assert "no score: need at least 3 models" in text  # lm_eval_results says why it has no chart
    assert drawn >= 2 * len(analyses)
    points = {y.rsplit(" (", 1)[0]: x for trace in figure1 for x, y in zip(trace["x"], trace["y"])}
    assert points == pytest.approx(dict(chat.iter_rows()), abs=1e-12)
    assert round(points["wmdp_bio"], 3) == -0.875  # the paper's chat WMDP-Bio
    assert bands == [history] * 3  # upper edge, lower edge, the line: one point per snapshot
    assert width <= 1440  # no sideways scroll
    assert "0 undefined" not in text and "1 benchmarks" not in text
    targets = table(
        root,
        """select distinct analysis from marts.benchmark_correlations c join marts.analyses a using (analysis)
        where a.status = 'fitted' and not list_contains(a.capability_inputs, c.benchmark)""",
    )["analysis"].to_list()
    for name in analyses.filter(pl.col("status") == "fitted")["analysis"]:
        assert f"analysis-{name}-figure1" in charts and (tmp_path / f"{name}.png").stat().st_size > 10_000, name
    for name in targets:  # an analysis with a target benchmark: its scatter and its differential progress
        assert f"analysis-{name}-scatter" in charts and f"analysis-{name}" in residuals, name
    assert {"arena_vs_epoch", "obsscaling_base", "open_llm_v1", "safetywashing_chat"} <= set(targets)
    (source_head, source_rows), (analysis_head, analysis_rows) = provenance[:2]
    assert "content_sha256" in source_head and "sha256" not in analysis_head and "snapshot" in analysis_head
    assert all(re.fullmatch(r"[0-9a-f]{64}", row[source_head.index("content_sha256")]) for row in source_rows)


def test_the_summary_names_a_pinned_commit_by_date_and_12_hex_digits_and_a_fetched_snapshot_whole():
    from orchestration.runs import _snapshot_label

    paper = REGISTRY["safetywashing"].snapshots[-1]
    assert _snapshot_label(paper.date, paper.id) == f"{paper.date[:10]} {paper.id[:12]}" == "2024-10-02 ab48125dc86a"
    assert _snapshot_label("2026-11-27T08:00:00+00:00", "2026-11-27_0123456789ab") == "2026-11-27_0123456789ab"


def test_a_new_arena_snapshot_recomputes_only_the_analysis_that_reads_arena(runs):
    """Every analysis, the cold refresh's settings, one new Arena snapshot: only arena_vs_epoch is fitted,
    bootstrapped and summarised again (the run's steps say so); every other analysis keeps its published rows,
    the same bits, and marts.analyses names the run that computed each."""
    result, before, after = runs["changed"], runs["cold_marts"], runs["changed_marts"]
    assert result.published
    started = [e.step_key for e in result.job.all_events if e.is_step_start]
    assert [s for s in started if "fit_analysis[" in s] == ["capabilities.fit_analysis[arena_vs_epoch]"]
    for step in ("bootstrap_chunk[", "summarize_analysis["):
        ran = [s for s in started if step in s]
        assert ran and all(s.split("[")[1].startswith("arena_vs_epoch") for s in ran), ran
    cold_runs, runs_now = runs["cold_runs"], runs["changed_runs"]
    assert {a for a in runs_now if runs_now[a] != cold_runs[a]} == {"arena_vs_epoch"}
    for t, frame in before.items():
        kept = after[t].filter(pl.col("analysis") != "arena_vs_epoch")
        assert kept.equals(frame.filter(pl.col("analysis") != "arena_vs_epoch")), t
    history = after["correlation_history"].filter(pl.col("analysis") == "arena_vs_epoch")["snapshot"].n_unique()
    cold = before["correlation_history"].filter(pl.col("analysis") == "arena_vs_epoch")["snapshot"].n_unique()
    assert history == cold + 1  # the new snapshot is in its history


def test_every_mart_column_is_described_and_docs_tables_is_current(every_source):
    """The one place descriptions live (dbt's yml, `assets/columns.py`) reaches every column of the lake, and
    `docs/tables.md` is what `safetywash tables --markdown` renders from it."""
    from orchestration.tables_doc import markdown, marts_catalog

    with Store(every_source["root"]).read() as con:
        catalog = marts_catalog(con)
    assert len(catalog) == 15
    undescribed = [f"{t}.{c}" for t, comment, cols in catalog for c, _, d in cols if not d.strip()]
    assert undescribed == [] and all(comment for _, comment, _ in catalog)
    written = (PROJECT / "docs" / "tables.md").read_text(encoding="utf-8")
    assert written == markdown(catalog), "docs/tables.md is stale: uv run safetywash tables --markdown"
