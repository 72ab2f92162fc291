"""The refresh job and its daily schedule; one backfill job per source's pinned snapshots, and the sensor
that launches them for snapshots not landed yet."""

from __future__ import annotations

import hashlib

import dagster as dg

from assets.resources import Warehouse
from assets.landing import missing_pinned, partition_key, pinned_content_id
from assets.keys import snapshots_key
from assets.sources import REGISTRY

from .executor import safetywash_executor

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"

refresh_job = dg.define_asset_job(
    name="refresh",
    # the pinned snapshots are partitioned assets, backfilled in their own runs (`safetywash refresh` does it)
    selection=dg.AssetSelection.all() - dg.AssetSelection.key_prefixes("snapshots"),
    description="Fetch every source's latest address, land the snapshots that changed, and only then build the dbt "
    "models and tests, fit the capabilities score, compute the correlations, export and publish.",
    # In-process by default (one import, fast on a laptop); `multiprocess` or `celery` in the Launchpad (or
    # SAFETYWASH_PROFILE=distributed for the CLI) run each source, analysis and bootstrap chunk apart.
    executor_def=safetywash_executor,
)

refresh_schedule = dg.ScheduleDefinition(
    name="daily_refresh",
    job=refresh_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    description="Refresh the warehouse from the public leaderboards every day at 06:00 UTC.",
)

snapshot_jobs = {
    name: dg.define_asset_job(
        name=f"snapshots_{name}",
        selection=[snapshots_key(name)],
        description=f"Land the pinned snapshots of `{name}` (a partition each; the sensor runs them all in one run).",
    )
    for name, registered in REGISTRY.items()
    if registered.snapshots
}


@dg.sensor(
    name="pinned_snapshots",
    jobs=list(snapshot_jobs.values()),
    minimum_interval_seconds=3600,
    description="Backfill the pinned snapshots of every source that misses some (a fresh warehouse, a registry "
    "that pins new commits): one run over each such source's partitions, as `safetywash refresh` does first.",
)
def pinned_snapshots(context: dg.SensorEvaluationContext):
    # the warehouse as the Definitions configure it ($SAFETYWASH_WAREHOUSE), read without its writer lock:
    # the landed store only grows, each snapshot's manifest written last
    landed = Warehouse().landed
    requests = []
    for name, job in snapshot_jobs.items():
        registered = REGISTRY[name]
        missing = missing_pinned(registered, landed)
        if not missing:
            continue
        keys = [partition_key(s) for s in registered.snapshots]
        digest = hashlib.sha256("".join(sorted(pinned_content_id(s) for s in missing)).encode()).hexdigest()[:16]
        requests.append(
            dg.RunRequest(
                job_name=job.name, run_key=f"{name}-{digest}", tags={RANGE_START: keys[0], RANGE_END: keys[-1]}
            )
        )
    return requests or dg.SkipReason("every pinned snapshot is landed")
