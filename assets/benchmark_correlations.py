"""Benchmark correlation assets: each benchmark versus capabilities, compute and accuracy, with
bootstrap confidence intervals that refit the capabilities score in every resample.

`marts/benchmark_correlations` is a graph of steps: ``plan_bootstrap`` fans out one
``bootstrap_chunk`` per (analysis, range of resamples), each an independent step that any
executor can run apart and that writes its replicates under the candidate's ``work/bootstrap/``
(``.npy``, no pickle), keyed by the run's root id and the settings that shape them, so that a
re-execution from failure finds the chunks that already succeeded. Once every chunk is in,
``plan_summaries`` empties the two marts and fans out one ``summarize_analysis`` step per analysis (point
estimates, jackknife, permutation p-values and intervals), which appends its rows (DuckLake commits the
steps' appends concurrently); ``write_correlations`` reports them and removes the replicates.
"""

import hashlib
import io
import json
import time

import dagster as dg
import numpy as np
import polars as pl

from .analyses import Analysis
from .metadata import column_schema, table_metadata
from .model_sets import ModelSet, fitted_analyses, kept_analyses, load_model_sets
from .resources import Warehouse
from .settings import BootstrapSettings, validate
from .stats.bootstrap import Replicator, correlation_table, resample_weights
from .warehouse import CANDIDATE_KEY, WRITER_POOL, Candidate, append_once, keep_analyses, query_frame
from .keys import COMPONENTS_KEY, CORRELATIONS_KEY, HISTORY_KEY, MART_DEPS, SCORES_KEY

UPSTREAM = {
    "scores": MART_DEPS[0],
    "models": MART_DEPS[1],
    "benchmarks": MART_DEPS[2],
    "capabilities_scores": SCORES_KEY,
    "capabilities_components": COMPONENTS_KEY,
}
COLUMNS = (
    "analysis",
    "source",
    "model_set",
    "benchmark",
    "area",
    "versus",
    "n_models",
    "spearman",
    "ci_low",
    "ci_high",
    "se",
    "p_value",
    "ci_method",
    "confidence_level",
    "n_resamples",
    "n_degenerate",
    "bootstrap_seed",
    "note",
    "capabilities_method",
    "snapshot",
    "source_sha256",
)
SCHEMA = dict(
    zip(
        COLUMNS,
        (
            pl.String,
            pl.String,
            pl.String,
            pl.String,
            pl.String,
            pl.String,
            pl.Int64,
            pl.Float64,
            pl.Float64,
            pl.Float64,
            pl.Float64,
            pl.Float64,
            pl.String,
            pl.Float64,
            pl.Int64,
            pl.Int64,
            pl.Int64,
            pl.String,
            pl.String,
            pl.String,
            pl.String,
        ),
    )
)
DESCRIPTION = (
    "`marts.benchmark_correlations(analysis, source, model_set, benchmark, area, versus, n_models, spearman, ci_low, "
    "ci_high, se, p_value, ci_method, confidence_level, n_resamples, n_degenerate, bootstrap_seed, note, "
    "capabilities_method, snapshot, source_sha256)`: Spearman correlation (a fraction in [-1, 1]) of every "
    "benchmark with the capabilities score (`capabilities`) in each analysis's newest snapshot (all snapshots: "
    "`marts.correlation_history`), with the score refitted without it "
    "(`capabilities_loo`, capability inputs only), with training FLOP (`compute`) and, for calibration metrics, "
    "with the accuracy of the same task (`accuracy`), over the models with both values. `ci_low`/`ci_high`: "
    "bootstrap interval over models (BCa where its jackknife is defined, else percentile; `ci_method` says "
    "which), refitting the capabilities score in every resample; `se` the bootstrap standard error; `p_value` "
    "two-sided permutation test of no correlation; `n_degenerate` resamples excluded because the statistic was "
    "undefined in them. `note` says why a correlation is null."
)


HISTORY_COLUMNS = (
    "analysis",
    "benchmark",
    "versus",
    "snapshot",
    "snapshot_date",
    "n_models",
    "spearman",
    "ci_low",
    "ci_high",
    "ci_method",
    "n_resamples",
    "source",
    "source_sha256",
)
HISTORY_SCHEMA = {column: {**SCHEMA, "snapshot_date": pl.Date}[column] for column in HISTORY_COLUMNS}
HISTORY_DESCRIPTION = (
    "`marts.correlation_history(analysis, benchmark, versus, snapshot, snapshot_date, n_models, spearman, ci_low, "
    "ci_high, ci_method, n_resamples, source, source_sha256)`: every correlation of every analysis in every snapshot it "
    "reads, one row per (analysis, benchmark, versus, snapshot). Each row is computed within one snapshot (scores, "
    "ranks and the capabilities fit of that snapshot only; Arena re-anchors its scores at each snapshot). An analysis "
    "reading only its newest snapshot has one row per correlation, the row of `marts.benchmark_correlations`."
)


class CorrelationsConfig(dg.Config, BootstrapSettings):
    """Bootstrap settings (bounds and descriptions in :mod:`assets.settings`)."""


def _chunk_dir(config: CorrelationsConfig) -> str:
    """The key, among the candidate's objects, of the replicates of this bootstrap (each step's, any host)."""
    shaping = {k: getattr(config, k) for k in ("n_resamples", "seed", "resamples_per_step")}
    digest = hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]
    return f"{CANDIDATE_KEY}/work/bootstrap/{digest}"


def _methods(con) -> dict[str, str]:
    rows = con.execute("select distinct analysis, method from marts.capabilities_components").fetchall()
    return dict(rows)


def _load(candidate: Candidate, only: str | None = None) -> tuple[list[Analysis], list[ModelSet], dict[str, str]]:
    """The fitted analyses (as ``marts.analyses`` recorded them, so the correlations follow the score even if
    the analyses file changes during the run), their populations, and each analysis's capabilities method."""
    with candidate.connect(read_only=True) as con:
        analyses = [a for a in fitted_analyses(con) if only is None or a.name == only]
        return analyses, load_model_sets(con, analyses, run_key=candidate.run_key), _methods(con)


def _resamples(analysis: Analysis, config: CorrelationsConfig) -> int:
    """The analysis's B; a run asking for fewer resamples (``--resamples``) gets fewer."""
    return min(analysis.resamples or config.n_resamples, config.n_resamples)


@dg.op(
    ins={name: dg.In(dg.Nothing) for name in UPSTREAM},
    out=dg.DynamicOut(dict),
    description="Split the bootstrap into independent steps: one per (analysis, range of resamples).",
    pool=WRITER_POOL,
)
def plan_bootstrap(context: dg.OpExecutionContext, config: CorrelationsConfig, warehouse: Warehouse):
    candidate = warehouse.candidate(context)
    with candidate.connect(read_only=True) as con:
        # the analyses this run computed (the others keep their published rows); their populations are loaded by
        # the steps that use them
        analyses = fitted_analyses(con, computed_in=candidate.run_key)
    candidate.objects.remove(_chunk_dir(config))
    if not analyses:  # no analysis has data: one empty step, so the (empty) tables are still written
        yield dg.DynamicOutput({"analysis": None}, mapping_key="nothing_to_analyse")
    for analysis in analyses:
        total = _resamples(analysis, config)
        for start in range(0, total, config.resamples_per_step):
            stop = min(start + config.resamples_per_step, total)
            yield dg.DynamicOutput(
                {"analysis": analysis.name, "start": start, "stop": stop}, mapping_key=f"{analysis.name}__{start}"
            )


@dg.op(
    out=dg.Out(dg.Nothing),
    description="Bootstrap replicates of every correlation of one analysis (each of its snapshots), one range of resamples.",
    pool=WRITER_POOL,
)
def bootstrap_chunk(
    context: dg.OpExecutionContext, config: CorrelationsConfig, spec: dict, warehouse: Warehouse
) -> None:
    if spec["analysis"] is None:
        return
    started = time.perf_counter()
    candidate = warehouse.candidate(context)
    _, model_sets, methods = _load(candidate, only=spec["analysis"])
    n = 0
    for i, ms in enumerate(model_sets):
        replicator = Replicator(ms.capability_matrix, ms.comparisons(), methods[ms.analysis], reimpute=ms.reimputation)
        theta = replicator(resample_weights(replicator.n, config.seed, spec["start"], spec["stop"]))
        buffer = io.BytesIO()
        np.save(buffer, theta, allow_pickle=False)
        candidate.objects.put(f"{_chunk_dir(config)}/{ms.analysis}/{i:05d}/{spec['start']:09d}.npy", buffer.getvalue())
        n += theta.shape[0]
    context.log.info(
        f"{spec['analysis']} resamples {spec['start']}..{spec['stop'] - 1} over {len(model_sets)} snapshot(s): "
        f"{n} correlations in {time.perf_counter() - started:.2f} s"
    )


@dg.op(
    ins={"chunks": dg.In(dg.Nothing)},
    out=dg.DynamicOut(dict),
    description="Once every chunk is in: the two marts keep the rows of the analyses this run did not compute "
    "(emptied of the others), and one summary step per analysis it computed.",
    pool=WRITER_POOL,
)
def plan_summaries(context: dg.OpExecutionContext, warehouse: Warehouse):
    candidate = warehouse.candidate(context)
    with candidate.connect() as con:
        names = [a.name for a in fitted_analyses(con, computed_in=candidate.run_key)]
        keep_analyses(
            con,
            {
                "marts.benchmark_correlations": (pl.DataFrame(schema=SCHEMA), DESCRIPTION),
                "marts.correlation_history": (pl.DataFrame(schema=HISTORY_SCHEMA), HISTORY_DESCRIPTION),
            },
            kept_analyses(con, candidate.run_key),
        )
    if not names:
        yield dg.DynamicOutput({"analysis": None, "index": 0}, mapping_key="nothing_to_analyse")
    for index, name in enumerate(names):
        yield dg.DynamicOutput({"analysis": name, "index": index}, mapping_key=name)


@dg.op(
    out=dg.Out(dict),
    description="One analysis (each snapshot it reads): its replicates collected; point estimates, intervals, "
    "standard errors, permutation p-values, appended to the two marts.",
    pool=WRITER_POOL,
)
def summarize_analysis(
    context: dg.OpExecutionContext, config: CorrelationsConfig, spec: dict, warehouse: Warehouse
) -> dict:
    if spec["analysis"] is None:
        return {**spec, "populations": 0, "resamples": 0}
    started = time.perf_counter()
    candidate = warehouse.candidate(context)
    (analysis,), model_sets, methods = _load(candidate, only=spec["analysis"])
    analysis_dir = f"{_chunk_dir(config)}/{spec['analysis']}"
    objects = candidate.objects
    total = _resamples(analysis, config)
    method = methods[spec["analysis"]]
    frames = []
    for i, ms in enumerate(model_sets):
        comparisons = ms.comparisons()
        chunks = [
            f"{analysis_dir}/{i:05d}/{name}"
            for name in objects.names(f"{analysis_dir}/{i:05d}")
            if name.endswith(".npy")
        ]
        theta = np.concatenate([np.load(io.BytesIO(objects.get(key)), allow_pickle=False) for key in chunks], axis=1)
        if theta.shape != (len(comparisons), total):
            raise dg.Failure(f"{ms.analysis} ({ms.snapshot}): expected {total} replicates, found {theta.shape[1]}")
        table = correlation_table(
            Replicator(ms.capability_matrix, comparisons, method, reimpute=ms.reimputation),
            theta,
            n_resamples=total,
            seed=config.seed,
            confidence_level=config.confidence_level,
            method=config.ci_method,
        )
        frames.append(
            table.with_columns(
                analysis=pl.lit(ms.analysis),
                source=pl.lit(ms.source),
                model_set=pl.lit(ms.model_set, dtype=pl.String),
                area=pl.col("benchmark").replace_strict(ms.area, default=None, return_dtype=pl.String),
                capabilities_method=pl.lit(method),
                snapshot=pl.lit(ms.snapshot),
                snapshot_date=pl.lit(ms.snapshot_date, dtype=pl.Date),
                source_sha256=pl.lit(ms.sha256),
            ).rename({"seed": "bootstrap_seed"})
        )
    everything = pl.concat(frames)
    newest = everything.filter(pl.col("snapshot") == model_sets[-1].snapshot).select(COLUMNS)
    history = everything.select(HISTORY_COLUMNS).sort("benchmark", "versus", "snapshot_date", "snapshot")
    with candidate.connect() as con:
        held = append_once(
            con, {"marts.benchmark_correlations": newest, "marts.correlation_history": history}, spec["analysis"]
        )
    if held:
        context.log.info(f"{spec['analysis']}: its {held} rows were appended by an earlier attempt of this step")
    context.log.info(
        f"{spec['analysis']}: {everything.height} correlations over {len(model_sets)} "
        f"snapshot(s) in {time.perf_counter() - started:.2f} s"
    )
    return {**spec, "populations": len(model_sets), "resamples": total}


@dg.op(
    out={"correlations": dg.Out(dg.Nothing), "history": dg.Out(dg.Nothing)},
    description="Once every analysis has appended its rows: the two marts' metadata, and the replicates removed.",
    pool=WRITER_POOL,
)
def write_correlations(
    context: dg.OpExecutionContext, config: CorrelationsConfig, summaries: list[dict], warehouse: Warehouse
):
    candidate = warehouse.candidate(context)
    done = sorted((s for s in summaries if s["analysis"] is not None), key=lambda s: s["index"])
    with candidate.connect(read_only=True) as con:
        unknown = con.execute("select count(*) from marts.benchmarks where not is_known").fetchone()[0]
        result = query_frame(con, "select * from marts.benchmark_correlations order by analysis, benchmark, versus")
        n_history = con.execute("select count(*) from marts.correlation_history").fetchone()[0]
    candidate.objects.remove(_chunk_dir(config))
    populations = sum(s["populations"] for s in done)
    n_null = result["spearman"].null_count()
    context.log.info(
        f"{result.height} correlations with intervals, {n_null} undefined (see column note); "
        f"{n_history} rows of history over {populations} (analysis, snapshot) populations"
    )
    headline = result.filter(
        pl.col("versus") == "capabilities", pl.col("area").is_not_null(), pl.col("area") != "capabilities"
    )
    view = ("benchmark", "spearman", "ci_low", "ci_high", "analysis", "area", "n_models", "p_value")  # ρ first
    yield dg.Output(
        None,
        "correlations",
        metadata={
            "dagster/row_count": result.height,
            "dagster/column_schema": column_schema(result, "marts.benchmark_correlations"),
            "bootstrap_resamples": config.n_resamples,
            "bootstrap_resamples_by_analysis": dg.MetadataValue.json({s["analysis"]: s["resamples"] for s in done}),
            "bootstrap_seed": config.seed,
            "ci_method": config.ci_method,
            "ci_method_used": dg.MetadataValue.json(
                dict(result.group_by("ci_method").len().sort("ci_method").iter_rows())
            ),
            "confidence_level": config.confidence_level,
            "degenerate_resamples_total": int(result["n_degenerate"].sum()),
            "n_undefined": n_null,
            "n_benchmarks_excluded_unknown": unknown,
            "rows_by_versus": dg.MetadataValue.json(dict(result.group_by("versus").len().sort("versus").iter_rows())),
            "highest_capabilities_correlation": table_metadata(
                headline.sort("spearman", descending=True, nulls_last=True).select(view).head(10)
            ),
            "lowest_capabilities_correlation": table_metadata(
                headline.sort("spearman", nulls_last=True).select(view).head(10)
            ),
        },
    )
    yield dg.Output(
        None,
        "history",
        metadata={
            "dagster/row_count": n_history,
            "dagster/column_schema": column_schema(pl.DataFrame(schema=HISTORY_SCHEMA), "marts.correlation_history"),
            "populations": populations,
            "snapshots_per_analysis": dg.MetadataValue.json({s["analysis"]: s["populations"] for s in done}),
        },
    )


def _config_mapping(config: CorrelationsConfig) -> dict:
    # the schema comes from the annotation; Dagster hands over the processed values as a dict, and a
    # bound broken here stops the run before any step, naming the field
    values = validate(CorrelationsConfig, config, prefix=f"{CORRELATIONS_KEY.to_python_identifier()}.").model_dump()
    return {
        name: {"config": values}
        for name in ("plan_bootstrap", "bootstrap_chunk", "summarize_analysis", "write_correlations")
    }


@dg.graph_multi_asset(
    name=CORRELATIONS_KEY.to_python_identifier(),  # the Launchpad's config key stays marts__benchmark_correlations
    group_name="marts",
    outs={
        "correlations": dg.AssetOut(
            key=CORRELATIONS_KEY, kinds={"python", "duckdb"}, description=DESCRIPTION, dagster_type=dg.Nothing
        ),
        "history": dg.AssetOut(
            key=HISTORY_KEY, kinds={"python", "duckdb"}, description=HISTORY_DESCRIPTION, dagster_type=dg.Nothing
        ),
    },
    ins={name: dg.AssetIn(key=key, dagster_type=dg.Nothing) for name, key in UPSTREAM.items()},
    config=dg.ConfigMapping(config_fn=_config_mapping, config_schema=CorrelationsConfig.to_config_schema()),
)
def benchmark_correlations(scores, models, benchmarks, capabilities_scores, capabilities_components):
    chunks = plan_bootstrap(
        scores=scores,
        models=models,
        benchmarks=benchmarks,
        capabilities_scores=capabilities_scores,
        capabilities_components=capabilities_components,
    ).map(bootstrap_chunk)
    summaries = plan_summaries(chunks=chunks.collect()).map(summarize_analysis)
    correlations, history = write_correlations(summaries.collect())
    return {"correlations": correlations, "history": history}


@dg.asset_check(
    asset=CORRELATIONS_KEY,
    blocking=True,
    pool=WRITER_POOL,
    description="Every defined spearman lies in [-1, 1]; a null one has a note.",
)
def correlations_in_range(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.candidate(context).connect(read_only=True) as con:
        bad = con.execute(
            """select count(*) from marts.benchmark_correlations
               where spearman not between -1 and 1 or (spearman is null and note is null)"""
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=bad == 0, metadata={"n_bad_rows": bad})


@dg.asset_check(
    asset=CORRELATIONS_KEY, blocking=True, pool=WRITER_POOL, description="One row per (analysis, benchmark, versus)."
)
def correlations_unique(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.candidate(context).connect(read_only=True) as con:
        dupes = con.execute(
            """select count(*) from (select 1 from marts.benchmark_correlations
               group by analysis, benchmark, versus having count(*) > 1)"""
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=dupes == 0, metadata={"n_duplicate_keys": dupes})


@dg.asset_check(
    asset=CORRELATIONS_KEY,
    blocking=True,
    pool=WRITER_POOL,
    description="Intervals are ordered within [-1, 1] and no row excluded more resamples than it drew.",
)
def intervals_consistent(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.candidate(context).connect(read_only=True) as con:
        bad = con.execute(
            """select count(*) from marts.benchmark_correlations
               where ci_low > ci_high or ci_low < -1 or ci_high > 1 or n_degenerate > n_resamples
                  or (spearman is not null and ci_low is null and n_degenerate < n_resamples - 1)"""
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=bad == 0, metadata={"n_bad_rows": bad})
