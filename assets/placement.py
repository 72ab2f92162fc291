"""`safetywash place`: a lab's own model placed in a published analysis's frame, from lm-evaluation-harness files.

The harness's ``results_*.json`` give the model's scores; ``assets/lm_eval_inputs.toml`` says, for each
benchmark of a source, which task, metric, filter and n-shot stand for it (the source's own settings). The
model's capabilities score is computed with the published fit's standardisation (the population's mean and
standard deviation of each input) and its published PC1 loadings: the fit is not redone, and the model does
not move the population. For each safety target the files also report, its residual against the published
least-squares line (differential progress) is set beside the population's residual spread. No dagster import.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from .analyses import Analysis
from .model_sets import load_model_sets
from .warehouse import query_frame

INPUTS_FILE = Path(__file__).resolve().parent / "lm_eval_inputs.toml"
# |residual_z| at or above this is called a gain (or a loss) beyond what capabilities explain
RESIDUAL_Z = 1.0
TIE = 1e-9  # scores this close are one score (the placement recomputes a published score to ~1e-13)


class PlacementError(ValueError):
    """Bad input or an analysis that cannot place a model: one line naming the file, task and setting."""


@dataclass(frozen=True)
class HarnessInput:
    """One benchmark of a source as the harness reports it."""

    source: str
    benchmark: str
    task: str
    metric: str
    filter: str
    n_shot: int
    scale: float

    @property
    def key(self) -> str:
        return f"{self.metric},{self.filter}"

    def describe(self) -> str:
        return f"{self.task} {self.n_shot}-shot {self.metric} (filter {self.filter})"


@dataclass(frozen=True)
class TaskResult:
    """One task of a results file: its metrics (``"<metric>,<filter>"`` -> value) and its n-shot."""

    task: str
    metrics: dict[str, float]
    n_shot: int | None
    file: str


@dataclass(frozen=True)
class Placement:
    analysis: str
    snapshot: str
    source_sha256: str
    method: str
    inputs: pl.DataFrame
    """benchmark, task, setting, file, harness value, value in the source's unit, standardised value, loading"""
    score: float
    rank: int
    """1 + the population's models with a higher score"""
    n_models: int
    percentile: float
    """share of the population below the score (ties count half), in percent"""
    residuals: pl.DataFrame
    """benchmark, area, observed, expected, residual, residual_sd, residual_z, n_models"""
    verdict: str


def harness_inputs(path: Path = INPUTS_FILE) -> dict[tuple[str, str], HarnessInput]:
    """The reviewed mapping, keyed by ``(source, benchmark)``."""
    entries = tomllib.loads(path.read_text())["inputs"]
    return {(e["source"], e["benchmark"]): HarnessInput(**e) for e in entries}


def read_results(paths: list[Path]) -> dict[str, TaskResult]:
    """Every task of the harness files ``paths`` (``results_*.json``); a task in two files is refused."""
    out: dict[str, TaskResult] = {}
    for path in paths:
        for task, result in _read_one(path).items():
            if task in out:
                raise PlacementError(f"{path}: task {task!r} is also in {out[task].file}; give one result per task")
            out[task] = result
    return out


def _read_one(path: Path) -> dict[str, TaskResult]:
    try:
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise PlacementError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise PlacementError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise PlacementError(f"{path}, line {exc.lineno}, column {exc.colno}: not JSON: {exc.msg}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise PlacementError(f'{path}: no "results" object: not an lm-evaluation-harness results file')
    n_shots = doc.get("n-shot") if isinstance(doc.get("n-shot"), dict) else {}
    configs = doc.get("configs") if isinstance(doc.get("configs"), dict) else {}
    groups = doc.get("group_subtasks") if isinstance(doc.get("group_subtasks"), dict) else {}

    def n_shot(task: str) -> int | None:
        if isinstance(n_shots.get(task), int):
            return n_shots[task]
        if isinstance(configs.get(task), dict) and isinstance(configs[task].get("num_fewshot"), int):
            return configs[task]["num_fewshot"]
        found = {n_shot(sub) for sub in groups.get(task) or []}
        return found.pop() if len(found) == 1 else None  # a group states the n-shot its subtasks share

    out = {}
    for task, values in doc["results"].items():
        if not isinstance(values, dict):
            raise PlacementError(f"{path}: results of task {task!r} are not an object")
        metrics = {
            k: float(v)
            for k, v in values.items()
            if "," in k and isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        out[task] = TaskResult(task, metrics, n_shot(task), str(path))
    return out


def place(
    con: duckdb.DuckDBPyConnection,
    analysis_name: str,
    results: dict[str, TaskResult],
    mapping: dict[tuple[str, str], HarnessInput] | None = None,
) -> Placement:
    """Place the model of ``results`` in the published analysis ``analysis_name`` (its newest snapshot).

    Parameters
    ----------
    con : duckdb connection to a published version (``marts.*``)
    analysis_name : a fitted analysis of ``marts.analyses``
    results : the model's harness results (:func:`read_results`)
    mapping : which harness result stands for each benchmark (default: :func:`harness_inputs`)

    Returns
    -------
    Placement
    """
    mapping = harness_inputs() if mapping is None else mapping
    row = con.execute(
        "select definition, status, snapshot from marts.analyses where analysis = ?", [analysis_name]
    ).fetchone()
    if row is None:
        known = [
            r[0]
            for r in con.execute("select analysis from marts.analyses where status = 'fitted' order by 1").fetchall()
        ]
        raise PlacementError(f"unknown analysis {analysis_name!r}; the published version has {', '.join(known)}")
    definition, status, snapshot = row
    if status != "fitted":
        raise PlacementError(f"analysis {analysis_name!r} has no published fit ({status})")
    analysis = Analysis.model_validate_json(definition)
    inputs_source = analysis.inputs_source or analysis.source
    components = query_frame(
        con,
        "select benchmark, loading, method from marts.capabilities_components where analysis = ? and snapshot = ?",
        [analysis_name, snapshot],
    )
    loading = dict(zip(components["benchmark"], components["loading"]))
    method = components["method"][0]
    # the published fit's inputs are its loadings' benchmarks: refused before its populations are read
    unmapped = sorted(b for b in loading if (inputs_source, b) not in mapping)
    if unmapped:
        covered = sorted({s for s, _ in mapping})
        raise PlacementError(
            f"analysis {analysis_name!r}: no reviewed lm-eval setting for its input(s) {unmapped} of source "
            f"{inputs_source!r} (assets/lm_eval_inputs.toml covers {', '.join(covered)})"
        )
    (ms,) = [m for m in load_model_sets(con, [analysis]) if m.snapshot == snapshot]
    caps = ms.capability_matrix
    fitted = caps[~np.isnan(caps).any(axis=1)]
    mean, sd = fitted.mean(axis=0), fitted.std(axis=0, ddof=0)
    rows = []
    for j, bench in enumerate(ms.capability_inputs):
        spec = mapping[(inputs_source, bench)]
        value = _value(results, spec)
        scaled = value * spec.scale
        z = scaled - mean[j] if method == "obsscaling" else (scaled - mean[j]) / sd[j]
        rows.append(
            {
                "benchmark": bench,
                "task": spec.task,
                "setting": spec.describe(),
                "file": results[spec.task].file,
                "harness_value": value,
                "value": scaled,
                "standardised": float(z),
                "loading": loading[bench],
            }
        )
    inputs = pl.DataFrame(rows)
    score = float((inputs["standardised"] * inputs["loading"]).sum())
    population = query_frame(
        con,
        "select capabilities_score from marts.capabilities_scores where analysis = ? and "
        "snapshot = ? and capabilities_score is not null",
        [analysis_name, snapshot],
    )["capabilities_score"].to_numpy()
    ties = np.abs(population - score) <= TIE
    percentile = (
        100 * ((population < score).sum() - (ties & (population < score)).sum() + ties.sum() / 2) / len(population)
    )
    rank = 1 + int((population > score + TIE).sum())
    residuals = _residuals(con, analysis_name, snapshot, analysis.source, ms.capability_inputs, results, mapping, score)
    return Placement(
        analysis_name,
        snapshot,
        ms.sha256,
        method,
        inputs,
        score,
        rank,
        len(population),
        percentile,
        residuals,
        _verdict(analysis_name, rank, len(population), percentile, residuals),
    )


def _value(results: dict[str, TaskResult], spec: HarnessInput) -> float:
    """The harness's value for ``spec``, refused unless the files ran it with exactly its setting."""
    found = results.get(spec.task)
    if found is None:
        raise PlacementError(f"task {spec.task!r} ({spec.benchmark}: {spec.describe()}) is in none of the files")
    if found.n_shot is None:
        raise PlacementError(
            f"{found.file}: task {spec.task!r} does not state its n-shot; {spec.benchmark} needs {spec.describe()}"
        )
    if found.n_shot != spec.n_shot:
        raise PlacementError(
            f"{found.file}: task {spec.task!r} ran {found.n_shot}-shot; {spec.benchmark} is {spec.describe()}: refused"
        )
    if spec.key not in found.metrics:
        raise PlacementError(
            f"{found.file}: task {spec.task!r} has no {spec.key!r} (it has {', '.join(sorted(found.metrics))}); "
            f"{spec.benchmark} is {spec.describe()}"
        )
    return found.metrics[spec.key]


def _residuals(
    con,
    analysis_name: str,
    snapshot: str,
    source: str,
    inputs: list[str],
    results: dict[str, TaskResult],
    mapping: dict[tuple[str, str], HarnessInput],
    score: float,
) -> pl.DataFrame:
    # the mart keeps each benchmark's line and each model's residual_z = residual / spread: the spread is read
    # back from it rather than computed again
    lines = query_frame(
        con,
        """
        select benchmark, any_value(area) as area, any_value(slope) as slope, any_value(intercept) as intercept,
               any_value(residual / residual_z) filter (where residual_z <> 0) as residual_sd, any_value(n_models) as n_models
        from marts.safety_residuals where analysis = ? and snapshot = ? and area is not null  -- safety targets
        group by benchmark order by benchmark""",
        [analysis_name, snapshot],
    )
    rows = []
    for line in lines.iter_rows(named=True):
        spec = mapping.get((source, line["benchmark"]))
        if spec is None or line["benchmark"] in inputs or spec.task not in results:
            continue
        observed = _value(results, spec) * spec.scale
        expected = line["intercept"] + line["slope"] * score
        residual = observed - expected
        rows.append(
            {
                "benchmark": line["benchmark"],
                "area": line["area"],
                "observed": observed,
                "expected": expected,
                "residual": residual,
                "residual_sd": line["residual_sd"],
                "residual_z": residual / line["residual_sd"] if line["residual_sd"] else None,
                "n_models": line["n_models"],
            }
        )
    schema = {
        "benchmark": pl.String,
        "area": pl.String,
        "observed": pl.Float64,
        "expected": pl.Float64,
        "residual": pl.Float64,
        "residual_sd": pl.Float64,
        "residual_z": pl.Float64,
        "n_models": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)


def _verdict(analysis: str, rank: int, n: int, percentile: float, residuals: pl.DataFrame) -> str:
    head = f"capabilities rank {rank} against the {n} models of {analysis} (above {percentile:.1f}% of them)"
    if residuals.is_empty():
        return head + "; no safety target of the analysis is in the files, so no differential progress"
    parts = []
    for row in residuals.iter_rows(named=True):
        z = row["residual_z"]
        word = (
            "safer than its capabilities explain"
            if z >= RESIDUAL_Z
            else "less safe than its capabilities explain"
            if z <= -RESIDUAL_Z
            else "as safe as its capabilities explain"
        )
        parts.append(f"{row['benchmark']} {word} (residual {row['residual']:+.2f}, {z:+.2f} sd)")
    return head + "; " + "; ".join(parts)
