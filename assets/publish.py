"""Publish: the audited candidate becomes the lake's current version, in one DuckLake transaction.

It runs only when every step before it succeeded: dbt's build (a failing dbt test fails it) and the
blocking asset checks of the Python marts. Readers see the previous version until that commit.
"""

import dagster as dg
import polars as pl

from . import lake
from .analyses import AnalysisError, launched_analyses_sha256
from .metadata import table_metadata
from .resources import Warehouse
from .settings import run_settings
from .warehouse import WRITER_POOL, WarehouseError, query_frame
from .keys import (
    COMPONENTS_KEY,
    CORRELATIONS_KEY,
    HISTORY_KEY,
    IDENTITY_KEY,
    MART_DEPS,
    PUBLISHED_KEY,
    RESIDUALS_KEY,
    SCORES_KEY,
    UNMATCHED_KEY,
)

SOURCE_COLUMNS = {
    "source": pl.String,
    "snapshots": pl.Int64,
    "snapshot": pl.String,
    "sha256": pl.String,
    "snapshot_at": pl.String,
}


@dg.asset(
    key=PUBLISHED_KEY,
    group_name="warehouse",
    deps=[
        *MART_DEPS,
        SCORES_KEY,
        COMPONENTS_KEY,
        CORRELATIONS_KEY,
        HISTORY_KEY,
        RESIDUALS_KEY,
        IDENTITY_KEY,
        UNMATCHED_KEY,
    ],
    kinds={"duckdb", "ducklake"},
    pool=WRITER_POOL,
    description="The published warehouse: this run's audited candidate copied into the lake in one DuckLake "
    "transaction (a snapshot, whose commit message records the version). `safetywash versions` lists the kept ones.",
)
def published(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    settings = run_settings(context.run.run_config)
    try:
        analyses = launched_analyses_sha256(context.run.tags)
        info = warehouse.store.publish(
            warehouse.candidate(context),
            context.run.run_id,
            {"settings": settings, "analyses_sha256": analyses},
            describe=_describe,
        )
    except (AnalysisError, WarehouseError) as exc:
        raise dg.Failure(str(exc)) from None
    row_counts = info["row_counts"]
    context.log.info(f"published version {info['version']} ({sum(row_counts.values())} mart rows)")
    return dg.MaterializeResult(
        metadata={
            "version": info["version"],
            "snapshot_id": info["snapshot_id"],
            "lake": warehouse.store.lake.uri,
            "row_counts": dg.MetadataValue.json(row_counts),
            "name_issues": dg.MetadataValue.json(info["name_issues"]),
            "sources": table_metadata(pl.DataFrame(info["sources"], schema=SOURCE_COLUMNS)),
        },
        data_version=dg.DataVersion(info["version"]),
    )


def _describe(con) -> dict:
    """The version's record: each source's snapshots and newest one, each mart's row count, and how many
    model names are not plain names (kept as given, joined by no organisation prefix), by issue."""
    sources = query_frame(
        con,
        """
        select source, count(*) as snapshots, arg_max(snapshot, snapshot_at) as snapshot,
               arg_max(content_id, snapshot_at) as sha256, cast(max(snapshot_at) as varchar) as snapshot_at
        from raw.snapshots
        group by source
        order by source""",
    )
    tables = [table for schema, table, _ in lake.lake_tables(con, "candidate") if schema == "marts"]
    counts = " union all ".join(f"select '{t}', count(*) from marts.\"{t}\"" for t in tables)
    row_counts = dict(con.execute(counts).fetchall()) if tables else {}
    issues = (
        dict(
            con.execute(
                "select name_issue, count(*) from marts.unmatched_models where name_issue is not null "
                "group by 1 order by 1"
            ).fetchall()
        )
        if "unmatched_models" in tables
        else {}
    )
    return {"sources": sources.to_dicts(), "row_counts": row_counts, "name_issues": issues}
