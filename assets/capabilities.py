"""Capabilities score assets: PC1 of the z-scored capability inputs, per analysis (``analyses.toml``)."""

import dagster as dg
import numpy as np
import polars as pl

from .metadata import markdown_table
from .analyses import AnalysisError, load_analyses
from .model_sets import load_model_sets, skipped_sources
from .resources import Warehouse
from .settings import CapabilitiesSettings
from .stats.capabilities import fit_capabilities
from .warehouse import WRITER_POOL, replace_tables

MART_DEPS = [dg.AssetKey(["marts", "scores"]), dg.AssetKey(["marts", "models"]), dg.AssetKey(["marts", "benchmarks"])]
SKIPPED_DESCRIPTION = ("Sources whose newest snapshot the capabilities score is not fitted on, with the reason, "
                       "their models and benchmarks (nothing is dropped silently).")
_PROVENANCE = {"method": pl.String, "n_models": pl.Int64, "snapshot": pl.String, "source_sha256": pl.String}
SCORES_SCHEMA = {"analysis": pl.String, "source": pl.String, "model_set": pl.String, "model_id": pl.String, "capabilities_score": pl.Float64,
                 **_PROVENANCE}
COMPONENTS_SCHEMA = {"analysis": pl.String, "source": pl.String, "model_set": pl.String, "benchmark": pl.String, "loading": pl.Float64,
                     "variance_explained": pl.Float64, **_PROVENANCE}
SCORES_KEY = dg.AssetKey(["marts", "capabilities_scores"])
COMPONENTS_KEY = dg.AssetKey(["marts", "capabilities_components"])
SKIPPED_KEY = dg.AssetKey(["marts", "capabilities_skipped"])
ANALYSES_KEY = dg.AssetKey(["marts", "analyses"])
ANALYSES_SCHEMA = {"analysis": pl.String, "description": pl.String, "source": pl.String, "model_set": pl.String,
                   "snapshot": pl.String, "capability_inputs": pl.List(pl.String), "targets": pl.String,
                   "missing": pl.String, "capabilities_method": pl.String, "n_models": pl.Int64,
                   "n_models_scored": pl.Int64, "coverage": pl.Float64, "status": pl.String}
ANALYSES_DESCRIPTION = ("`marts.analyses(analysis, description, source, model_set, snapshot, capability_inputs, targets, "
                        "missing, capabilities_method, n_models, n_models_scored, coverage, status)`: every analysis of "
                        "`analyses.toml`: its population, the inputs of its score, what it correlates, its missing-value "
                        "method, and the fraction of (model, input) cells observed.")


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
            description="`marts.capabilities_scores(analysis, source, model_set, model_id, capabilities_score, method, "
            "n_models, snapshot, source_sha256)`: each model's capabilities score, the z-scored capability inputs "
            "projected on PC1. Null for a model missing a capability input (not used in the fit).",
        ),
        dg.AssetSpec(
            COMPONENTS_KEY,
            deps=MART_DEPS,
            kinds={"python", "duckdb"},
            description="`marts.capabilities_components(analysis, source, model_set, benchmark, loading, variance_explained, "
            "method, n_models, snapshot, source_sha256)`: PC1 loadings of the capability inputs; "
            "variance_explained (a fraction) is repeated on each row.",
        ),
        dg.AssetSpec(ANALYSES_KEY, deps=MART_DEPS, kinds={"python", "duckdb"}, description=ANALYSES_DESCRIPTION),
        dg.AssetSpec(SKIPPED_KEY, deps=MART_DEPS, kinds={"python", "duckdb"},
                     description="`marts.capabilities_skipped(source, snapshot, n_models, n_benchmarks, reason)`: "
                     + SKIPPED_DESCRIPTION),
    ],
)
def capabilities(context: dg.AssetExecutionContext, config: CapabilitiesConfig, warehouse: Warehouse):
    candidate = warehouse.candidate(context)
    try:
        analyses = load_analyses()
        with candidate.connect(read_only=True) as con:
            model_sets = load_model_sets(con, analyses)
            skipped = skipped_sources(con, analyses)
    except AnalysisError as exc:
        raise dg.Failure(f"{exc}. Nothing was published.") from None
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
            score_rows.append({"analysis": ms.analysis, "source": ms.source, "model_set": ms.model_set, "model_id": model_id,
                               "capabilities_score": None if np.isnan(score) else float(score), **prov})
        for bench, loading in zip(ms.capability_inputs, fit.loadings):
            component_rows.append({"analysis": ms.analysis, "source": ms.source, "model_set": ms.model_set, "benchmark": bench,
                                   "loading": float(loading), "variance_explained": fit.variance_explained, **prov})
        summary[ms.analysis] = {
            "variance_explained": round(fit.variance_explained, 4),
            "n_models": int(complete.sum()),
            "n_models_excluded_missing_input": int((~complete).sum()),
        }
        context.log.info(f"{ms.analysis}: PC1 explains {fit.variance_explained:.1%} over {complete.sum()} models")
    score_frame = pl.DataFrame(score_rows, schema=SCORES_SCHEMA)
    component_frame = pl.DataFrame(component_rows, schema=COMPONENTS_SCHEMA)
    fitted = {ms.analysis: ms for ms in model_sets}
    described = pl.DataFrame([{
        "analysis": a.name, "description": a.description, "source": a.source, "model_set": a.model_set,
        "snapshot": fitted[a.name].snapshot if a.name in fitted else None,
        "capability_inputs": fitted[a.name].capability_inputs if a.name in fitted else [],
        "targets": "all" if a.targets == "all" else ",".join(a.targets), "missing": a.missing,
        "capabilities_method": config.method,
        "n_models": len(fitted[a.name].model_ids) if a.name in fitted else 0,
        "n_models_scored": summary.get(a.name, {}).get("n_models", 0),
        "coverage": float(1 - np.isnan(fitted[a.name].capability_matrix).mean()) if a.name in fitted else None,
        "status": "fitted" if a.name in fitted else "no data: its source has no rows for this population",
    } for a in analyses], schema=ANALYSES_SCHEMA)
    with candidate.connect() as con:
        replace_tables(con, {
            "marts.capabilities_scores": (score_frame, capabilities.specs_by_key[SCORES_KEY].description),
            "marts.capabilities_components": (component_frame, capabilities.specs_by_key[COMPONENTS_KEY].description),
            "marts.capabilities_skipped": (skipped, SKIPPED_DESCRIPTION),
            "marts.analyses": (described, ANALYSES_DESCRIPTION),
        })
    yield dg.MaterializeResult(
        asset_key=SCORES_KEY,
        metadata={
            "dagster/row_count": score_frame.height,
            "method": config.method,
            "fits": dg.MetadataValue.json(summary),

            "top_models": markdown_table(score_frame.sort("capabilities_score", descending=True, nulls_last=True)
                                         .select("analysis", "model_id", "capabilities_score").head(10)),
        },
    )
    yield dg.MaterializeResult(
        asset_key=ANALYSES_KEY,
        metadata={"dagster/row_count": described.height,
                  "analyses": markdown_table(described.select("analysis", "source", "model_set", "n_models", "coverage", "status"))},
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
            "loadings": markdown_table(component_frame.select("analysis", "benchmark", "loading")),
        },
    )
