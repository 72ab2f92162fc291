"""Parquet exports of every table in the ``marts`` schema."""

import os

import dagster as dg

from orchestration.resources import Warehouse

from .capabilities import COMPONENTS_KEY, MART_DEPS, SCORES_KEY
from .correlations import CORRELATIONS_KEY


@dg.asset(
    key=dg.AssetKey(["exports", "marts_parquet"]),
    group_name="exports",
    deps=[*MART_DEPS, SCORES_KEY, COMPONENTS_KEY, CORRELATIONS_KEY],
    kinds={"parquet"},
    description="Every `marts.*` table written to `<warehouse>/parquet/<table>.parquet` (replaced atomically), "
    "for tools that read Parquet rather than DuckDB.",
)
def marts_parquet(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    out_dir = warehouse.parquet_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    with warehouse.connect(read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by table_name"
        ).fetchall()]
        for table in tables:
            final = out_dir / f"{table}.parquet"
            tmp = out_dir / f".{table}.{os.getpid()}.parquet"
            con.execute(f"copy marts.{table} to '{tmp}' (format parquet)")
            os.replace(tmp, final)
            written[table] = con.execute(f"select count(*) from marts.{table}").fetchone()[0]
    context.log.info(f"exported {len(written)} tables to {out_dir}")
    return dg.MaterializeResult(
        metadata={"directory": str(out_dir), "tables": dg.MetadataValue.json(written)}
    )
