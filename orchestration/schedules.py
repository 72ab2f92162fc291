"""The refresh job (every asset) and its daily schedule."""

from __future__ import annotations

import dagster as dg

refresh_job = dg.define_asset_job(
    name="refresh",
    # the pinned snapshots are partitioned assets, backfilled in their own runs (`safetywash refresh` does it)
    selection=dg.AssetSelection.all() - dg.AssetSelection.key_prefixes("snapshots"),
    description="Fetch every source's latest address, land the snapshots that changed, and only then build the dbt "
    "models and tests, fit the capabilities score, compute the correlations, export and publish.",
    executor_def=dg.multi_or_in_process_executor,
    # In-process by default (one import, fast on a laptop); pick `multiprocess` in the Launchpad, or swap
    # the executor for dagster-celery / dagster-k8s, to run each source, analysis and chunk apart.
    config={"execution": {"config": {"in_process": {}}}},
)

refresh_schedule = dg.ScheduleDefinition(
    name="daily_refresh",
    job=refresh_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    description="Refresh the warehouse from the public leaderboards every day at 06:00 UTC.",
)
