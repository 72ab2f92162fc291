"""The Safetywashing paper's CSVs (centerforaisafety/safetywashing, ``data/``).

``benchmarks_{base,chat}_models.csv``: one row per model, column ``model`` (HF-style id), one column
per benchmark metric (already oriented so that higher is safer / better), and the model attributes
``model_size`` (parameters), ``FLOP`` (training compute), ``name`` and ``type``.
``benchmarks_info.csv``: ``benchmark,name,metric``, the metric text ending in ``(↑)`` or ``(↓)``.
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from .contract import read_table

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


class Matrix(NamedTuple):
    """A parsed model × benchmark matrix."""

    scores: pl.DataFrame
    """one row per (model, benchmark) cell, ``value`` null where the cell is empty, with its ``line``"""
    models: pl.DataFrame
    """one row per model with its attributes and ``line``"""
    duplicate_lines: list[int]
    """lines dropped because they repeat an earlier row exactly"""


def parse_matrix(data: bytes, *, source: str, file: str) -> Matrix:
    """Parse a model × benchmark matrix: column ``model``, the attribute columns, and every other
    column a benchmark (found by name, in any order)."""
    table = read_table(data, source=source, file=file, required=("model", *ATTRIBUTE_COLUMNS), key=("model",))
    if not table.rows:
        raise table.error(None, "no model rows")
    col = {name: i for i, name in enumerate(table.header)}
    benchmarks = [c for c in table.header if c != "model" and c not in ATTRIBUTE_COLUMNS]
    scores: dict[str, list] = {k: [] for k in SCORES_SCHEMA}
    models: dict[str, list] = {k: [] for k in MODELS_SCHEMA}
    for line, row in table.rows:
        model_id = row[col["model"]]
        models["model_id"].append(model_id)
        models["display_name"].append(row[col["name"]] or None)
        models["parameters"].append(table.number(row[col["model_size"]], line, "model_size"))
        models["training_flop"].append(table.number(row[col["FLOP"]], line, "FLOP"))
        models["model_type"].append(row[col["type"]] or None)
        models["line"].append(line)
        for bench in benchmarks:
            scores["model_id"].append(model_id)
            scores["benchmark"].append(bench)
            scores["value"].append(table.number(row[col[bench]], line, bench))
            scores["line"].append(line)
    return Matrix(
        pl.DataFrame(scores, schema=SCORES_SCHEMA), pl.DataFrame(models, schema=MODELS_SCHEMA), table.duplicate_lines
    )


class BenchmarkInfo(NamedTuple):
    benchmarks: pl.DataFrame
    """one row per benchmark: display name, metric text, direction, ``line``"""
    duplicate_lines: list[int]
    """lines dropped because they repeat an earlier row exactly"""


def parse_benchmark_info(data: bytes, *, source: str, file: str) -> BenchmarkInfo:
    """Parse ``benchmarks_info.csv``: display name, metric text and its direction per benchmark."""
    table = read_table(data, source=source, file=file, required=INFO_COLUMNS, key=("benchmark",))
    col = {name: table.index(name) for name in INFO_COLUMNS}
    out: dict[str, list] = {k: [] for k in BENCHMARKS_SCHEMA}
    for line, row in table.rows:
        metric = row[col["metric"]]
        out["benchmark"].append(row[col["benchmark"]])
        out["display_name"].append(row[col["name"]] or None)
        out["metric"].append(metric or None)
        out["higher_is_better"].append(True if "↑" in metric else False if "↓" in metric else None)
        out["line"].append(line)
    return BenchmarkInfo(pl.DataFrame(out, schema=BENCHMARKS_SCHEMA), table.duplicate_lines)
