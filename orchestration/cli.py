"""`safetywash`: refresh the warehouse, query its published versions, list its tables and versions."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import shutil
import sqlite3
import sys
import time
import traceback
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.exceptions import TyperException

from assets.settings import LAND_OP, BootstrapSettings, CapabilitiesSettings, SettingsError, ops_config, validate
from assets.warehouse import Store, WarehouseError, sandbox_refusal

from .profiles import Profile, ProfileError, current as current_profile

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

WarehouseOption = Annotated[
    Optional[Path],
    typer.Option("--warehouse", help="Warehouse folder (default: $SAFETYWASH_WAREHOUSE or <project>/warehouse)."),
]
VersionOption = Annotated[
    Optional[str],
    typer.Option("--version", help="A published version id (`safetywash versions`); default: the current one."),
]


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class CiMethod(str, Enum):
    bca = "bca"
    percentile = "percentile"


class LogLevel(str, Enum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class CapMethod(str, Enum):
    paper = "paper"
    sklearn = "sklearn"


def fail(message: str, code: int = 1, hint: str | None = None) -> typer.Exit:
    """Print an expected failure in one or two lines and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    if hint:
        typer.echo(hint, err=True)
    return typer.Exit(code)


def os_error(exc: OSError, doing: str) -> str:
    """An OSError in one line: its cause first, then what was being done and where
    (``no space left on device while writing /w/candidate/catalog.sqlite``)."""
    return _located(exc.errno, (exc.strerror or str(exc)).lower(), exc.filename2 or exc.filename or "", doing)


def _located(code: int | None, cause: str, where: str, doing: str) -> str:
    """``cause while <doing> <where>`` for errors only a write meets (a full disk), else ``cause at <where>``."""
    if code not in _WRITING:
        return f"{cause} at {where}" if where else cause
    return f"{cause} while {doing}{f' {where}' if where else ''}"


class Output(str, Enum):
    progress = "progress"
    verbose = "verbose"
    quiet = "quiet"


def run_refresh(
    store: Store,
    mirror: Optional[Path] = None,
    output: Output = Output.progress,
    log_level: str = "info",
    asset_config: Optional[dict] = None,
    force: bool = False,
    sources: Optional[list[str]] = None,
    profile: Optional[Profile] = None,
):
    """Backfill missing pinned snapshots and run the refresh job in-process on ``store`` (whose lock
    the caller holds); return the :class:`~orchestration.runs.Refresh`.

    ``output``: a progress line on stderr and the full log in ``<warehouse>/logs/`` (named on stderr), the
    step and dbt log on the console (``verbose``), or nothing (``quiet``)."""
    import logging

    from assets.resources import Fetcher, Warehouse

    from sqlalchemy.exc import SQLAlchemyError

    from .instance import persistent_instance

    if output is not Output.verbose:
        logging.getLogger("dagster").setLevel(logging.ERROR)
    logger = {"console": {"config": {"log_level": log_level.upper() if output is Output.verbose else "CRITICAL"}}}
    if output is Output.progress:
        logger = {"progress": {"config": {}}}
    run_config = {"loggers": logger, "ops": {**(asset_config or {}), LAND_OP: {"config": {"force": force}}}}
    warehouse = Warehouse(directory=str(store.root), keep_versions=store.keep_versions)
    fetcher = Fetcher(mirror=str(mirror) if mirror else "")
    with contextlib.ExitStack() as stack:  # the runs recorded where `safetywash ui` shows them
        instance = None
        if profile is None or not profile.distributed:
            try:
                instance = stack.enter_context(persistent_instance(store.root))
            except (OSError, sqlite3.Error, SQLAlchemyError) as exc:  # a full disk, a read-only folder
                cause = plain_cause(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
                typer.echo(
                    f"warning: this run is not recorded in the warehouse's Dagster instance ({cause}); "
                    "`safetywash ui` will not show it",
                    err=True,
                )
        return _run_logged(store, output, log_level, run_config, warehouse, fetcher, sources, profile, instance)


def _run_logged(store, output, log_level, run_config, warehouse, fetcher, sources, profile, instance):
    import logging

    from .definitions import defs
    from .progress import Progress, log_file
    from .runs import refresh_in_process

    if output is not Output.progress:
        return refresh_in_process(
            defs,
            warehouse,
            fetcher,
            run_config,
            quiet=output is Output.quiet,
            sources=sources,
            profile=profile,
            instance=instance,
        )
    try:
        path = log_file(store.root)
        log = path.open("w", encoding="utf-8")
        typer.echo(f"log: {path}", err=True)
    except OSError as exc:
        path, log = None, io.StringIO()
        typer.echo(f"log: not written ({os_error(exc, 'creating')}); the run goes on", err=True)
    progress = Progress(sys.stderr, log, level=getattr(logging, log_level.upper()))
    try:
        return refresh_in_process(
            defs, warehouse, fetcher, run_config, sources=sources, progress=progress, profile=profile, instance=instance
        )
    finally:
        try:
            log.close()
        except OSError as exc:
            progress.log_error = progress.log_error or exc
        if progress.log_error is not None and path is not None:
            typer.echo(f"log: {path} is incomplete ({os_error(progress.log_error, 'writing')})", err=True)


def step_errors(result) -> list[str]:
    """One line per failed step: the step and its own message (source, file, line, digests)."""
    from .runs import step_failures

    return [f"step {step} failed: {plain_cause(message)}" for step, message in step_failures(result)]


_ERRNO = re.compile(r"^(?:[\w.]+: )?\[Errno (\d+)\] ([^:]+?)(?:: '([^']*)'(?: -> '([^']*)')?)?$")
_DISK_FULL = "No space left on device"
_SQLITE_FULL = "database or disk is full"
_WRITING = (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG)  # errors only a write meets


def plain_cause(message: str) -> str:
    """A step's error with an operating-system cause said first: ``OSError: [Errno 28] No space left on
    device: '/w/x'`` becomes ``no space left on device while writing /w/x``, and DuckDB's and others'
    messages that end in a full disk start with it."""
    if match := _ERRNO.match(message):
        code, cause, where = int(match.group(1)), match.group(2).lower(), match.group(4) or match.group(3)
        return _located(code, cause, where, "writing") if where else cause
    if _SQLITE_FULL in message:  # a lake catalog (SQLite) that could not grow
        return f"{_DISK_FULL.lower()}: {message}"
    if _DISK_FULL in message and not message.lower().startswith(_DISK_FULL.lower()):
        return f"{_DISK_FULL.lower()}: {message}"
    return message


@app.command()
def refresh(
    warehouse: WarehouseOption = None,
    mirror: Annotated[
        Optional[Path], typer.Option(help="Read https://H/P from MIRROR/H/P (default: $SAFETYWASH_MIRROR).")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait for a refresh already running instead of failing.")] = False,
    quiet: Annotated[
        bool, typer.Option(help="Only the summary, or the failed steps' errors (no progress, no log).")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="The step and dbt log on the console instead of the progress line and log file."
        ),
    ] = False,
    log_level: Annotated[
        LogLevel, typer.Option(help="Level of the log (debug shows every Dagster event).")
    ] = LogLevel.info,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples B (and permutations), 2 or more.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Bootstrap/permutation seed: same seed, same numbers.")] = 0,
    ci_method: Annotated[
        CiMethod, typer.Option(help="Interval method (BCa falls back to percentile per row).")
    ] = CiMethod.bca,
    confidence_level: Annotated[float, typer.Option(help="Interval coverage, strictly between 0 and 1.")] = 0.95,
    capabilities_method: Annotated[
        CapMethod, typer.Option(help="'paper' (Spearman-matrix PC1) or 'sklearn' PCA.")
    ] = CapMethod.paper,
    keep_versions: Annotated[int, typer.Option(help="Published versions to keep.", min=1)] = 5,
    force: Annotated[bool, typer.Option(help="Rebuild and publish even when no source has a new snapshot.")] = False,
    source: Annotated[
        Optional[list[str]],
        typer.Option(
            "--source", help="Fetch only this source (repeatable); the others keep the snapshots the warehouse has."
        ),
    ] = None,
    analyses: Annotated[
        Optional[Path],
        typer.Option(help="The analyses file (default: $SAFETYWASH_ANALYSES or the project's analyses.toml)."),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Print the traceback of an unexpected error.")] = False,
) -> None:
    """Fetch every source, build and audit a candidate, and publish it (the `refresh` job, in-process)."""
    started = time.perf_counter()
    try:
        bootstrap = validate(
            BootstrapSettings,
            {
                "n_resamples": resamples,
                "seed": seed,
                "ci_method": ci_method.value,
                "confidence_level": confidence_level,
            },
        )
        caps = validate(CapabilitiesSettings, {"method": capabilities_method.value})
    except SettingsError as exc:
        raise fail(
            str(exc).replace("n_resamples", "--resamples").replace("confidence_level", "--confidence-level"), 2
        ) from None
    try:
        profile = current_profile()
    except ProfileError as exc:
        raise fail(str(exc), 2) from None
    registered = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "assets" / "registry").glob("*.toml"))
    unknown = sorted(set(source or ()) - set(registered))
    if unknown:
        raise fail(f"unknown source(s) {', '.join(unknown)}; registered: {', '.join(registered)}", 2)
    if analyses is not None and not analyses.is_file():
        raise fail(f"no analyses file at {analyses}", 2)
    store = Store(warehouse or "", keep_versions)
    asset_config = {op: v for op, v in ops_config(caps, bootstrap).items() if op != LAND_OP}
    previous = os.environ.get("SAFETYWASH_ANALYSES")
    if analyses is not None:  # read by the run's steps; restored after, for callers that invoke this in-process
        os.environ["SAFETYWASH_ANALYSES"] = str(analyses.resolve())
    try:
        store.check_usable()
        with store.lock(
            wait, on_wait=lambda holder: typer.echo(f"waiting: {holder} is writing {store.root}", err=True)
        ):
            if moved := store.migrate_legacy():
                typer.echo(
                    f"this warehouse was written before the lake: its versions (DuckDB 2.0 files) moved, whole, "
                    f"to {moved}; the lake is rebuilt from its raw files and landed snapshots",
                    err=True,
                )
            info = next(iter(store.versions()), {})
            before = info.get("version")
            published = info.get("settings")
            if not force and published is not None and published != {k: v["config"] for k, v in asset_config.items()}:
                typer.echo("settings differ from the published version's: rebuilding the analyses", err=True)
                force = True
            from assets.analyses import analyses_sha256  # after the lock: the refusal path stays light

            if not force and before and info.get("analyses_sha256") != analyses_sha256():
                typer.echo("the analyses file differs from the published version's: rebuilding the analyses", err=True)
                force = True
            output = Output.quiet if quiet else Output.verbose if verbose else Output.progress
            outcome = None
            try:
                outcome = run_refresh(store, mirror, output, log_level.value, asset_config, force, source, profile)
            finally:
                if outcome is None or not outcome.success:
                    discard_candidate(store)
    except WarehouseError as exc:
        raise fail(str(exc), 2) from None
    except Exception as exc:
        if debug:
            traceback.print_exc()
        cause = plain_cause(f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        kept = readers_see(store)
        raise fail(
            f"refresh FAILED: {cause}; nothing was published: {kept}",
            1,
            None if debug else "(run again with --debug for the traceback)",
        ) from None
    finally:
        if analyses is not None:
            if previous is None:
                os.environ.pop("SAFETYWASH_ANALYSES", None)
            else:
                os.environ["SAFETYWASH_ANALYSES"] = previous
    seconds = time.perf_counter() - started
    sources_summary(outcome, store)
    if not outcome.success:
        for result in [*outcome.backfills, outcome.job]:
            for line in step_errors(result):
                typer.echo(f"error: {line}", err=True)
        raise fail(f"refresh FAILED after {seconds:.1f} s; nothing was published: {readers_see(store)}")
    current = next(iter(store.versions()), {})
    version = current.get("version")
    if not outcome.published and version is None:
        typer.echo(f"refresh done in {seconds:.1f} s: no source has a snapshot yet, so nothing was published")
    elif not outcome.published:
        typer.echo(
            f"refresh done in {seconds:.1f} s: no source has a new snapshot, so nothing was rebuilt; "
            f"version {version} stays current (--force rebuilds anyway)"
        )
    else:
        typer.echo(
            f"refresh done in {seconds:.1f} s; published version {version} (lake snapshot {current['snapshot_id']}) "
            f"in {store.lake.uri}"
        )
        typer.echo(
            f"  bootstrap: B={resamples}, seed={seed}, {ci_method.value} {confidence_level:.0%} intervals; "
            f"capabilities method: {capabilities_method.value}"
        )
        counts = current.get("row_counts", {})
        for table, n in counts.items():
            typer.echo(f"  marts.{table:<26} {n:>7} rows")
        if issues := current.get("name_issues"):
            what = ", ".join(f"{n} {issue.replace('_', ' ')}" for issue, n in issues.items())
            typer.echo(
                f"  model names that are not plain names, kept as given and joined by no organisation prefix: "
                f"{what} (marts.unmatched_models.name_issue)"
            )
        report = store.root / "report" / "report.html"
        if store.objects.is_s3:  # written by a worker on another host
            from assets.exports import REPORT_OBJECT

            with contextlib.suppress(FileNotFoundError):
                report.parent.mkdir(parents=True, exist_ok=True)
                report.write_bytes(store.objects.get(REPORT_OBJECT))
        if report.is_file():
            typer.echo(f"  report: {report.as_uri()}")
    if outcome.failed_sources:
        what = ", ".join(f"{name} ({failure_counts(outcome.sources[name])})" for name in outcome.failed_sources)
        state = (
            f"everything else was published as version {version}"
            if outcome.published
            else f"version {version} stays current"
            if version
            else "nothing has been published yet"
        )
        raise fail(f"{len(outcome.failed_sources)} source(s) had failures: {what}; {state}", 3)


def readers_see(store: Store) -> str:
    version = store.current_version()
    return f"readers still see version {version}" if version else "nothing has been published yet"


def discard_candidate(store: Store) -> None:
    """Remove what a failed refresh left (its candidate, up to twice a version, and temporary files); what
    cannot be removed now (a full disk) the next run's start removes."""
    try:
        store.clean()
    except OSError as exc:
        typer.echo(
            f"warning: the failed run's candidate stays until the next refresh ({os_error(exc, 'removing')})", err=True
        )


def failure_counts(report) -> str:
    parts = [
        f"{len(report.snapshot_errors)} snapshot(s) not landed" if report.snapshot_errors else "",
        f"{len(report.latest_errors)} latest address(es) failed" if report.latest_errors else "",
    ]
    return ", ".join(p for p in parts if p)


SHOWN_SNAPSHOT_ERRORS = 3


def sources_summary(outcome, store: Store) -> None:
    """One line per source: its snapshots, its newest, what its latest addresses answered, its errors (the
    first few failed snapshots; every one is in the landed store's ``failures.json``)."""
    from assets.landing import LandedStore

    typer.echo("sources:")
    for name, report in sorted(outcome.sources.items()):
        latest = f"  latest: {', '.join(report.latest)}" if report.latest else ""
        typer.echo(f"  {name:<14} {report.snapshots:>3} snapshot(s), newest {report.newest or '-'}{latest}")
        others = "the source's others are" if report.snapshots else "nor is any other of this source"
        for error in report.snapshot_errors[:SHOWN_SNAPSHOT_ERRORS]:
            typer.echo(f"    FAILED (this snapshot is not landed; {others}): {error}", err=True)
        if (more := len(report.snapshot_errors) - SHOWN_SNAPSHOT_ERRORS) > 0:
            typer.echo(
                f"    ... and {more} more snapshot(s) not landed, each listed in "
                f"{LandedStore(store.objects).url(name, 'failures.json')}",
                err=True,
            )
        kept = (
            f"kept the last good snapshot: {report.snapshots} held, newest {report.newest}"
            if report.snapshots
            else "nothing kept: this source has no snapshot yet"
        )
        for error in report.latest_errors:
            typer.echo(f"    FAILED ({kept}): {error}", err=True)


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL to run on a published version (read-only).")],
    warehouse: WarehouseOption = None,
    version: VersionOption = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    limit: Annotated[
        Optional[int],
        typer.Option(help="Rows to print (default: 40 in the table format, every row in CSV and JSON).", min=0),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Cancel the query after this many seconds (exit 124).", min=0.001)
    ] = 300.0,
    allow_files: Annotated[
        bool, typer.Option(help="Let the query read and write files (read_csv, copy ... to): off by default.")
    ] = False,
) -> None:
    """Run a read-only SQL query on the current published version (or --version) and print the result.

    The query cannot write the warehouse, nor read or write files, attach databases or install
    extensions, unless --allow-files lets it reach files (to join your own CSV or Parquet, say). Rows
    stream: a CSV or JSON of any size never sits in memory. Lists, structs and maps print as JSON,
    intervals as ISO 8601. On another host, SAFETYWASH_CATALOG and SAFETYWASH_DATA_PATH (with the S3
    keys) name the lake. Exit codes: 0 done, 1 the query failed, 2 nothing published or bad options,
    124 --timeout reached, 130 interrupted (Ctrl-C).
    """
    import duckdb

    from .sql_output import write_csv, write_json, write_table

    store = Store(warehouse or "")
    try:
        if not allow_files and (refusal := sandbox_refusal(query)):
            raise fail(refusal, 1)
        with store.read(version, allow_files=allow_files) as con, Cancellation(con, timeout) as cancel:
            try:
                relation = con.sql(query)
                if relation is None:  # a statement with no result (set, pragma ...)
                    return
                if format is Format.csv:
                    write_csv(relation, sys.stdout, limit)
                elif format is Format.json:
                    write_json(relation, sys.stdout, limit)
                else:
                    width = min(max(shutil.get_terminal_size((160, 24)).columns, 80), 240)
                    write_table(relation, sys.stdout, 40 if limit is None else limit, width)
                sys.stdout.flush()
            except (duckdb.InterruptException, KeyboardInterrupt):
                raise cancel.exit() from None
    except WarehouseError as exc:
        raise fail(str(exc), 2) from None
    except duckdb.Error as exc:
        raise fail(" ".join(str(exc).split()), 1) from None
    except BrokenPipeError:  # the reader stopped reading (`| head`): not an error of the query
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class Cancellation:
    """Interrupts a DuckDB query at ``timeout`` seconds or at Ctrl-C, and turns either into one line and an
    exit code (124, 130) instead of a traceback."""

    def __init__(self, con, timeout: float):
        self.con, self.timeout, self.reason = con, timeout, None

    def _cancel(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.con.interrupt()

    def __enter__(self) -> "Cancellation":
        import signal
        import threading

        self.timer = threading.Timer(self.timeout, self._cancel, args=("timeout",))
        self.timer.daemon = True
        self.timer.start()
        self.previous = signal.signal(signal.SIGINT, lambda *_: self._cancel("interrupt"))
        return self

    def __exit__(self, *exc) -> None:
        import signal

        self.timer.cancel()
        signal.signal(signal.SIGINT, self.previous)

    def exit(self) -> typer.Exit:
        if self.reason == "timeout":
            return fail(f"query cancelled after {self.timeout:g} s (--timeout)", 124)
        return fail("query cancelled (interrupted)", 130)


@app.command()
def check(
    scores: Annotated[Path, typer.Argument(help="CSV with columns model, score and optionally higher_is_better.")],
    analysis: Annotated[
        Optional[str],
        typer.Option(
            help="The analysis to place the benchmark in (default: the one whose models match the most rows)."
        ),
    ] = None,
    warehouse: WarehouseOption = None,
    version: VersionOption = None,
) -> None:
    """A new benchmark's capabilities and compute correlations, with intervals, against a published analysis.

    Models are matched by model_key (the rules of `marts.model_identity`), never by similarity; every row
    that did not match is listed. Verdict: HIGH at a capabilities correlation >= 0.7, LOW at <= 0.3 with the
    interval below 0.7, MODERATE otherwise. Exit codes: 0 LOW or MODERATE; 3 HIGH (the benchmark tracks
    capabilities); 4 fewer than 5 models matched; 2 bad input or nothing published.
    """
    from assets.check import MIN_MATCHED, CheckError, check as run_check, read_scores

    store = Store(warehouse or "")
    try:
        frame = read_scores(scores.read_bytes(), str(scores))
        with store.read(version) as con:
            result = run_check(con, frame, analysis, benchmark=scores.stem, file=str(scores))
    except OSError as exc:
        raise fail(f"{scores}: {exc.strerror or exc}", 2) from None
    except (CheckError, WarehouseError) as exc:
        raise fail(str(exc), 2) from None
    typer.echo(
        f"analysis {result.analysis} (snapshot {result.snapshot[:12]}): {result.matched.height} of {frame.height} "
        f"models matched"
    )
    for row in result.correlations.iter_rows(named=True):
        if row["spearman"] is None:
            typer.echo(f"  versus {row['versus']:<13} n={row['n_models']:<4} undefined: {row['note']}")
            continue
        interval = (
            ""
            if row["ci_low"] is None
            else f" [{row['ci_low']:.3f}, {row['ci_high']:.3f}] ({row['ci_method']}, B={row['n_resamples']})"
        )
        typer.echo(
            f"  versus {row['versus']:<13} n={row['n_models']:<4} spearman {row['spearman']:+.3f}{interval} p={row['p_value']:.4f}"
        )
    for name, model_id, key in result.matched.iter_rows():
        typer.echo(f"  matched   {name} -> {model_id} ({key})")
    for name, key, reason in result.unmatched.iter_rows():
        typer.echo(f"  unmatched {name} ({key}): {reason}")
    if result.matched.height < MIN_MATCHED:
        raise fail(
            f"only {result.matched.height} models matched analysis {result.analysis!r}; a verdict needs "
            f"{MIN_MATCHED} (add aliases to sql/seeds/model_aliases.csv for names you know are the same)",
            4,
        )
    typer.echo(f"verdict: {result.verdict}")
    if result.verdict.startswith("HIGH"):
        raise typer.Exit(3)


@app.command()
def place(
    results: Annotated[list[Path], typer.Argument(help="lm-evaluation-harness results_*.json of one model.")],
    analysis: Annotated[str, typer.Option(help="The published analysis to place the model in (e.g. open_llm_v1).")],
    warehouse: WarehouseOption = None,
    version: VersionOption = None,
) -> None:
    """A model's capabilities score in a published analysis's frame, and its differential progress.

    Each capability input of the analysis is read from the harness task, metric, filter and n-shot that
    `assets/lm_eval_inputs.toml` names for it; a task run with another setting is refused. The score uses the
    published fit's standardisation and loadings (no refit). Each safety target the files also report gets its
    residual against the published least-squares line. Exit codes: 0 placed, no target below its line by
    1 sd or more; 3 a target less safe than its capabilities explain; 4 no safety target of the analysis in the
    files (no differential progress); 2 bad input, unknown analysis or nothing published.
    """
    from assets.placement import RESIDUAL_Z, PlacementError, place as run_place, read_results

    store = Store(warehouse or "")
    try:
        found = read_results(results)
        with store.read(version) as con:
            result = run_place(con, analysis, found)
    except (PlacementError, WarehouseError) as exc:
        raise fail(str(exc), 2) from None
    typer.echo(
        f"analysis {result.analysis} (snapshot {result.snapshot[:12]}, sha256 {result.source_sha256[:12]}): "
        f"method {result.method}, {result.n_models} models"
    )
    for row in result.inputs.iter_rows(named=True):
        typer.echo(
            f"  input  {row['benchmark']:<12} {row['setting']}: {row['harness_value']:.6g} -> {row['value']:.4f}, "
            f"standardised {row['standardised']:+.4f} x loading {row['loading']:+.4f}  ({row['file']})"
        )
    typer.echo(
        f"capabilities score {result.score:+.6f}: rank {result.rank} of {result.n_models}, above "
        f"{result.percentile:.1f}% of the population"
    )
    for row in result.residuals.iter_rows(named=True):
        typer.echo(
            f"  target {row['benchmark']} ({row['area']}): observed {row['observed']:.4f}, expected "
            f"{row['expected']:.4f}, residual {row['residual']:+.4f} = {row['residual_z']:+.2f} sd of the "
            f"population's residuals ({row['n_models']} models)"
        )
    typer.echo(f"verdict: {result.verdict}")
    if result.residuals.is_empty():
        raise typer.Exit(4)
    if (result.residuals["residual_z"] <= -RESIDUAL_Z).any():
        raise typer.Exit(3)


@app.command()
def report(
    out: Annotated[
        Optional[Path], typer.Option(help="Folder to write report.html into (default: <warehouse>/report).")
    ] = None,
    warehouse: WarehouseOption = None,
    version: VersionOption = None,
) -> None:
    """Write the HTML report of the current published version (or --version): one self-contained file."""
    from assets.report import write_report

    store = Store(warehouse or "")
    try:
        written = write_report(store, out, version)
    except WarehouseError as exc:
        raise fail(str(exc), 2) from None
    except OSError as exc:
        raise fail(f"cannot write the report: {os_error(exc, 'writing')}; nothing was written", 2) from None
    typer.echo(
        f"report of version {written.version}: {written.path} ({len(written.analyses)} analyses, "
        f"{written.charts} charts); open it in a browser: {written.path.as_uri()}"
    )


@app.command()
def tables(
    warehouse: WarehouseOption = None,
    version: VersionOption = None,
    markdown: Annotated[
        bool, typer.Option(help="Print docs/tables.md: every column with its type and description.")
    ] = False,
) -> None:
    """List the tables users query (schema `marts`) with their columns and descriptions."""
    from .tables_doc import markdown as render, marts_catalog

    store = Store(warehouse or "")
    try:
        with store.read(version) as con:
            catalog = marts_catalog(con)
    except WarehouseError as exc:
        raise fail(str(exc), 2) from None
    if markdown:
        typer.echo(render(catalog), nl=False)
        return
    for table, comment, columns in catalog:
        names = ", ".join(c for c, _, _ in columns)
        typer.echo(f"marts.{table}({names})\n    {' '.join((comment or '(no description)').split())}\n")


@app.command()
def versions(warehouse: WarehouseOption = None) -> None:
    """List the kept published versions, newest first: id, time, run, source snapshots, row counts."""
    store = Store(warehouse or "")
    try:
        kept = store.versions()
    except WarehouseError as exc:
        raise fail(str(exc), 2) from None
    if not kept:
        raise fail(f"nothing is published in {store.root} yet; run `safetywash refresh` first", 2)
    current = store.current_version()
    for info in kept:
        mark = "*" if info["version"] == current else " "
        run = (info.get("run_id") or "-")[:8]
        rows = sum((info.get("row_counts") or {}).values())
        snaps = (
            ", ".join(
                sorted(
                    {
                        f"{s['source']}@{s['snapshot'][:12]}"
                        + (f" (+{s['snapshots'] - 1} older)" if s.get("snapshots", 1) > 1 else "")
                        for s in info.get("sources", [])
                    }
                )
            )
            or "-"
        )
        typer.echo(
            f"{mark} {info['version']}  snapshot {info['snapshot_id']}  published {info['published_at'][:19]}  "
            f"run {run}  {rows} mart rows  {snaps}"
        )
    typer.echo("(* = current; `safetywash sql --version ID` (the version or its snapshot) reads an older one)")


@app.command()
def ui(
    warehouse: WarehouseOption = None,
    port: Annotated[int, typer.Option(help="The webserver's port.")] = 3000,
    host: Annotated[str, typer.Option(help="The webserver's address.")] = "127.0.0.1",
) -> None:
    """The Dagster UI (`dg dev`) over this warehouse and its run history: the CLI's refreshes, the UI's runs and
    the schedule share one instance ($DAGSTER_HOME, else <warehouse>/dagster), kept across restarts."""
    from .instance import PROJECT, dagster_home

    store = Store(warehouse or "")
    try:
        store.check_folder()
        home = dagster_home(store.root)
    except (WarehouseError, OSError) as exc:
        raise fail(str(exc), 2) from None
    env = {**os.environ, "DAGSTER_HOME": str(home), "SAFETYWASH_WAREHOUSE": str(store.root)}
    typer.echo(f"Dagster instance: {home}; warehouse: {store.root}", err=True)
    dg = Path(sys.executable).with_name("dg")
    os.chdir(PROJECT)
    os.execve(str(dg), [str(dg), "dev", "--port", str(port), "--host", host], env)


def main() -> None:
    """Entry point: usage errors in two lines, like every other expected failure."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        code = 130
    except TyperException as exc:  # typer's (vendored click's) usage errors
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            typer.echo(ctx.get_help())
            code = 0
        else:
            typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
            typer.echo(f"(see `{ctx.command_path if ctx else 'safetywash'} --help`)", err=True)
            code = 2
    sys.exit(code or 0)
