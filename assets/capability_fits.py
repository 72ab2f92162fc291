"""Capabilities score assets: PC1 of the z-scored capability inputs, per analysis (``analyses.toml``).

A graph of steps: ``plan_capabilities`` loads and checks ``analyses.toml``, fingerprints each analysis (its
populations, definition, the run's settings and the analysis code: :func:`~assets.model_sets.fingerprint`) and
keeps the published rows of every analysis whose fingerprint is the published one (unless the run is forced),
emptying the two score marts of the others; then one ``fit_analysis`` step per analysis to compute loads its
populations, fits each snapshot and appends its rows (DuckLake commits the steps' appends concurrently, so on a
distributed executor the analyses fit at once), and ``describe_analyses`` writes ``marts.analyses`` (which
records the run that computed each analysis: the later steps compute those only) and
``marts.capabilities_skipped`` and the metadata.
"""

import json

import dagster as dg
import duckdb
import numpy as np
import polars as pl

from .metadata import column_schema, table_metadata
from .analyses import Analysis, AnalysisError, launched_analyses_sha256, load_analyses
from .model_sets import code_sha256, fingerprint, load_model_sets, skipped_sources
from .resources import Warehouse
from .settings import CAPABILITIES_OP, CapabilitiesSettings, forced, run_settings, validate
from .stats.capabilities import fit_capabilities
from .warehouse import WRITER_POOL, append_once, keep_analyses, query_frame, replace_tables
from .keys import ANALYSES_KEY, COMPONENTS_KEY, MART_DEPS, SCORES_KEY, SKIPPED_KEY

SKIPPED_DESCRIPTION = (
    "Sources whose newest snapshot no analysis reads, with the reason, their models and benchmarks "
    "(nothing is dropped silently)."
)
_PROVENANCE = {
    "method": pl.String,
    "n_models": pl.Int64,
    "snapshot": pl.String,
    "snapshot_date": pl.Date,
    "source_sha256": pl.String,
}
SCORES_SCHEMA = {
    "analysis": pl.String,
    "source": pl.String,
    "model_set": pl.String,
    "model_id": pl.String,
    "model_key": pl.String,
    "capabilities_score": pl.Float64,
    "imputed_inputs": pl.Int64,
    "training_flop": pl.Float64,
    **_PROVENANCE,
}
COMPONENTS_SCHEMA = {
    "analysis": pl.String,
    "source": pl.String,
    "model_set": pl.String,
    "benchmark": pl.String,
    "loading": pl.Float64,
    "variance_explained": pl.Float64,
    **_PROVENANCE,
}
UPSTREAM = dict(zip(("scores", "models", "benchmarks", "model_identity"), MART_DEPS))
ANALYSES_SCHEMA = {
    "analysis": pl.String,
    "description": pl.String,
    "source": pl.String,
    "model_set": pl.String,
    "population": pl.String,
    "snapshot": pl.String,
    "snapshot_date": pl.Date,
    "n_snapshots": pl.Int64,
    "n_snapshots_not_landed": pl.Int64,
    "snapshots_not_landed": pl.String,
    "inputs_source": pl.String,
    "inputs_snapshot": pl.String,
    "inputs_sha256": pl.String,
    "capability_inputs": pl.List(pl.String),
    "targets": pl.String,
    "missing": pl.String,
    "bootstrap_imputation": pl.String,
    "capabilities_method": pl.String,
    "resamples": pl.Int64,
    "n_models": pl.Int64,
    "n_models_scored": pl.Int64,
    "coverage": pl.Float64,
    "excluded": pl.String,
    "status": pl.String,
    "definition": pl.String,
    "inputs_fingerprint": pl.String,
    "computed_in_run": pl.String,
}
ANALYSES_DESCRIPTION = (
    "`marts.analyses`: every analysis of `analyses.toml`, one row each: its population (source, "
    "model set, files, families), the snapshot it reads (the newest one when it reads each), how many "
    "pinned snapshots it would read are not landed (failed or not fetched: marts.snapshots_missing "
    "says why) and which, the "
    "source and snapshot of its inputs, its inputs and targets, missing-value method and how the "
    "bootstrap treats imputed cells (`bootstrap_imputation`: 'per_resample', each resample "
    "re-imputes its own matrix, so intervals carry the imputation's uncertainty; 'once', the "
    "full sample's imputation resampled; null: nothing imputed), capabilities method, resamples B (null: the run's), the "
    "newest snapshot's models, models scored, coverage (fraction of (model, input) cells "
    "observed), models excluded by reason (JSON), status, the definition as loaded (JSON), the "
    "sha256 of everything its rows are computed from (`inputs_fingerprint`: populations, "
    "definition, settings, code) and the run that computed them (`computed_in_run`: an analysis "
    "whose fingerprint a later refresh finds unchanged keeps its rows, and this run id)."
)


SCORES_DESCRIPTION = (
    "`marts.capabilities_scores(analysis, source, model_set, model_id, model_key, capabilities_score, "
    "imputed_inputs, training_flop, method, n_models, snapshot, snapshot_date, source_sha256)`: each model's "
    "capabilities score per analysis and snapshot, its (z-scored) capability inputs projected on PC1; "
    "`model_key` from marts.model_identity; `imputed_inputs` how many of its inputs were imputed; "
    "`training_flop` the training compute the analysis correlates with (null where unknown). Null for a model missing an "
    "input that was not imputed (not used in the fit)."
)
COMPONENTS_DESCRIPTION = (
    "`marts.capabilities_components(analysis, source, model_set, benchmark, loading, variance_explained, "
    "method, n_models, snapshot, snapshot_date, source_sha256)`: PC1 loadings of the capability inputs per "
    "analysis and snapshot; variance_explained (PC1's explained-variance ratio, a fraction) on each row."
)


class CapabilitiesConfig(dg.Config, CapabilitiesSettings):
    """How the capabilities score is fitted (bounds and descriptions in :mod:`assets.settings`)."""


@dg.op(
    ins={name: dg.In(dg.Nothing) for name in UPSTREAM},
    out={"fits": dg.DynamicOut(dict), "plan": dg.Out(dict)},
    description="Load and check analyses.toml, keep the published rows of the analyses whose inputs, settings and "
    "code are unchanged, empty the two score marts of the others, and fan out one fit step per analysis to compute.",
    pool=WRITER_POOL,
)
def plan_capabilities(context: dg.OpExecutionContext, warehouse: Warehouse):
    try:
        launched_analyses_sha256(context.run.tags)
        analyses = load_analyses()
    except AnalysisError as exc:
        raise dg.Failure(f"{exc}. Nothing was published.") from None
    candidate = warehouse.candidate(context)
    run_config = context.run.run_config
    force = forced(run_config)
    shared = {"settings": run_settings(run_config), "code": code_sha256()}
    try:
        with candidate.connect(read_only=True) as con:
            published = _published_fingerprints(con)
            prints = {
                a.name: fingerprint(
                    load_model_sets(con, [a], run_key=candidate.run_key), {**shared, "definition": a.model_dump_json()}
                )
                for a in analyses
            }
    except AnalysisError as exc:
        raise dg.Failure(f"{exc}. Nothing was published.") from None
    kept = [] if force else [a.name for a in analyses if published.get(a.name) == prints[a.name]]
    computed = [(index, a) for index, a in enumerate(analyses) if a.name not in kept]
    with candidate.connect() as con:
        keep_analyses(
            con,
            {
                "marts.capabilities_scores": (pl.DataFrame(schema=SCORES_SCHEMA), SCORES_DESCRIPTION),
                "marts.capabilities_components": (pl.DataFrame(schema=COMPONENTS_SCHEMA), COMPONENTS_DESCRIPTION),
            },
            kept,
        )
    if kept:
        context.log.info(
            f"kept the published rows of {', '.join(kept)}: their populations, definitions, settings and "
            f"code are unchanged; computing {', '.join(a.name for _, a in computed) or 'none'}"
        )
    elif force and published:
        context.log.info("forced: computing every analysis")
    yield dg.Output({"order": [a.name for a in analyses], "kept": kept, "fingerprints": prints}, "plan")
    if not computed:  # one empty step, so that the tables describing the set are still written
        yield dg.DynamicOutput(
            {"index": 0, "definition": None},
            output_name="fits",
            mapping_key="no_analysis" if not analyses else "nothing_to_compute",
        )
    for index, analysis in computed:
        yield dg.DynamicOutput(
            {"index": index, "definition": analysis.model_dump_json()}, output_name="fits", mapping_key=analysis.name
        )


def _published_fingerprints(con) -> dict[str, str]:
    """Each analysis's fingerprint as the version the candidate started from recorded it (none before any)."""
    try:
        return dict(con.execute("select analysis, inputs_fingerprint from marts.analyses").fetchall())
    except duckdb.Error:  # no version yet, or one from before fingerprints
        return {}


@dg.op(
    out=dg.Out(dict),
    description="One analysis: its populations loaded, PC1 fitted in each snapshot it reads, its rows appended to "
    "the two score marts.",
    pool=WRITER_POOL,
)
def fit_analysis(context: dg.OpExecutionContext, config: CapabilitiesConfig, spec: dict, warehouse: Warehouse) -> dict:
    if spec["definition"] is None:
        return {"index": 0, "analysis": None}
    analysis = Analysis.model_validate_json(spec["definition"])
    candidate = warehouse.candidate(context)
    try:
        with candidate.connect(read_only=True) as con:
            model_sets = load_model_sets(con, [analysis], run_key=candidate.run_key)
    except AnalysisError as exc:
        raise dg.Failure(f"{exc}. Nothing was published.") from None
    method = analysis.method(config.method)
    score_rows, component_rows, summary = [], [], None
    for ms in model_sets:
        caps = ms.capability_matrix
        complete = ~np.isnan(caps).any(axis=1)
        try:
            fit = fit_capabilities(caps[complete], method=method)
        except ValueError as exc:  # too few models, or a constant input: no score, said in marts.analyses
            summary = {"n_models": int(complete.sum()), "error": str(exc)}
            continue
        prov = {
            "method": method,
            "n_models": int(complete.sum()),
            "snapshot": ms.snapshot,
            "snapshot_date": ms.snapshot_date,
            "source_sha256": ms.sha256,
        }
        scores = np.full(len(ms.model_ids), np.nan)
        scores[complete] = fit.scores
        imputed = np.isnan(ms.observed_inputs).sum(axis=1)
        for model_id, key, score, n_imputed, flop in zip(
            ms.model_ids, ms.model_keys, scores, imputed, ms.training_flop
        ):
            score_rows.append(
                {
                    "analysis": ms.analysis,
                    "source": ms.source,
                    "model_set": ms.model_set,
                    "model_id": model_id,
                    "model_key": key,
                    "capabilities_score": None if np.isnan(score) else float(score),
                    "imputed_inputs": int(n_imputed) if ms.imputed_inputs is not None else 0,
                    "training_flop": None if np.isnan(flop) else float(flop),
                    **prov,
                }
            )
        for bench, loading in zip(ms.capability_inputs, fit.loadings):
            component_rows.append(
                {
                    "analysis": ms.analysis,
                    "source": ms.source,
                    "model_set": ms.model_set,
                    "benchmark": bench,
                    "loading": float(loading),
                    "variance_explained": fit.variance_explained,
                    **prov,
                }
            )
        summary = {
            "variance_explained": round(fit.variance_explained, 4),
            "n_models": int(complete.sum()),
            "n_models_without_score": int((~complete).sum()),
        }
    context.log.info(
        f"{analysis.name}: no score ({summary['error']})"
        if summary and "error" in summary
        else f"{analysis.name}: PC1 explains {summary['variance_explained']:.1%} over {summary['n_models']} models "
        f"(newest of {len(model_sets)} snapshot(s))"
        if summary
        else f"{analysis.name}: no data"
    )
    with candidate.connect() as con:
        held = append_once(
            con,
            {
                "marts.capabilities_scores": pl.DataFrame(score_rows, schema=SCORES_SCHEMA),
                "marts.capabilities_components": pl.DataFrame(component_rows, schema=COMPONENTS_SCHEMA),
            },
            analysis.name,
        )
    if held:
        context.log.info(f"{analysis.name}: its {held} rows were appended by an earlier attempt of this step")
    described = _describe(analysis, model_sets[-1] if model_sets else None, summary, config.method, len(model_sets))
    return {
        "index": spec["index"],
        "analysis": analysis.name,
        "summary": summary,
        "described": {
            **described,
            "snapshot_date": described["snapshot_date"] and described["snapshot_date"].isoformat(),
        },
    }


@dg.op(
    out={name: dg.Out(dg.Nothing) for name in ("scores", "components", "analyses", "skipped")},
    description="Every analysis, in the file's order: marts.analyses and marts.capabilities_skipped, and the "
    "score marts' metadata.",
    pool=WRITER_POOL,
)
def describe_analyses(
    context: dg.OpExecutionContext, config: CapabilitiesConfig, fits: list[dict], plan: dict, warehouse: Warehouse
):
    candidate = warehouse.candidate(context)
    computed = {
        f["analysis"]: {
            **f["described"],
            "inputs_fingerprint": plan["fingerprints"][f["analysis"]],
            "computed_in_run": candidate.run_key,
        }
        for f in fits
        if f["analysis"] is not None
    }
    summary = {f["analysis"]: f["summary"] for f in fits if f["analysis"] is not None and f["summary"]}
    with candidate.connect(read_only=True) as con:
        # the analyses this run did not compute keep the published version's record
        kept = (
            {
                row["analysis"]: {**row, "snapshot_date": row["snapshot_date"] and row["snapshot_date"].isoformat()}
                for row in query_frame(
                    con, "select * from marts.analyses where list_contains(?, analysis)", [plan["kept"]]
                ).iter_rows(named=True)
            }
            if plan["kept"]
            else {}
        )
        described_rows = [computed.get(name) or kept[name] for name in plan["order"]]
        analyses = [Analysis.model_validate_json(row["definition"]) for row in described_rows]
        skipped = skipped_sources(con, analyses)
        not_landed = query_frame(
            con,
            """
            select m.source, m.snapshot, cast(timezone('UTC', m.snapshot_at) as date) as snapshot_date, m.status,
                   m.snapshot_at > coalesce(l.newest, '-infinity'::timestamptz) as after_newest_landed
            from raw.snapshots_missing m
            left join (select source, max(snapshot_at) as newest from raw.snapshots group by source) l using (source)
            order by m.snapshot_at""",
        )
        score_frame = query_frame(
            con, "select * from marts.capabilities_scores order by analysis, snapshot_date, model_id"
        )
        component_frame = query_frame(
            con, "select * from marts.capabilities_components order by analysis, snapshot_date, benchmark"
        )
    for row in skipped.iter_rows(named=True):
        context.log.info(
            f"{row['source']}: skipped ({row['n_models']} models, {row['n_benchmarks']} benchmarks): {row['reason']}"
        )
    described = (
        pl.DataFrame(
            [{**row, **_not_landed(a, not_landed)} for row, a in zip(described_rows, analyses)],
            schema={**ANALYSES_SCHEMA, "snapshot_date": pl.String},
        )
        .with_columns(pl.col("snapshot_date").str.to_date())
        .select(list(ANALYSES_SCHEMA))
    )
    for row in described.filter(pl.col("n_snapshots_not_landed") > 0).iter_rows(named=True):
        context.log.warning(
            f"{row['analysis']}: {row['n_snapshots_not_landed']} snapshot(s) it would read are not "
            f"landed: {row['snapshots_not_landed']}"
        )
    with candidate.connect() as con:
        replace_tables(
            con,
            {
                "marts.capabilities_skipped": (skipped, SKIPPED_DESCRIPTION),
                "marts.analyses": (described, ANALYSES_DESCRIPTION),
            },
        )
    yield dg.Output(
        None,
        "scores",
        metadata={
            "dagster/row_count": score_frame.height,
            "dagster/column_schema": column_schema(score_frame, "marts.capabilities_scores"),
            "method": config.method,
            "fits": dg.MetadataValue.json(summary),
            "kept_published_rows": dg.MetadataValue.json(plan["kept"]),
            "top_models": table_metadata(
                score_frame.filter(pl.col("capabilities_score").is_not_null())
                .sort("capabilities_score", descending=True)
                .select("analysis", "model_id", "capabilities_score")
                .head(10)
            ),
        },
    )
    yield dg.Output(
        None,
        "analyses",
        metadata={
            "dagster/row_count": described.height,
            "dagster/column_schema": column_schema(described, "marts.analyses"),
            "analyses": table_metadata(
                described.select(
                    "analysis", "source", "n_snapshots", "n_models", "n_models_scored", "coverage", "status"
                )
            ),
        },
    )
    yield dg.Output(
        None,
        "skipped",
        metadata={
            "dagster/row_count": skipped.height,
            "dagster/column_schema": column_schema(skipped, "marts.capabilities_skipped"),
            "skipped": table_metadata(skipped.select("source", "n_models", "n_benchmarks", "reason")),
        },
    )
    newest_components = component_frame.join(described.select("analysis", "snapshot"), on=["analysis", "snapshot"])
    yield dg.Output(
        None,
        "components",
        metadata={
            "dagster/row_count": component_frame.height,
            "dagster/column_schema": column_schema(component_frame, "marts.capabilities_components"),
            "method": config.method,
            **{
                f"variance_explained/{k}": v["variance_explained"]
                for k, v in summary.items()
                if "variance_explained" in v
            },
            "loadings": table_metadata(newest_components.select("analysis", "benchmark", "loading")),
        },
    )


def _config_mapping(config: CapabilitiesConfig) -> dict:
    values = validate(CapabilitiesConfig, config, prefix="capabilities.").model_dump()
    return {name: {"config": values} for name in ("fit_analysis", "describe_analyses")}


@dg.graph_multi_asset(
    name=CAPABILITIES_OP,  # the Launchpad's config key
    group_name="marts",
    outs={
        "scores": dg.AssetOut(
            key=SCORES_KEY, kinds={"python", "duckdb"}, description=SCORES_DESCRIPTION, dagster_type=dg.Nothing
        ),
        "components": dg.AssetOut(
            key=COMPONENTS_KEY, kinds={"python", "duckdb"}, description=COMPONENTS_DESCRIPTION, dagster_type=dg.Nothing
        ),
        "analyses": dg.AssetOut(
            key=ANALYSES_KEY, kinds={"python", "duckdb"}, description=ANALYSES_DESCRIPTION, dagster_type=dg.Nothing
        ),
        "skipped": dg.AssetOut(
            key=SKIPPED_KEY,
            kinds={"python", "duckdb"},
            dagster_type=dg.Nothing,
            description="`marts.capabilities_skipped(source, snapshot, n_models, n_benchmarks, reason)`: "
            + SKIPPED_DESCRIPTION,
        ),
    },
    ins={name: dg.AssetIn(key=key, dagster_type=dg.Nothing) for name, key in UPSTREAM.items()},
    config=dg.ConfigMapping(config_fn=_config_mapping, config_schema=CapabilitiesConfig.to_config_schema()),
)
def capabilities(scores, models, benchmarks, model_identity):
    fits, plan = plan_capabilities(scores=scores, models=models, benchmarks=benchmarks, model_identity=model_identity)
    scores, components, analyses, skipped = describe_analyses(fits.map(fit_analysis).collect(), plan)
    return {"scores": scores, "components": components, "analyses": analyses, "skipped": skipped}


def _not_landed(analysis, missing: pl.DataFrame) -> dict:
    """The pinned snapshots of the analysis's sources it would read but cannot: every one from ``since`` when it
    reads each snapshot; those newer than the newest landed when it reads the newest (its own, or its inputs')."""
    own = missing.filter(pl.col("source") == analysis.source)
    if analysis.snapshot == "each" and analysis.since is not None:
        own = own.filter(pl.col("snapshot_date") >= analysis.since)
    elif analysis.snapshot == "latest":
        own = own.filter(pl.col("after_newest_landed"))
    inputs = missing.filter((pl.col("source") == (analysis.inputs_source or "")) & pl.col("after_newest_landed"))
    rows = pl.concat([own, inputs])
    listed = "; ".join(
        f"{r['source']} {r['snapshot']} ({r['snapshot_date']}, {r['status']})"
        for r in rows.head(20).iter_rows(named=True)
    )
    return {
        "n_snapshots_not_landed": rows.height,
        "snapshots_not_landed": (listed + (f"; and {rows.height - 20} more" if rows.height > 20 else "")) or None,
    }


def _describe(analysis, ms, summary, default_method: str, n_snapshots: int) -> dict:
    population = ", ".join(
        f"{k}={v}"
        for k, v in [
            ("model_set", analysis.model_set),
            ("files", analysis.files),
            ("families", analysis.families),
            ("since", analysis.since),
            ("exclude_models", analysis.exclude_models),
        ]
        if v
    )
    status = "fitted"
    if ms is None:
        status = (
            "no data: no rows for this population in source "
            + repr(analysis.source)
            + (f" or inputs_source {analysis.inputs_source!r}" if analysis.inputs_source else "")
        )
    elif summary is None or "error" in summary:
        status = f"no score: {summary['error'] if summary else 'not fitted'}"
    return {
        "analysis": analysis.name,
        "description": analysis.description,
        "source": analysis.source,
        "model_set": analysis.model_set,
        "population": population or "every model of the source",
        "snapshot": ms.snapshot if ms else None,
        "snapshot_date": ms.snapshot_date if ms else None,
        "n_snapshots": n_snapshots,
        "inputs_source": analysis.inputs_source,
        "inputs_snapshot": ms.inputs_snapshot if ms else None,
        "inputs_sha256": ms.inputs_sha256 if ms else None,
        "capability_inputs": ms.capability_inputs if ms else [],
        "targets": "all" if analysis.targets == "all" else ",".join(analysis.targets),
        "missing": analysis.missing,
        "bootstrap_imputation": analysis.bootstrap_imputation if analysis.missing == "pca_impute" else None,
        "capabilities_method": analysis.method(default_method),
        "resamples": analysis.resamples,
        "n_models": len(ms.model_ids) if ms else 0,
        "n_models_scored": (summary or {}).get("n_models", 0) if status == "fitted" else 0,
        "coverage": ms.coverage if ms else None,
        "excluded": json.dumps(ms.excluded) if ms else None,
        "status": status,
        "definition": analysis.model_dump_json(),
    }
