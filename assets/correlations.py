"""Benchmark correlation assets: each benchmark versus capabilities, compute and accuracy."""

import dagster as dg
import polars as pl

from orchestration.resources import Warehouse

from .capabilities import COMPONENTS_KEY, MART_DEPS, SCORES_KEY
from .metadata import markdown_table
from .model_sets import load_model_sets, replace_table
from .stats.correlation import correlations

CORRELATIONS_KEY = dg.AssetKey(["marts", "benchmark_correlations"])


@dg.asset(
    key=CORRELATIONS_KEY,
    group_name="analysis",
    deps=[*MART_DEPS, SCORES_KEY, COMPONENTS_KEY],
    kinds={"python", "duckdb"},
    description="`marts.benchmark_correlations(source, model_set, benchmark, area, versus, n_models, spearman, "
    "ci_low, ci_high, ...)`: Spearman correlation (a fraction in [-1, 1]) of every benchmark with the "
    "capabilities score (`capabilities`), with the score refitted without it (`capabilities_loo`, capability "
    "inputs only), with training FLOP (`compute`) and, for calibration metrics, with the accuracy of the same "
    "task (`accuracy`), over the models with both values. `note` says why a correlation is null.",
)
def benchmark_correlations(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        model_sets = load_model_sets(con)
        methods = dict(
            ((s, m), method)
            for s, m, method in con.execute(
                "select distinct source, model_set, method from marts.capabilities_components"
            ).fetchall()
        )
    frames = []
    for ms in model_sets:
        method = methods[(ms.source, ms.model_set)]
        frame = correlations(ms.capability_matrix, ms.comparisons(), method=method)
        frames.append(
            frame.with_columns(
                source=pl.lit(ms.source),
                model_set=pl.lit(ms.model_set),
                area=pl.col("benchmark").replace_strict(ms.area, default=None, return_dtype=pl.String),
                capabilities_method=pl.lit(method),
                snapshot=pl.lit(ms.snapshot),
                source_sha256=pl.lit(ms.sha256),
            )
        )
    result = (
        pl.concat(frames)
        .with_columns(ci_low=pl.lit(None, pl.Float64), ci_high=pl.lit(None, pl.Float64))
        .select(
            "source", "model_set", "benchmark", "area", "versus", "n_models", "spearman", "ci_low", "ci_high",
            "note", "capabilities_method", "snapshot", "source_sha256",
        )
    )
    with warehouse.connect() as con:
        replace_table(con, "marts.benchmark_correlations", result, context.assets_def.specs_by_key[CORRELATIONS_KEY].description)
    n_null = result["spearman"].null_count()
    context.log.info(f"{result.height} correlations, {n_null} undefined (see column note)")
    headline = result.filter(pl.col("versus") == "capabilities", pl.col("area").is_not_null(), pl.col("area") != "capabilities")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.height,
            "n_undefined": n_null,
            "rows_by_versus": dg.MetadataValue.json(
                dict(result.group_by("versus").len().sort("versus").iter_rows())
            ),
            "highest_capabilities_correlation": markdown_table(
                headline.sort("spearman", descending=True, nulls_last=True)
                .select("model_set", "benchmark", "area", "n_models", "spearman").head(10)
            ),
            "lowest_capabilities_correlation": markdown_table(
                headline.sort("spearman", nulls_last=True).select("model_set", "benchmark", "area", "n_models", "spearman").head(10)
            ),
        }
    )


@dg.asset_check(asset=CORRELATIONS_KEY, description="Every defined spearman lies in [-1, 1]; a null one has a note.")
def correlations_in_range(warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        bad = con.execute(
            """select count(*) from marts.benchmark_correlations
               where spearman not between -1 and 1 or (spearman is null and note is null)"""
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=bad == 0, metadata={"n_bad_rows": bad})


@dg.asset_check(asset=CORRELATIONS_KEY, description="One row per (source, model_set, benchmark, versus).")
def correlations_unique(warehouse: Warehouse) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        dupes = con.execute(
            """select count(*) from (select 1 from marts.benchmark_correlations
               group by source, model_set, benchmark, versus having count(*) > 1)"""
        ).fetchone()[0]
    return dg.AssetCheckResult(passed=dupes == 0, metadata={"n_duplicate_keys": dupes})
