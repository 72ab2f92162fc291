"""The asset graph's names: every asset key a Python asset defines or reads, in one place.

Asset modules import their own and each other's keys from here, never from one another, so that no asset
module needs another to be imported first. The dbt assets are keyed ``<schema>/<name>`` by
:class:`orchestration.dbt.SafetywashTranslator`; the ones below that name dbt models must agree with it. The
op names a run's config is keyed by live in :mod:`assets.settings` (which the CLI reads without dagster).
"""

import dagster as dg

# sources: one fetch, snapshots and raw-table asset per registered source
SNAPSHOTS_KEY = dg.AssetKey(["raw", "snapshots"])
MISSING_KEY = dg.AssetKey(["raw", "snapshots_missing"])


def fetch_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["fetch", source])


def snapshots_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["snapshots", source])


def raw_key(source: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", f"{source}__{table}"])


# dbt marts and seeds the Python assets read (MART_DEPS: what every analysis reads)
MODELS_KEY = dg.AssetKey(["marts", "models"])
ALIASES_KEY = dg.AssetKey(["seeds", "model_aliases"])

# Python marts
IDENTITY_KEY = dg.AssetKey(["marts", "model_identity"])
MART_DEPS = [dg.AssetKey(["marts", "scores"]), MODELS_KEY, dg.AssetKey(["marts", "benchmarks"]), IDENTITY_KEY]
UNMATCHED_KEY = dg.AssetKey(["marts", "unmatched_models"])
SCORES_KEY = dg.AssetKey(["marts", "capabilities_scores"])
COMPONENTS_KEY = dg.AssetKey(["marts", "capabilities_components"])
SKIPPED_KEY = dg.AssetKey(["marts", "capabilities_skipped"])
ANALYSES_KEY = dg.AssetKey(["marts", "analyses"])
CORRELATIONS_KEY = dg.AssetKey(["marts", "benchmark_correlations"])
HISTORY_KEY = dg.AssetKey(["marts", "correlation_history"])
RESIDUALS_KEY = dg.AssetKey(["marts", "safety_residuals"])

# the published version and what is exported from it
PUBLISHED_KEY = dg.AssetKey(["warehouse", "published"])
REPORT_KEY = dg.AssetKey(["exports", "report"])
