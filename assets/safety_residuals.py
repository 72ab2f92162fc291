"""`marts.safety_residuals`: per analysis, safety benchmark and model, the score beyond what capabilities predict."""

import dagster as dg
import polars as pl

from .metadata import column_schema, table_metadata
from .model_sets import fitted_analyses, kept_analyses, load_model_sets
from .resources import Warehouse
from .stats.residuals import capability_residuals
from .warehouse import WRITER_POOL, append_frame, keep_analyses, query_frame
from .keys import RESIDUALS_KEY, SCORES_KEY

SCHEMA = {
    "analysis": pl.String,
    "benchmark": pl.String,
    "area": pl.String,
    "model_id": pl.String,
    "model_key": pl.String,
    "capabilities_score": pl.Float64,
    "observed": pl.Float64,
    "expected": pl.Float64,
    "residual": pl.Float64,
    "residual_z": pl.Float64,
    "n_models": pl.Int64,
    "slope": pl.Float64,
    "intercept": pl.Float64,
    "snapshot": pl.String,
    "source_sha256": pl.String,
}
DESCRIPTION = (
    "`marts.safety_residuals(analysis, benchmark, area, model_id, model_key, capabilities_score, observed, expected, "
    "residual, residual_z, n_models, slope, intercept, snapshot, source_sha256)`: differential progress. For every "
    "target benchmark of every fitted analysis (not one of its capability inputs; `area` its safety area, null where "
    "the paper's taxonomy has none, as for Arena's score), in its newest snapshot: "
    "`expected` is the least-squares line of the benchmark (oriented, higher is safer) on the capabilities score "
    "over the models with both, `residual = observed - expected` (positive: safer than its capabilities explain), "
    "`residual_z` the residual over the residuals' standard deviation (comparable across benchmarks)."
)


@dg.asset(
    key=RESIDUALS_KEY,
    deps=[SCORES_KEY],
    group_name="marts",
    kinds={"python", "duckdb"},
    pool=WRITER_POOL,
    description=DESCRIPTION,
)
def safety_residuals(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    candidate = warehouse.candidate(context)
    with candidate.connect(read_only=True) as con:
        computed = fitted_analyses(con, computed_in=candidate.run_key)  # the others keep their published rows
        kept = kept_analyses(con, candidate.run_key)
        newest = {
            ms.analysis: ms for ms in load_model_sets(con, computed, run_key=candidate.run_key)
        }  # sets come oldest first
        scores = query_frame(
            con, "select analysis, snapshot, model_id, model_key, capabilities_score from marts.capabilities_scores"
        )
    frames = []
    for name, ms in newest.items():
        fitted = scores.filter(pl.col("analysis") == name, pl.col("snapshot") == ms.snapshot)
        aligned = pl.DataFrame({"model_id": ms.model_ids}).join(fitted, on="model_id", how="left")
        score = aligned["capabilities_score"].to_numpy().astype(float)
        for bench in ms.benchmarks:
            area = ms.area.get(bench)
            if bench in ms.capability_inputs or area == "capabilities":
                continue
            found = capability_residuals(score, ms.column(bench), ms.model_ids)
            if found.is_empty():
                continue
            frames.append(
                found.join(
                    aligned.select("model_id", "model_key", "capabilities_score"), on="model_id", how="left"
                ).with_columns(
                    analysis=pl.lit(name),
                    benchmark=pl.lit(bench),
                    area=pl.lit(area, dtype=pl.String),
                    snapshot=pl.lit(ms.snapshot),
                    source_sha256=pl.lit(ms.sha256),
                )
            )
    table = pl.concat(frames).select(list(SCHEMA)) if frames else pl.DataFrame(schema=SCHEMA)
    with candidate.connect() as con:
        keep_analyses(con, {"marts.safety_residuals": (pl.DataFrame(schema=SCHEMA), DESCRIPTION)}, kept)
        if table.height:
            append_frame(con, "marts.safety_residuals", table)
        total = con.execute("select count(*) from marts.safety_residuals").fetchone()[0]
    view = ("analysis", "benchmark", "model_id", "observed", "expected", "residual_z")
    ranked = table.sort("residual_z", descending=True)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "dagster/column_schema": column_schema(table, "marts.safety_residuals"),
            "analyses_computed": dg.MetadataValue.json(sorted(newest)),
            "analyses_kept": dg.MetadataValue.json(kept),
            "benchmarks": table.select("analysis", "benchmark").unique().height,
            "safer_than_capabilities_explain": table_metadata(ranked.select(view).head(10)),
            "less_safe_than_capabilities_explain": table_metadata(ranked.select(view).tail(10).reverse()),
        }
    )
