"""The long form every leaderboard adapter returns, whatever its file looks like.

``scores``: one row per (model, benchmark) with the value as published (``scale`` and direction are in
``benchmarks``, orientation happens in dbt's staging layer), optional ``stderr`` and 95% interval bounds;
``models``: one row per model with the attributes the file carries (JSON text, so formats with different
attributes share one table); ``benchmarks``: one row per benchmark the file reports: the column it came
from, its scale and whether higher is better, as the format documents them.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import polars as pl

SCORES_SCHEMA = {
    "model_id": pl.String,
    "benchmark": pl.String,
    "value": pl.Float64,
    "stderr": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "line": pl.Int64,
}
MODELS_SCHEMA = {"model_id": pl.String, "attributes": pl.String, "line": pl.Int64}
BENCHMARKS_SCHEMA = {
    "benchmark": pl.String,
    "source_column": pl.String,
    "scale": pl.String,
    "higher_is_better": pl.Boolean,
    "description": pl.String,
}
SCALES = ("fraction", "percent", "elo", "rank", "score_1_10", "minutes", "count", "bleu", "score")


class Leaderboard(NamedTuple):
    scores: pl.DataFrame
    models: pl.DataFrame
    benchmarks: pl.DataFrame
    duplicate_lines: list[int]
    """lines dropped because they repeat an earlier row (positional columns aside)"""


class Builder:
    """Accumulates rows in the long form, then freezes them into a :class:`Leaderboard`."""

    def __init__(self) -> None:
        self.scores: dict[str, list] = {k: [] for k in SCORES_SCHEMA}
        self.models: dict[str, list] = {k: [] for k in MODELS_SCHEMA}
        self.benchmarks: dict[str, dict] = {}

    def benchmark(self, name: str, source_column: str, scale: str, higher_is_better: bool, description: str) -> None:
        assert scale in SCALES, scale
        self.benchmarks[name] = {
            "benchmark": name,
            "source_column": source_column,
            "scale": scale,
            "higher_is_better": higher_is_better,
            "description": description,
        }

    def score(
        self,
        model_id: str,
        benchmark: str,
        value: float | None,
        line: int,
        *,
        stderr: float | None = None,
        ci_low: float | None = None,
        ci_high: float | None = None,
    ) -> None:
        for key, v in zip(SCORES_SCHEMA, (model_id, benchmark, value, stderr, ci_low, ci_high, line)):
            self.scores[key].append(v)

    def model(self, model_id: str, line: int, **attributes: object) -> None:
        self.models["model_id"].append(model_id)
        self.models["attributes"].append(json.dumps(attributes, sort_keys=True))
        self.models["line"].append(line)

    def build(self, duplicate_lines: list[int]) -> Leaderboard:
        return Leaderboard(
            pl.DataFrame(self.scores, schema=SCORES_SCHEMA),
            pl.DataFrame(self.models, schema=MODELS_SCHEMA),
            pl.DataFrame(list(self.benchmarks.values()), schema=BENCHMARKS_SCHEMA),
            duplicate_lines,
        )
