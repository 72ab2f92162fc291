"""Capabilities score assets: PC1 of the z-scored capability inputs, per (source, model_set)."""

import dagster as dg
import numpy as np
import polars as pl

from .metadata import markdown_table
from .model_sets import load_model_sets, skipped_sources
from .resources import Warehouse
from .settings import CapabilitiesSettings
from .stats.capabilities import fit_capabilities
from .warehouse import WRITER_POOL, replace_tables

MART_DEPS = [dg.AssetKey(["marts", "scores"]), dg.AssetKey(["marts", "models"]), dg.AssetKey(["marts", "benchmarks"])]
SKIPPED_DESCRIPTION = ("Sources whose newest snapshot the capabilities score is not fitted on, with the reason, "
                       "their models and benchmarks (nothing is dropped silently).")
_PROVENANCE = {"method": pl.String, "n_models": pl.Int64, "snapshot": pl.String, "source_sha256": pl.String}
SCORES_SCHEMA = {"source": pl.String, "model_set": pl.String, "model_id": pl.String, "capabilities_score": pl.Float64,
                 **_PROVENANCE}
COMPONENTS_SCHEMA = {"source": pl.String, "model_set": pl.String, "benchmark": pl.String, "loading": pl.Float64,
                     "variance_explained": pl.Float64, **_PROVENANCE}
SCORES_KEY = dg.AssetKey(["marts", "capabilities_scores"])
COMPONENTS_KEY = dg.AssetKey(["marts", "capabilities_components"])
SKIPPED_KEY = dg.AssetKey(["marts", "capabilities_skipped"])


class CapabilitiesConfig(dg.Config, CapabilitiesSettings):
    """How the capabilities score is fitted (bounds and descriptions in :mod:`assets.settings`)."""


@dg.multi_asset(
    name="capabilities",
    group_name="analysis",
    pool=WRITER_POOL,
    specs=[
        dg.AssetSpec(
            SCORES_KEY,
            deps=MART_DEPS,
            kinds={"python", "duckdb"},
            description="`marts.capabilities_scores(source, model_set, model_id, capabilities_score, method, "
            "n_models, snapshot, source_sha256)`: each model's capabilities score, the z-scored capability inputs "
            "projected on PC1. Null for a model missing a capability input (not used in the fit).",
        ),
        dg.AssetSpec(
            COMPONENTS_KEY,
            deps=MART_DEPS,
            kinds={"python", "duckdb"},
            description="`marts.capabilities_components(source, model_set, benchmark, loading, variance_explained, "
            "method, n_models, snapshot, source_sha256)`: PC1 loadings of the capability inputs; "
            "variance_explained (a fraction) is repeated on each row.",
        ),
        dg.AssetSpec(SKIPPED_KEY, deps=MART_DEPS, kinds={"python", "duckdb"},
                     description="`marts.capabilities_skipped(source, snapshot, n_models, n_benchmarks, reason)`: "
                     + SKIPPED_DESCRIPTION),
    ],
)
def capabilities(context: dg.AssetExecutionContext, config: CapabilitiesConfig, warehouse: Warehouse):
    candidate = warehouse.candidate(context)
    with candidate.connect(read_only=True) as con:
        model_sets = load_model_sets(con)
        skipped = skipped_sources(con)
    for row in skipped.iter_rows(named=True):
        context.log.info(f"{row['source']}: skipped ({row['n_models']} models, {row['n_benchmarks']} benchmarks): {row['reason']}")
    score_rows, component_rows, summary = [], [], {}
    for ms in model_sets:
        caps = ms.capability_matrix
        complete = ~np.isnan(caps).any(axis=1)
        fit = fit_capabilities(caps[complete], method=config.method)
        prov = {"method": config.method, "n_models": int(complete.sum()), "snapshot": ms.snapshot, "source_sha256": ms.sha256}
        scores = np.full(len(ms.model_ids), np.nan)
        scores[complete] = fit.scores
        for model_id, score in zip(ms.model_ids, scores):
            score_rows.append({"source": ms.source, "model_set": ms.model_set, "model_id": model_id,
                               "capabilities_score": None if np.isnan(score) else float(score), **prov})
        for bench, loading in zip(ms.capability_inputs, fit.loadings):
            component_rows.append({"source": ms.source, "model_set": ms.model_set, "benchmark": bench,
                                   "loading": float(loading), "variance_explained": fit.variance_explained, **prov})
        summary[f"{ms.source}/{ms.model_set}"] = {
            "variance_explained": round(fit.variance_explained, 4),
            "n_models": int(complete.sum()),
            "n_models_excluded_missing_input": int((~complete).sum()),
        }
        context.log.info(f"{ms.source}/{ms.model_set}: PC1 explains {fit.variance_explained:.1%} over {complete.sum()} models")
    score_frame = pl.DataFrame(score_rows, schema=SCORES_SCHEMA)
    component_frame = pl.DataFrame(component_rows, schema=COMPONENTS_SCHEMA)
    with candidate.connect() as con:
        replace_tables(con, {
            "marts.capabilities_scores": (score_frame, capabilities.specs_by_key[SCORES_KEY].description),
            "marts.capabilities_components": (component_frame, capabilities.specs_by_key[COMPONENTS_KEY].description),
            "marts.capabilities_skipped": (skipped, SKIPPED_DESCRIPTION),
        })
    yield dg.MaterializeResult(
        asset_key=SCORES_KEY,
        metadata={
            "dagster/row_count": score_frame.height,
            "method": config.method,
            "fits": dg.MetadataValue.json(summary),

            "top_models": markdown_table(score_frame.sort("capabilities_score", descending=True, nulls_last=True)
                                         .select("model_set", "model_id", "capabilities_score").head(10)),
        },
    )
    yield dg.MaterializeResult(
        asset_key=SKIPPED_KEY,
        metadata={"dagster/row_count": skipped.height,
                  "skipped": markdown_table(skipped.select("source", "n_models", "n_benchmarks", "reason"))},
    )
    yield dg.MaterializeResult(
        asset_key=COMPONENTS_KEY,
        metadata={
            "dagster/row_count": component_frame.height,
            "method": config.method,
            **{f"variance_explained/{k}": v["variance_explained"] for k, v in summary.items()},
            "loadings": markdown_table(component_frame.select("model_set", "benchmark", "loading")),
        },
    )
