"""`safetywash check`: a new benchmark's capabilities correlation against a published analysis.

A user's scores for some models (a CSV: ``model, score[, higher_is_better]``) are matched to an analysis's
population by ``model_key`` only (never by similarity) and correlated with its capabilities score and with
training compute, with the analysis's own bootstrap (refit in every resample, same seed and B), so a column
taken from the warehouse gives back the warehouse's row. No dagster import.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from .identity import model_key
from .model_sets import ModelSet, fitted_analyses, load_model_sets
from .stats.bootstrap import Replicator, correlation_table, resample_weights
from .stats.correlation import Comparison

MIN_MATCHED = 5
HIGH, LOW = 0.7, 0.3


class CheckError(ValueError):
    """Bad input: names the file and the row."""


@dataclass(frozen=True)
class CheckResult:
    analysis: str
    snapshot: str
    correlations: pl.DataFrame
    matched: pl.DataFrame
    """``model, model_id, model_key`` of every row that joined the population"""
    unmatched: pl.DataFrame
    """``model, model_key, reason`` of every row that did not"""

    @property
    def verdict(self) -> str:
        row = self.correlations.filter(pl.col("versus") == "capabilities").row(0, named=True)
        rho, low, high = row["spearman"], row["ci_low"], row["ci_high"]
        if rho is None:
            return f"no verdict: {row['note']}"
        interval = "" if low is None else f", 95% interval [{low:.2f}, {high:.2f}]"
        if rho >= HIGH:
            return (f"HIGH capabilities correlation {rho:.2f}{interval} (>= {HIGH}): scores on this benchmark rise "
                    "with general capabilities; gains on it may be capability gains (safetywashing risk)")
        if rho <= LOW and (high is None or high < HIGH):
            return (f"LOW capabilities correlation {rho:.2f}{interval} (<= {LOW}, interval below {HIGH}): this "
                    "benchmark measures something other than general capabilities")
        return f"MODERATE capabilities correlation {rho:.2f}{interval} (between {LOW} and {HIGH})"


def read_scores(data: bytes, file: str) -> pl.DataFrame:
    """``model, score`` (oriented so that higher is better) from a CSV; errors name the file and line."""
    try:
        frame = pl.read_csv(io.BytesIO(data), infer_schema=False)
    except Exception as exc:  # noqa: BLE001 - polars raises several kinds for a file that is not CSV
        raise CheckError(f"{file}: not a readable CSV ({' '.join(str(exc).split())[:200]})") from None
    missing = {"model", "score"} - set(frame.columns)
    if missing:
        raise CheckError(f"{file}: missing column(s) {sorted(missing)}; expected model, score[, higher_is_better]")
    rows = []
    for line, row in enumerate(frame.iter_rows(named=True), start=2):
        name = (row["model"] or "").strip()
        if not name:
            raise CheckError(f"{file}, line {line}: empty model name")
        try:
            score = float(row["score"])
        except (TypeError, ValueError):
            raise CheckError(f"{file}, line {line}: score {row['score']!r} of {name!r} is not a number") from None
        if not np.isfinite(score):
            raise CheckError(f"{file}, line {line}: score of {name!r} is not finite")
        flag = (row.get("higher_is_better") or "true").strip().lower()
        if flag not in ("true", "false", "1", "0", "yes", "no"):
            raise CheckError(f"{file}, line {line}: higher_is_better {row['higher_is_better']!r} is not true/false")
        rows.append({"model": name, "score": score if flag in ("true", "1", "yes") else -score, "line": line})
    out = pl.DataFrame(rows, schema={"model": pl.String, "score": pl.Float64, "line": pl.Int64})
    dupes = out.filter(pl.col("model").is_duplicated())
    if not dupes.is_empty():
        raise CheckError(f"{file}, lines {dupes['line'].to_list()}: model {dupes['model'][0]!r} appears more than once")
    return out


def _match(con: duckdb.DuckDBPyConnection, scores: pl.DataFrame, ms: ModelSet):
    """Each row's model in the population, by key: the name's rule key or any key `marts.model_identity`
    gives the name (a reviewed alias), against each model's identity key and rule key. A row joins only
    when exactly one model of the population shares a key."""
    owners: dict[str, set[str]] = {}
    for model_id, key in zip(ms.model_ids, ms.model_keys):
        for k in {key, model_key(model_id).key} - {None}:
            owners.setdefault(k, set()).add(model_id)
    known = dict(con.execute("select raw_name, list(distinct model_key) from marts.model_identity "
                             "where model_key is not null and raw_name in (select unnest(?)) group by raw_name",
                             [scores["model"].to_list()]).fetchall())
    y = np.full(len(ms.model_ids), np.nan)
    matched, unmatched = [], []
    for name, score in scores.select("model", "score").iter_rows():
        keys = {model_key(name).key, *known.get(name, [])}
        found = set().union(*(owners.get(k, set()) for k in keys))
        key = model_key(name).key
        if len(found) == 1:
            model_id = found.pop()
            y[ms.model_ids.index(model_id)] = score
            matched.append((name, model_id, key))
        else:
            reason = "no model of the analysis has this key" if not found else f"the key stands for {len(found)} models"
            unmatched.append((name, key, reason))
    return (y, pl.DataFrame(matched, schema=["model", "model_id", "model_key"], orient="row"),
            pl.DataFrame(unmatched, schema=["model", "model_key", "reason"], orient="row"))


def check(con: duckdb.DuckDBPyConnection, scores: pl.DataFrame, analysis: str | None = None,
          benchmark: str = "your_benchmark") -> CheckResult:
    """Correlate ``scores`` (from :func:`read_scores`) with an analysis of the published warehouse ``con``.

    ``analysis`` None: the fitted analysis whose newest population matches the most rows.
    """
    analyses = fitted_analyses(con)
    if analysis is not None:
        analyses = [a for a in analyses if a.name == analysis]
        if not analyses:
            names = ", ".join(a.name for a in fitted_analyses(con))
            raise CheckError(f"analysis {analysis!r} is not a fitted analysis of this warehouse ({names})")
    best = None
    for a in analyses:
        sets = load_model_sets(con, [a])
        if not sets:
            continue
        ms = sets[-1]
        y, matched, unmatched = _match(con, scores, ms)
        if best is None or matched.height > best[2].height:
            best = (a, ms, matched, unmatched, y)
    if best is None:
        raise CheckError("no fitted analysis in this warehouse")
    a, ms, matched, unmatched, y = best
    settings = con.execute("""select max(n_resamples), max(bootstrap_seed), bool_or(ci_method = 'bca'), max(capabilities_method)
                              from marts.benchmark_correlations where analysis = ?""", [a.name]).fetchall()[0]
    n_resamples, seed, bca, method = settings
    comparisons = [Comparison(benchmark, "capabilities", y), Comparison(benchmark, "compute", y, x=ms.training_flop)]
    replicator = Replicator(ms.capability_matrix, comparisons, method)
    theta = replicator(resample_weights(replicator.n, seed, 0, n_resamples))
    table = correlation_table(replicator, theta, n_resamples=n_resamples, seed=seed,
                              method="bca" if bca else "percentile")
    return CheckResult(a.name, ms.snapshot, table, matched, unmatched)
