"""The one Definitions object: every asset, check, job, schedule and resource of safetywash."""

from __future__ import annotations

import dagster as dg

from assets.capability_fits import capabilities
from assets.benchmark_correlations import (
    benchmark_correlations,
    correlations_in_range,
    correlations_unique,
    intervals_consistent,
)
from assets.model_identity import model_identity
from assets.publish import published
from assets.exports import report
from assets.safety_residuals import safety_residuals
from assets.io_manager import JsonIOManager
from assets.resources import Fetcher, Warehouse
from assets.sources import source_assets

from .dbt import dbt_models, dbt_resource
from .progress import progress_logger
from .schedules import pinned_snapshots, refresh_job, refresh_schedule, snapshot_jobs

OWNERS = ["team:safetywash"]


def _owned(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Every asset: its owner, and its layer (the key's first part, as its group) as a tag to filter on."""
    return spec.replace_attributes(owners=OWNERS, tags={**spec.tags, "layer": spec.key.path[0]})


all_assets = dg.map_asset_specs(
    _owned,
    [
        *source_assets,
        dbt_models,
        model_identity,
        capabilities,
        benchmark_correlations,
        safety_residuals,
        published,
        report,
    ],
)
all_checks = [correlations_in_range, correlations_unique, intervals_consistent]


def build_defs(warehouse: Warehouse) -> dg.Definitions:
    """The project's Definitions over ``warehouse``: :data:`defs` resolves its folder when a run starts;
    :mod:`orchestration.location` (what `dg dev` loads) when the code location loads, for the Launchpad."""
    return dg.Definitions(
        assets=all_assets,
        asset_checks=all_checks,
        jobs=[refresh_job, *snapshot_jobs.values()],
        schedules=[refresh_schedule],
        sensors=[pinned_snapshots],
        resources={
            "warehouse": warehouse,
            "fetcher": Fetcher(),
            "dbt": dbt_resource(),
            # the values steps hand each other (the bootstrap plan), as JSON objects any worker can read
            "io_manager": JsonIOManager(),
        },
        # "Materialize all" and every other ad-hoc run execute in one process, as `refresh` does by default
        executor=dg.in_process_executor,
        # runs log to the console unless their config picks a logger; the CLI picks `progress` (its progress line)
        loggers={"console": dg.colored_console_logger, "progress": progress_logger},
    )


defs = build_defs(Warehouse())
