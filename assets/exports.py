"""Parquet exports of every table in the ``marts`` schema, written into the candidate."""

import dagster as dg

from .capabilities import COMPONENTS_KEY, MART_DEPS, SCORES_KEY
from .correlations import CORRELATIONS_KEY, HISTORY_KEY
from .residuals import RESIDUALS_KEY
from .model_identity import IDENTITY_KEY, UNMATCHED_KEY
from .resources import Warehouse
from .warehouse import WRITER_POOL

EXPORTS_KEY = dg.AssetKey(["exports", "marts_parquet"])


@dg.asset(
    key=EXPORTS_KEY,
    group_name="exports",
    deps=[*MART_DEPS, SCORES_KEY, COMPONENTS_KEY, CORRELATIONS_KEY, HISTORY_KEY, RESIDUALS_KEY, IDENTITY_KEY, UNMATCHED_KEY],
    kinds={"parquet"},
    pool=WRITER_POOL,
    description="Every `marts.*` table written to `parquet/<table>.parquet` of the version being built "
    "(`<warehouse>/parquet/` shows the published one), for tools that read Parquet rather than DuckDB.",
)
def marts_parquet(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    candidate = warehouse.candidate(context)
    out_dir = candidate.parquet_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    with candidate.connect(read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by table_name"
        ).fetchall()]
        for stale in set(p.stem for p in out_dir.glob("*.parquet")) - set(tables):
            (out_dir / f"{stale}.parquet").unlink()
        for table in tables:
            final = out_dir / f"{table}.parquet"
            final.unlink(missing_ok=True)
            con.execute(f"copy marts.{table} to '{final}' (format parquet)")
            written[table] = con.execute(f"select count(*) from marts.{table}").fetchone()[0]
    context.log.info(f"exported {len(written)} tables to {out_dir}")
    return dg.MaterializeResult(metadata={"tables": dg.MetadataValue.json(written)})
