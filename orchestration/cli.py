"""`safetywash`: refresh the warehouse, query it, list its tables."""

import contextlib
import fcntl
import io
import json
import os
import sys
import time
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from .resources import Warehouse, warehouse_dir

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)

WarehouseOption = Annotated[
    Optional[Path],
    typer.Option("--warehouse", help="Warehouse folder (default: $SAFETYWASH_WAREHOUSE or <project>/warehouse)."),
]


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class CiMethod(str, Enum):
    bca = "bca"
    percentile = "percentile"


class CapMethod(str, Enum):
    paper = "paper"
    sklearn = "sklearn"


class RefreshBusy(RuntimeError):
    pass


@contextmanager
def writer_lock(root: Path, wait: bool) -> Iterator[None]:
    """Hold ``<warehouse>/.refresh.lock`` for the run: one writer at a time, never two."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / ".refresh.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown process"
            raise RefreshBusy(
                f"another refresh ({holder}) is writing the warehouse {root}; "
                "wait for it to finish, or run again with --wait"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S%z')}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_refresh(root: Path, mirror: Optional[Path] = None, wait: bool = False, quiet: bool = False,
                asset_config: Optional[dict] = None):
    """Run the refresh job in-process on the warehouse at ``root``; return the Dagster result."""
    from .manifest import ensure_manifest

    ensure_manifest()
    from .definitions import defs

    resources = {"warehouse": {"config": {"directory": str(root)}}}
    if mirror is not None:
        resources["fetcher"] = {"config": {"mirror": str(mirror)}}
    run_config = {
        "resources": resources,
        "loggers": {"console": {"config": {"log_level": "CRITICAL" if quiet else "INFO"}}},
        "ops": asset_config or {},
    }
    job = defs.resolve_job_def("refresh")
    with writer_lock(root, wait), (contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext()):
        return job.execute_in_process(run_config=run_config, raise_on_error=False)


@app.command()
def refresh(
    warehouse: WarehouseOption = None,
    mirror: Annotated[
        Optional[Path], typer.Option(help="Read https://H/P from MIRROR/H/P (default: $SAFETYWASH_MIRROR).")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait for a refresh already running instead of failing.")] = False,
    quiet: Annotated[bool, typer.Option(help="Only the summary, or the failed steps' errors (no step and dbt log).")] = False,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples B (and permutations).")] = 10_000,
    seed: Annotated[int, typer.Option(help="Bootstrap/permutation seed: same seed, same numbers.")] = 0,
    ci_method: Annotated[CiMethod, typer.Option(help="Interval method (BCa falls back to percentile per row).")] = CiMethod.bca,
    confidence_level: Annotated[float, typer.Option(help="Interval coverage.")] = 0.95,
    capabilities_method: Annotated[CapMethod, typer.Option(help="'paper' (Spearman-matrix PC1) or 'sklearn' PCA.")] = CapMethod.paper,
) -> None:
    """Fetch every source, rebuild every table and export the marts (the `refresh` job, in-process)."""
    root = warehouse_dir(str(warehouse) if warehouse else "")
    started = time.perf_counter()
    asset_config = {
        "capabilities": {"config": {"method": capabilities_method.value}},
        "marts__benchmark_correlations": {
            "config": {"n_resamples": resamples, "seed": seed, "ci_method": ci_method.value,
                       "confidence_level": confidence_level}
        },
    }
    try:
        result = run_refresh(root, mirror, wait, quiet, asset_config)
    except RefreshBusy as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    seconds = time.perf_counter() - started
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                data = event.step_failure_data
                if data.user_failure_data and data.user_failure_data.description:
                    message = data.user_failure_data.description
                else:
                    error = data.error
                    message = error.cause.message if error and error.cause else (error.message if error else "")
                typer.echo(f"error: step {event.step_key} failed: {(message or '').strip()}", err=True)
        typer.echo(
            f"refresh FAILED after {seconds:.1f} s; steps after the failure did not run, so the tables they write in "
            f"{root} keep their last good contents",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"refresh done in {seconds:.1f} s; warehouse: {root / 'safetywash.duckdb'} (Parquet: {root / 'parquet'})")
    typer.echo(f"  bootstrap: B={resamples}, seed={seed}, {ci_method.value} {confidence_level:.0%} intervals; "
               f"capabilities method: {capabilities_method.value}")
    with Warehouse(directory=str(root)).connect(read_only=True) as con:
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'marts' order by table_name"
        ).fetchall():
            n = con.execute(f"select count(*) from marts.{table}").fetchone()[0]
            typer.echo(f"  marts.{table:<26} {n:>7} rows")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SQL to run on the warehouse (read-only).")],
    warehouse: WarehouseOption = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Run a read-only SQL query on the warehouse and print the result."""
    import polars as pl

    from assets.model_sets import query_frame

    store = Warehouse(directory=str(warehouse) if warehouse else "")
    if not store.duckdb_path.exists():
        typer.echo(f"error: no warehouse at {store.duckdb_path}; run `safetywash refresh` first", err=True)
        raise typer.Exit(2)
    try:
        with store.connect(read_only=True) as con:
            frame = query_frame(con, query)
    except Exception as exc:  # duckdb raises many error classes; the user needs the message
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if format is Format.csv:
        sys.stdout.write(frame.write_csv())
    elif format is Format.json:
        sys.stdout.write(json.dumps(frame.to_dicts(), default=str, indent=1) + "\n")
    else:
        with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=240, tbl_hide_dataframe_shape=False):
            typer.echo(frame)


@app.command()
def tables(warehouse: WarehouseOption = None) -> None:
    """List the tables users query (schema `marts`) with their row counts and descriptions."""
    store = Warehouse(directory=str(warehouse) if warehouse else "")
    if not store.duckdb_path.exists():
        typer.echo(f"error: no warehouse at {store.duckdb_path}; run `safetywash refresh` first", err=True)
        raise typer.Exit(2)
    with store.connect(read_only=True) as con:
        rows = con.execute(
            """select t.table_name, t.comment,
                      string_agg(c.column_name, ', ' order by c.column_index) as columns
               from duckdb_tables() t join duckdb_columns() c using (database_name, schema_name, table_name)
               where t.schema_name = 'marts' group by all order by t.table_name"""
        ).fetchall()
    for table, comment, columns in rows:
        typer.echo(f"marts.{table}({columns})\n    {' '.join((comment or '(no description)').split())}\n")
