"""The Safetywashing paper's CSVs (centerforaisafety/safetywashing, ``data/``).

``benchmarks_{base,chat}_models.csv``: one row per model, column ``model`` (HF-style id), one column
per benchmark metric (already oriented so that higher is safer / better), and the model attributes
``model_size`` (parameters), ``FLOP`` (training compute), ``name`` and ``type``.
``benchmarks_info.csv``: ``benchmark,name,metric``, the metric text ending in ``(↑)`` or ``(↓)``.
"""

from __future__ import annotations

import csv
import io
import math

import polars as pl

from . import ParseError

ATTRIBUTE_COLUMNS = ("model_size", "FLOP", "name", "type")
INFO_COLUMNS = ("benchmark", "name", "metric")

SCORES_SCHEMA = {
    "model_id": pl.String,
    "benchmark": pl.String,
    "value": pl.Float64,
    "line": pl.Int64,
}
MODELS_SCHEMA = {
    "model_id": pl.String,
    "display_name": pl.String,
    "parameters": pl.Float64,
    "training_flop": pl.Float64,
    "model_type": pl.String,
    "line": pl.Int64,
}
BENCHMARKS_SCHEMA = {
    "benchmark": pl.String,
    "display_name": pl.String,
    "metric": pl.String,
    "higher_is_better": pl.Boolean,
    "line": pl.Int64,
}


def _rows(data: bytes, source: str, file: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(source, file, text_line(data, exc.start), f"not UTF-8 ({exc.reason})") from exc
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ParseError(source, file, None, "file is empty") from None
    except csv.Error as exc:
        raise ParseError(source, file, 1, f"malformed CSV: {exc}") from exc
    rows = []
    try:
        for row in reader:
            if row:
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise ParseError(source, file, reader.line_num, f"malformed CSV: {exc}") from exc
    if not text.endswith("\n") and rows:
        raise ParseError(source, file, rows[-1][0], "file does not end with a newline: truncated?")
    for line, row in rows:
        if len(row) != len(header):
            raise ParseError(source, file, line, f"{len(row)} fields where the header has {len(header)}: truncated or malformed row")
    return header, rows


def text_line(data: bytes, offset: int) -> int:
    """1-based line number of a byte offset."""
    return data.count(b"\n", 0, offset) + 1


def _number(cell: str, source: str, file: str, line: int, column: str) -> float | None:
    if cell.strip() == "":
        return None
    try:
        value = float(cell)
    except ValueError:
        raise ParseError(source, file, line, f"column {column!r}: {cell!r} is not a number") from None
    if not math.isfinite(value):
        raise ParseError(source, file, line, f"column {column!r}: {cell!r} is not a finite number")
    return value


def _identifier(cell: str, what: str, seen: dict[str, int], source: str, file: str, line: int) -> str:
    """A row's id: not empty, not seen before in the file (``seen`` maps ids to their line)."""
    value = cell.strip()
    if not value:
        raise ParseError(source, file, line, f"empty {what} id")
    if value in seen:
        raise ParseError(source, file, line, f"{what} {value!r} already on line {seen[value]}")
    seen[value] = line
    return value


def parse_matrix(data: bytes, *, source: str, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse a model × benchmark matrix.

    Returns
    -------
    (scores, models)
        ``scores``: one row per (model, benchmark) cell, ``value`` null where the cell is empty;
        ``models``: one row per model with its attributes. Both carry the file ``line``.
    """
    header, rows = _rows(data, source, file)
    if not header or header[0] != "model":
        raise ParseError(source, file, 1, f"first column must be 'model', found {header[:1]}")
    missing = [c for c in ATTRIBUTE_COLUMNS if c not in header]
    if missing:
        raise ParseError(source, file, 1, f"missing attribute column(s) {missing}")
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise ParseError(source, file, 1, f"duplicate column(s) {dupes}")
    if not rows:
        raise ParseError(source, file, None, "no model rows")
    col = {name: i for i, name in enumerate(header)}
    benchmarks = [c for c in header[1:] if c not in ATTRIBUTE_COLUMNS]
    seen: dict[str, int] = {}
    scores: dict[str, list] = {k: [] for k in SCORES_SCHEMA}
    models: dict[str, list] = {k: [] for k in MODELS_SCHEMA}
    for line, row in rows:
        model_id = _identifier(row[0], "model", seen, source, file, line)
        models["model_id"].append(model_id)
        models["display_name"].append(row[col["name"]].strip() or None)
        models["parameters"].append(_number(row[col["model_size"]], source, file, line, "model_size"))
        models["training_flop"].append(_number(row[col["FLOP"]], source, file, line, "FLOP"))
        models["model_type"].append(row[col["type"]].strip() or None)
        models["line"].append(line)
        for bench in benchmarks:
            scores["model_id"].append(model_id)
            scores["benchmark"].append(bench)
            scores["value"].append(_number(row[col[bench]], source, file, line, bench))
            scores["line"].append(line)
    return pl.DataFrame(scores, schema=SCORES_SCHEMA), pl.DataFrame(models, schema=MODELS_SCHEMA)


def parse_benchmark_info(data: bytes, *, source: str, file: str) -> pl.DataFrame:
    """Parse ``benchmarks_info.csv``: display name, metric text and its direction per benchmark."""
    header, rows = _rows(data, source, file)
    if tuple(header) != INFO_COLUMNS:
        raise ParseError(source, file, 1, f"expected header {list(INFO_COLUMNS)}, found {header}")
    out: dict[str, list] = {k: [] for k in BENCHMARKS_SCHEMA}
    seen: dict[str, int] = {}
    for line, (bench, name, metric) in rows:
        bench = _identifier(bench, "benchmark", seen, source, file, line)
        out["benchmark"].append(bench)
        out["display_name"].append(name.strip() or None)
        out["metric"].append(metric.strip() or None)
        out["higher_is_better"].append(True if "↑" in metric else False if "↓" in metric else None)
        out["line"].append(line)
    return pl.DataFrame(out, schema=BENCHMARKS_SCHEMA)
