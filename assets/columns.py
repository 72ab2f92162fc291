"""Column descriptions of the marts the Python assets write: the one place they live.

:func:`~assets.warehouse.write_table` turns them into the lake's column comments (what `safetywash tables`,
any DuckDB client and `docs/tables.md` show) and :func:`~assets.metadata.column_schema` into the Dagster UI's
column schema. The dbt marts' columns are described in `sql/models/marts/_marts.yml`, the same way.
"""

from __future__ import annotations

_SHARED = {
    "analysis": "The analysis of `analyses.toml` the row belongs to.",
    "source": "Source registry entry (`assets/registry/<source>.toml`) the population was read from.",
    "model_set": "Model set of the source the population is drawn from (`base`, `chat`); null: every model.",
    "snapshot": "The source snapshot the row was computed from: a pinned commit, or `<date>_<sha256 prefix>` for "
    "content first seen at a `latest` address.",
    "snapshot_date": "The snapshot's date (UTC).",
    "source_sha256": "sha256 of the source file(s) the population was read from (comma-separated when several).",
    "benchmark": "Benchmark metric column of the source.",
    "model_id": "The model's id in the source.",
    "model_key": "The model's identity across sources (`marts.model_identity`); null: not matched.",
    "n_models": "Models the statistic is computed over.",
    "area": "Safety area of the benchmark in the paper's taxonomy (`benchmark_taxonomy` seed); null: none.",
    "capabilities_score": "The model's capabilities score: its (standardised) capability inputs projected on PC1.",
    "method": "How the score was fitted: `paper` (Spearman-matrix PC1), `sklearn` (PCA of z-scores) or "
    "`obsscaling` (PCA of the unstandardised inputs).",
    "capabilities_method": "How the capabilities score was fitted (`paper`, `sklearn`, `obsscaling`).",
    "spearman": "Spearman correlation, a fraction in [-1, 1]; null where undefined (`note` says why).",
    "ci_low": "Lower end of the bootstrap interval of `spearman`.",
    "ci_high": "Upper end of the bootstrap interval of `spearman`.",
    "ci_method": "`bca`, or `percentile` where BCa's jackknife is undefined or the population is large.",
    "n_resamples": "Bootstrap resamples B (the run's, or fewer when the analysis asks for fewer).",
    "versus": "What the benchmark is correlated with: `capabilities` (the score), `capabilities_loo` (the score "
    "refitted without the benchmark, capability inputs only), `compute` (training FLOP), `accuracy` (the same "
    "task's accuracy, calibration metrics).",
}

COLUMNS: dict[str, dict[str, str]] = {
    "marts.analyses": {
        "analysis": "The analysis's name in `analyses.toml`.",
        "description": "Its description, as written in `analyses.toml`.",
        "source": _SHARED["source"],
        "model_set": _SHARED["model_set"],
        "population": "Its population's filters (model set, files, families, since, exclude_models).",
        "snapshot": "The snapshot it reads (the newest one when it reads each).",
        "snapshot_date": _SHARED["snapshot_date"],
        "n_snapshots": 'Snapshots it reads (one per fit when `snapshot = "each"`).',
        "n_snapshots_not_landed": "Pinned snapshots it would read that are not landed (marts.snapshots_missing says why).",
        "snapshots_not_landed": "Those snapshots: source, snapshot, date and status (the first 20).",
        "inputs_source": "The source its capability inputs are read from, joined on `model_key`; null: its own.",
        "inputs_snapshot": "The snapshot of `inputs_source` read.",
        "inputs_sha256": "sha256 of the file(s) of `inputs_source` read.",
        "capability_inputs": "The benchmarks the capabilities score is fitted on, as resolved.",
        "targets": "`all`, or the target benchmarks listed in `analyses.toml` (comma-separated).",
        "missing": "`complete_case` (a model missing an input gets no score) or `pca_impute`.",
        "bootstrap_imputation": "With `pca_impute`: `per_resample` (each bootstrap resample re-imputes its own "
        "matrix, so intervals carry the imputation's uncertainty) or `once`; null: nothing imputed.",
        "capabilities_method": _SHARED["capabilities_method"],
        "resamples": "Its own B (`resamples` in `analyses.toml`); null: the run's.",
        "n_models": "Models of the newest snapshot's population.",
        "n_models_scored": "Of those, models with a capabilities score.",
        "coverage": "Fraction of (model, input) cells observed, before any imputation.",
        "excluded": "Models left out of the population, by reason (JSON: reason -> count).",
        "status": "`fitted`, or why there is no score (`no data: ...`, `no score: ...`).",
        "definition": "The analysis's definition as loaded (JSON, every field with its default).",
        "inputs_fingerprint": "sha256 of everything its rows are computed from: populations, definition, settings, code.",
        "computed_in_run": "The run that computed its rows (a later refresh that finds the fingerprint unchanged "
        "keeps them).",
    },
    "marts.capabilities_scores": {
        "analysis": _SHARED["analysis"],
        "source": _SHARED["source"],
        "model_set": _SHARED["model_set"],
        "model_id": _SHARED["model_id"],
        "model_key": _SHARED["model_key"],
        "capabilities_score": _SHARED["capabilities_score"] + " Null: a model missing an input that was not imputed.",
        "imputed_inputs": "How many of the model's capability inputs were imputed.",
        "training_flop": "The training compute the analysis correlates with (FLOP); null where unknown.",
        "method": _SHARED["method"],
        "n_models": "Models in the fit.",
        "snapshot": _SHARED["snapshot"],
        "snapshot_date": _SHARED["snapshot_date"],
        "source_sha256": _SHARED["source_sha256"],
    },
    "marts.capabilities_components": {
        "analysis": _SHARED["analysis"],
        "source": _SHARED["source"],
        "model_set": _SHARED["model_set"],
        "benchmark": "The capability input.",
        "loading": "Its PC1 loading (sign: the largest-magnitude loading is positive).",
        "variance_explained": "PC1's explained-variance ratio (a fraction), the same on each row of a fit.",
        "method": _SHARED["method"],
        "n_models": "Models in the fit.",
        "snapshot": _SHARED["snapshot"],
        "snapshot_date": _SHARED["snapshot_date"],
        "source_sha256": _SHARED["source_sha256"],
    },
    "marts.capabilities_skipped": {
        "source": "A source whose newest snapshot no analysis reads.",
        "snapshot": "Its newest snapshot.",
        "n_models": "Models in that snapshot.",
        "n_benchmarks": "Benchmarks in that snapshot.",
        "reason": "Why no analysis reads it.",
    },
    "marts.benchmark_correlations": {
        **{k: _SHARED[k] for k in ("analysis", "source", "model_set", "benchmark", "area", "versus")},
        "n_models": "Models with both values.",
        "spearman": _SHARED["spearman"],
        "ci_low": _SHARED["ci_low"],
        "ci_high": _SHARED["ci_high"],
        "se": "Bootstrap standard error of `spearman`.",
        "p_value": "Two-sided permutation p-value of no correlation.",
        "ci_method": _SHARED["ci_method"],
        "confidence_level": "Coverage of the interval (0.95 by default).",
        "n_resamples": _SHARED["n_resamples"],
        "n_degenerate": "Resamples left out of the interval because the statistic was undefined in them.",
        "bootstrap_seed": "Seed of the resamples and permutations: same seed, same numbers.",
        "note": "Why `spearman` is null, when it is.",
        "capabilities_method": _SHARED["capabilities_method"],
        "snapshot": "The analysis's newest snapshot.",
        "source_sha256": _SHARED["source_sha256"],
    },
    "marts.correlation_history": {
        **{k: _SHARED[k] for k in ("analysis", "benchmark", "versus", "snapshot", "snapshot_date")},
        "n_models": "Models with both values in that snapshot.",
        **{k: _SHARED[k] for k in ("spearman", "ci_low", "ci_high", "ci_method", "n_resamples", "source")},
        "source_sha256": _SHARED["source_sha256"],
    },
    "marts.safety_residuals": {
        "analysis": _SHARED["analysis"],
        "benchmark": "The target benchmark (never a capability input).",
        "area": _SHARED["area"],
        "model_id": _SHARED["model_id"],
        "model_key": _SHARED["model_key"],
        "capabilities_score": _SHARED["capabilities_score"],
        "observed": "The model's (oriented) score on the benchmark.",
        "expected": "The least-squares line of the benchmark on the capabilities score, at the model's score.",
        "residual": "observed - expected: > 0, higher (better or safer) than its capabilities explain.",
        "residual_z": "The residual over the residuals' standard deviation (n - 2 degrees of freedom).",
        "n_models": "Models with both values (the line's).",
        "slope": "The line's slope.",
        "intercept": "The line's intercept.",
        "snapshot": "The analysis's newest snapshot.",
        "source_sha256": _SHARED["source_sha256"],
    },
    "marts.model_identity": {
        "source": "The source the name comes from.",
        "raw_name": "The model's name as the source gives it (stored verbatim).",
        "model_key": "The identity it maps to, shared across sources.",
        "rule": "What gave the key: `alias` (`seeds.model_aliases`), `rules` (the normalisation) or `undated`.",
        "valid_from": "First date an alias holds (null: always); a snapshot's date picks the row that holds it.",
        "valid_to": "Last date an alias holds (null: still).",
        "snapshots": "Snapshots of the source that hold the name.",
        "newest_snapshot": "The newest of them.",
    },
    "marts.unmatched_models": {
        "source": "The source the name comes from.",
        "raw_name": "The name, as given, that no other source's name matches.",
        "snapshot": "The newest snapshot that holds it.",
        "suggestion": "The closest key of another source, to review (add an alias if right): never joined.",
        "name_issue": "Why the name is not a plain name (markup, control character, implausible organisation "
        "prefix); null: none.",
    },
}


def description(table: str, column: str) -> str | None:
    """The description of ``column`` of ``table`` (``schema.table``), if it has one here."""
    return COLUMNS.get(table, {}).get(column)
