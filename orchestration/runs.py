"""A refresh, in-process: backfill the pinned snapshots not landed yet, then run the `refresh` job.

The CLI, the benchmarks and the tests all refresh through :func:`refresh_in_process`, so they run the
same Dagster runs the UI and the schedule do: one single-run backfill of ``snapshots/<source>`` per
source that misses a pinned snapshot (none once they are landed), then the ``refresh`` job.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg

from assets.registry import Registered
from assets.resources import Fetcher, Warehouse
from assets.landing import LandedStore, missing_pinned, partition_key, resolve_snapshots
from assets.analyses import ANALYSES_TAG, analyses_sha256
from assets.keys import PUBLISHED_KEY, fetch_key
from assets.sources import REGISTRY, describe_failure

from .profiles import Profile
from .progress import Progress
from .schedules import RANGE_END, RANGE_START, snapshot_jobs
from .watchdog import WorkerWatch

# Dagster warns that a blocking check "emitted no result" for every check of a step it skipped: in a refresh
# where nothing changed that is every check, so the warning says nothing there
_SKIPPED_CHECKS = logging.getLogger("dagster._core.execution.plan.active")
_SKIPPED_CHECKS.addFilter(lambda record: "emitted no result" not in record.getMessage())


@dataclass
class SourceReport:
    name: str
    snapshots: int = 0
    newest: str = ""
    latest: list[str] = field(default_factory=list)
    """one ``status`` per latest address: new, known, unchanged, not_mirrored, failed"""
    snapshot_errors: list[str] = field(default_factory=list)
    """one line per pinned snapshot that could not be landed (snapshot, file, line, reason)"""
    latest_errors: list[str] = field(default_factory=list)
    """one line per latest address that failed"""

    @property
    def errors(self) -> list[str]:
        return self.snapshot_errors + self.latest_errors

    @property
    def failed(self) -> bool:
        return bool(self.errors)


@dataclass
class Refresh:
    backfills: list[dg.ExecuteInProcessResult]
    job: dg.ExecuteInProcessResult | None
    sources: dict[str, SourceReport]

    @property
    def success(self) -> bool:
        return self.job is not None and self.job.success

    @property
    def published(self) -> bool:
        return self.job is not None and any(
            e.is_step_materialization and e.asset_key == PUBLISHED_KEY for e in self.job.all_events
        )

    @property
    def failed_sources(self) -> list[str]:
        return sorted(name for name, report in self.sources.items() if report.failed)


def _source_reports(registry: dict[str, Registered], landed: LandedStore) -> dict[str, SourceReport]:
    reports = {}
    for name, reg in registry.items():
        rows = resolve_snapshots(reg, landed)
        reports[name] = SourceReport(
            name, len(rows), _snapshot_label(rows[-1].snapshot_date, rows[-1].snapshot) if rows else ""
        )
    return reports


def _snapshot_label(snapshot_date: str, snapshot: str) -> str:
    """``2024-10-02 ab48125dc86a`` for a pinned commit (its date, then the commit id's first 12 hex digits); a
    fetched snapshot's id (``2026-12-06_<sha256 prefix>``) already starts with its date and is shown whole."""
    if snapshot.startswith(snapshot_date[:10]):
        return snapshot
    return f"{snapshot_date[:10]} {snapshot[:12]}"


def refresh_in_process(
    defs: dg.Definitions,
    warehouse: Warehouse,
    fetcher: Fetcher,
    run_config: dict | None = None,
    quiet: bool = False,
    sources: Sequence[str] | None = None,
    progress: Progress | None = None,
    profile: Profile | None = None,
    instance: dg.DagsterInstance | None = None,
) -> Refresh:
    """Backfill missing pinned snapshots, then execute the ``refresh`` job; the caller holds the lock.

    ``sources`` restricts the fetching to those sources (their backfills and latest addresses); the
    others keep the snapshots the warehouse already has. With ``progress`` (and the ``progress`` logger in
    ``run_config``) the runs draw its line, and dbt's output goes to its log file instead of stdout. A
    ``distributed`` profile runs the refresh job on its Celery workers from the instance of ``$DAGSTER_HOME``;
    else the runs are recorded in ``instance`` (None: a throw-away one).
    """
    run_config = dict(run_config or {})
    landed = warehouse.landed
    backfills = []
    failures: dict[str, list[str]] = {}
    unknown = sorted(set(sources or ()) - set(REGISTRY))
    if unknown:
        raise ValueError(f"unknown source(s) {', '.join(unknown)}; registered: {', '.join(sorted(REGISTRY))}")
    registry = {name: reg for name, reg in REGISTRY.items() if sources is None or name in sources}
    if progress is not None:
        quiet_io = contextlib.ExitStack()
        quiet_io.enter_context(contextlib.redirect_stdout(progress.as_stream()))
        quiet_io.enter_context(progress)
    else:
        quiet_io = contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext()
    profile = profile or Profile("local")
    root = str(warehouse.store.root)
    resources = {
        "warehouse": {"config": {"directory": root, "keep_versions": warehouse.keep_versions}},
        "fetcher": {"config": {"mirror": fetcher.mirror}} if fetcher.mirror else {},
    }
    job_config = {**run_config, "resources": {k: v for k, v in resources.items() if v}}
    if profile.distributed:  # steps on other processes and hosts: runs are serialized by the CLI's lock and the queue
        extra = profile.run_config()
        store = warehouse.store
        # each worker keeps its scratch in its own folder; what the steps share is the lake and the objects
        job_config["resources"]["warehouse"]["config"] = {
            "keep_versions": warehouse.keep_versions,
            "lock": False,
            "catalog": store.lake.catalog,
            "data_path": store.lake.data_path,
            "objects": store.objects.url(),
        }
        job_config["resources"]["io_manager"] = {
            "config": {**extra["resources"]["io_manager"]["config"], "warehouse_dir": root}
        }
        job_config["execution"] = extra["execution"]
    with quiet_io:
        for name, reg in registry.items():
            if name not in snapshot_jobs or not missing_pinned(reg, landed):
                continue
            keys = [partition_key(s) for s in reg.snapshots]
            result = defs.resolve_job_def(snapshot_jobs[name].name).execute_in_process(
                run_config={k: v for k, v in job_config.items() if k != "ops"},
                raise_on_error=False,
                tags={RANGE_START: keys[0], RANGE_END: keys[-1]},
                instance=instance,
            )
            backfills.append(result)
            if not result.success:
                failures.setdefault(name, []).extend(snapshot_failures(result))
        job_def = defs.resolve_job_def("refresh")
        selection = None
        if sources is not None:
            skipped = {fetch_key(name) for name in REGISTRY if name not in registry}
            selection = [key for key in job_def.asset_layer.selected_asset_keys if key not in skipped]
        tags = {ANALYSES_TAG: analyses_sha256()}  # the steps refuse another file (a worker's own environment)
        if profile.distributed:
            instance = dg.DagsterInstance.get()
            with WorkerWatch(profile.broker, profile.backend, timeout=profile.worker_timeout):
                job = dg.execute_job(
                    dg.reconstructable(distributed_refresh_job),
                    instance,
                    run_config=job_config,
                    raise_on_error=False,
                    asset_selection=selection,
                    tags=tags,
                )
        else:
            job = job_def.execute_in_process(
                run_config=job_config, raise_on_error=False, asset_selection=selection, instance=instance, tags=tags
            )
    reports = _source_reports(registry, landed)
    for event in job.all_events:
        if event.is_step_materialization and event.asset_key.path[0] == "fetch":
            name = event.asset_key.path[1]
            outcomes = event.step_materialization_data.materialization.metadata["outcomes"].value
            reports[name].latest = [o["status"] for o in outcomes]
            reports[name].latest_errors = [o["error"] for o in outcomes if o["status"] == "failed" and o["error"]]
    for name, errors in failures.items():
        reports[name].snapshot_errors = [e for e in errors if e]
    return Refresh(backfills, job, reports)


def snapshot_failures(result: dg.ExecuteInProcessResult) -> list[str]:
    """One line per pinned snapshot a backfill could not land (from its step's ``failed_snapshots``), else
    one per failed step."""
    out = []
    for event in result.all_events:
        data = event.step_failure_data if event.is_step_failure else None
        records = data and data.user_failure_data and (data.user_failure_data.metadata or {}).get("failed_snapshots")
        if records:
            out.extend(describe_failure(r) for r in records.value)
    return out or [message for _, message in step_failures(result)]


def distributed_refresh_job() -> dg.JobDefinition:
    """The refresh job, as Celery workers rebuild it from this module's name (``dg.reconstructable``)."""
    from .definitions import defs

    return defs.resolve_job_def("refresh")


def step_failures(result: dg.ExecuteInProcessResult) -> list[tuple[str, str]]:
    """(step key, its own message on one line) per failed step: a ``dg.Failure``'s description (source,
    file, line, digests), else the error's cause."""
    out = []
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            if data.user_failure_data and data.user_failure_data.description:
                message = data.user_failure_data.description
            else:
                error = data.error
                message = error.cause.message if error and error.cause else (error.message if error else "")
            out.append((event.step_key, " ".join((message or "").split())))
    if not out and not result.success:  # the engine failed, not a step (a Celery worker lost, say)
        for event in result.all_events:
            if event.is_run_failure and event.job_failure_data and event.job_failure_data.error:
                error = event.job_failure_data.error
                out.append(("(run)", " ".join((error.message or "").split())[:2000]))
    return out
