"""The Hugging Face Open LLM Leaderboard, v2 and v1, as flattened to CSV by fboulnois/llm-leaderboard-csv.

v2 (``huggingface_v2.csv``): one row per evaluation ``id`` (model name, precision, commit and chat template:
the same ``model_name`` appears several times); per benchmark ``evaluations_<b>_value`` (raw, a fraction)
and ``evaluations_<b>_normalized_score`` (0-100, rescaled so that the random baseline is 0): both land, as
``<b>`` and ``<b>_normalized``. ``metadata_params_billions`` of ``-1`` or ``0`` means unknown (null).
v1 (``huggingface_v1.csv``): ARC, HellaSwag, MMLU, TruthfulQA, Winogrande, GSM8K in percent; a model name
appears once per (precision, commit), which identify the row; ``params_b = 0`` means unknown. Its
``flagged`` column is unreliable and is kept as an attribute only.
"""

from __future__ import annotations

import re

from .contract import read_table
from .leaderboard import Builder, Leaderboard

V1_BENCHMARKS = ("arc", "hellaswag", "mmlu", "truthfulqa", "winogrande", "gsm8k")
V1_ATTRIBUTES = ("type", "architecture", "weight_type", "merged", "hub_license", "hub_hearts", "moe", "flagged", "date")
V2_ATTRIBUTES = (
    "model_type",
    "model_weight_type",
    "model_architecture",
    "model_has_chat_template",
    "features_is_merged",
    "features_is_moe",
    "features_is_flagged",
    "features_is_official_provider",
    "metadata_submission_date",
    "metadata_base_model",
    "metadata_hub_license",
)
_V2_VALUE = re.compile(r"evaluations_(.+)_value")


UNKNOWN_PARAMS = ("-1", "0")  # how both versions say "parameter count unknown" (google/gemma-2-2b: 0)


def _params(table, cell: str, line: int, column: str) -> float | None:
    if cell in UNKNOWN_PARAMS:
        return None
    value = table.number(cell, line, column)
    if value is not None and value <= 0:
        raise table.error(line, f"column {column!r}: {cell!r} parameters (billions) must be positive or -1/0 (unknown)")
    return value


def parse_open_llm_v2(data: bytes, *, source: str, file: str) -> Leaderboard:
    """Parse ``huggingface_v2.csv`` (raw fractions as ``<b>``, normalised 0-100 as ``<b>_normalized``)."""
    table = read_table(
        data, source=source, file=file, required=("id", "model_name", "model_precision", "model_sha"), key=("id",)
    )
    benchmarks = [m.group(1) for c in table.header if (m := _V2_VALUE.fullmatch(c))]
    missing = [
        f"evaluations_{b}_normalized_score"
        for b in benchmarks
        if f"evaluations_{b}_normalized_score" not in table.header
    ]
    if not benchmarks or missing:
        raise table.error(
            1, f"expected evaluations_<b>_value and _normalized_score columns; missing {missing or 'all'}"
        )
    if not table.rows:
        raise table.error(None, "no model rows (header only)")
    col = {name: i for i, name in enumerate(table.header)}
    out = Builder()
    for b in benchmarks:
        label = f"evaluations_{b}_name"
        name = table.rows[0][1][col[label]] if label in col else b
        out.benchmark(b, f"evaluations_{b}_value", "fraction", True, f"{name}: raw score")
        out.benchmark(
            f"{b}_normalized",
            f"evaluations_{b}_normalized_score",
            "percent",
            True,
            f"{name}: 0-100, the random baseline rescaled to 0",
        )
    for line, row in table.rows:
        model_id = row[col["id"]]
        for b in benchmarks:
            out.score(
                model_id, b, table.number(row[col[f"evaluations_{b}_value"]], line, f"evaluations_{b}_value"), line
            )
            column = f"evaluations_{b}_normalized_score"
            out.score(model_id, f"{b}_normalized", table.number(row[col[column]], line, column), line)
        params = (
            _params(table, row[col["metadata_params_billions"]], line, "metadata_params_billions")
            if "metadata_params_billions" in col
            else None
        )
        out.model(
            model_id,
            line,
            model_name=row[col["model_name"]],
            precision=row[col["model_precision"]],
            model_sha=row[col["model_sha"]],
            params_billions=params,
            **{a: row[col[a]] or None for a in V2_ATTRIBUTES if a in col},
        )
    return out.build(table.duplicate_lines)


def parse_open_llm_v1(data: bytes, *, source: str, file: str) -> Leaderboard:
    """Parse ``huggingface_v1.csv``: six benchmarks in percent, a row per (model, precision, commit)."""
    table = read_table(
        data,
        source=source,
        file=file,
        required=("fullname", "precision", "model_sha", *V1_BENCHMARKS),
        key=("fullname", "precision", "model_sha"),
        may_be_empty=("model_sha",),
    )
    if not table.rows:
        raise table.error(None, "no model rows (header only)")
    col = {name: i for i, name in enumerate(table.header)}
    out = Builder()
    for b in V1_BENCHMARKS:
        out.benchmark(b, b, "percent", True, f"Open LLM Leaderboard v1 {b} (lm-evaluation-harness, its own shots)")
    for line, row in table.rows:
        name, precision, sha = row[col["fullname"]], row[col["precision"]], row[col["model_sha"]]
        model_id = f"{name}_{precision}_{sha}"
        for b in V1_BENCHMARKS:
            out.score(model_id, b, table.number(row[col[b]], line, b), line)
        params = _params(table, row[col["params_b"]], line, "params_b") if "params_b" in col else None
        out.model(
            model_id,
            line,
            model_name=name,
            precision=precision,
            model_sha=sha,
            params_billions=params,
            **{a: row[col[a]] or None for a in V1_ATTRIBUTES if a in col},
        )
    return out.build(table.duplicate_lines)
