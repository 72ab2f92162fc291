"""`safetywash sql`'s output: any DuckDB result, of any type and any size, streamed as a table, CSV or JSON.

Every value is made printable inside DuckDB before it reaches Python: lists, structs, maps, arrays, unions and
variants as JSON text, intervals as ISO 8601 durations (PostgreSQL's ``iso_8601`` style), decimals, UUIDs,
blobs, bit strings, enums and the other uncommon types as DuckDB's own text. Rows arrive in Arrow batches, so
a CSV or JSON of ten million rows never sits in memory, and the table shows the first rows and counts the rest.
No dagster import.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from typing import IO

import duckdb
import polars as pl
import pyarrow as pa

BATCH_ROWS = 10_000
NESTED = {"list", "struct", "map", "array", "union", "variant"}
KEPT = {
    "boolean",
    "tinyint",
    "smallint",
    "integer",
    "bigint",
    "utinyint",
    "usmallint",
    "uinteger",
    "ubigint",
    "float",
    "double",
    "varchar",
    "date",
    "timestamp",
    "timestamp_s",
    "timestamp_ms",
    "timestamp_ns",
    "timestamp with time zone",
    "time",
}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def printable(relation: duckdb.DuckDBPyRelation) -> tuple[duckdb.DuckDBPyRelation, set[str], set[str]]:
    """``relation`` with every column in a printable type; and the names of its JSON and its interval columns."""
    exprs, as_json, intervals = [], set(), set()
    for name, dtype in zip(relation.columns, relation.types):
        kind, col = dtype.id, _quote(name)
        if kind in NESTED:
            exprs.append(f"cast(to_json({col}) as varchar) as {col}")
            as_json.add(name)
        elif kind == "interval":
            exprs.append(f"{col} as {col}")  # formatted from Arrow's (months, days, nanoseconds)
            intervals.add(name)
        elif kind in KEPT:
            exprs.append(col)
        else:
            exprs.append(f"cast({col} as varchar) as {col}")
    return relation.project(", ".join(exprs)), as_json, intervals


def iso_duration(value) -> str | None:
    """An interval as ISO 8601 text, each part with its own sign (``P1Y2M3DT4H5M6.5S``, ``PT0S``, ``P-1D``)."""
    if value is None:
        return None
    sign = -1 if value.months < 0 else 1
    years, months = sign * (abs(value.months) // 12), sign * (abs(value.months) % 12)
    micros = int(value.nanoseconds / 1000)
    minus = "-" if micros < 0 else ""
    hours, rest = divmod(abs(micros), 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds = f"{rest // 1_000_000}.{rest % 1_000_000:06d}".rstrip("0").rstrip(".")
    date = "".join(f"{n}{unit}" for n, unit in ((years, "Y"), (months, "M"), (value.days, "D")) if n)
    time = "".join(
        f"{minus}{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if n not in (0, "0")
    )
    return "P" + date + (f"T{time}" if time else "") if date or time else "PT0S"


def _batches(relation: duckdb.DuckDBPyRelation, intervals: set[str]) -> Iterator[pa.RecordBatch]:
    for batch in relation.to_arrow_reader(BATCH_ROWS):
        if intervals:
            columns = [
                pa.array([iso_duration(v) for v in batch.column(name).to_pylist()], pa.string())
                if name in intervals
                else batch.column(name)
                for name in batch.schema.names
            ]
            batch = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
        yield batch


def write_csv(relation: duckdb.DuckDBPyRelation, out: IO[str], limit: int | None = None) -> int:
    """The result as CSV (header first, nulls empty, JSON text for nested values); returns the rows written."""
    shown, _, intervals = printable(relation)
    written, header = 0, True
    for batch in _batches(shown, intervals):
        if limit is not None:
            batch = batch.slice(0, limit - written)
        # polars quotes a field only when it must (Arrow's writer quotes every string and the header)
        out.write(pl.from_arrow(batch).write_csv(include_header=header))
        written, header = written + batch.num_rows, False
        if limit is not None and written >= limit:
            break
    if header:  # no batch at all: the header alone
        csv.writer(out, lineterminator="\n").writerow(shown.columns)
    return written


def _json_value(value, nested: bool):
    if value is None:
        return None
    if nested:
        return json.loads(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value).replace("inf", "Infinity").replace("nan", "NaN")  # JSON has no such numbers
    if isinstance(value, (int, float, str, bool)):
        return value
    return str(value)


def write_json(relation: duckdb.DuckDBPyRelation, out: IO[str], limit: int | None = None) -> int:
    """The result as a JSON array of objects, one per line (nested values as JSON; NaN and infinities as
    strings, which JSON numbers cannot be); returns the rows written."""
    shown, as_json, intervals = printable(relation)
    out.write("[")
    written = 0
    for batch in _batches(shown, intervals):
        for row in batch.to_pylist():
            if limit is not None and written >= limit:
                break
            record = {k: _json_value(v, k in as_json) for k, v in row.items()}
            out.write(("\n" if written == 0 else ",\n") + json.dumps(record, ensure_ascii=False))
            written += 1
    out.write("\n]\n" if written else "]\n")
    return written


def write_table(relation: duckdb.DuckDBPyRelation, out: IO[str], limit: int, width: int = 160) -> tuple[int, int]:
    """The first ``limit`` rows as a table, then "N of M rows"; returns (shown, total). Only the shown rows are
    held: the others are counted as they stream by."""
    shown_rel, _, intervals = printable(relation)
    head: list[pa.RecordBatch] = []
    total = 0
    for batch in _batches(shown_rel, intervals):
        if total < limit:
            head.append(batch.slice(0, limit - total))
        total += batch.num_rows
    frame = (
        pl.from_arrow(pa.Table.from_batches(head))
        if head
        else pl.DataFrame(schema=dict.fromkeys(shown_rel.columns, pl.String))
    )
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        fmt_str_lengths=48,
        fmt_table_cell_list_len=6,
        tbl_width_chars=width,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=False,
    ):
        out.write(f"{frame}\n")
    rows = min(total, limit)
    more = f" (--limit {total} shows them all)" if total > rows else ""
    out.write(f"{rows} of {total} row(s) shown{more}\n")
    return rows, total
