"""Small helpers for the metadata assets attach to their materializations."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl

from .columns import description as column_description

DISPLAY_DIGITS = 4
_TYPES = {
    pl.String: "string",
    pl.Int64: "int",
    pl.Int32: "int",
    pl.Float64: "float",
    pl.Boolean: "bool",
    pl.Date: "date",
    pl.Datetime: "timestamp",
}


def _type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.List):
        return f"list<{_type(dtype.inner)}>"
    return _TYPES.get(dtype.base_type(), str(dtype).lower())


def column_schema(frame: pl.DataFrame, table: str | None = None) -> dg.TableSchema:
    """A table's columns and types as Dagster's ``dagster/column_schema`` (shown on the asset's page), described
    from :mod:`assets.columns` when ``table`` (``schema.table``) is given."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, _type(dtype), description=table and column_description(table, name))
            for name, dtype in frame.schema.items()
        ]
    )


def table_metadata(frame: pl.DataFrame) -> dg.MetadataValue:
    """A small frame as Dagster table metadata: every column shown, sortable in the UI, floats to
    :data:`DISPLAY_DIGITS` significant digits (the marts keep every digit)."""

    def cell(v: object) -> str | int | float | bool | None:
        if isinstance(v, (dt.date, dt.datetime, list, dict)):
            return str(v)
        if isinstance(v, float):
            return float(f"{v:.{DISPLAY_DIGITS}g}")
        return v

    return dg.MetadataValue.table(
        records=[dg.TableRecord({k: cell(v) for k, v in row.items()}) for row in frame.iter_rows(named=True)],
        schema=column_schema(frame),
    )
