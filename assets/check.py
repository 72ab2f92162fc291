"""`safetywash check`: a new benchmark's capabilities correlation against a published analysis.

A user's scores for some models (a CSV: ``model, score[, higher_is_better]``) are matched to an analysis's
population by ``model_key`` only (never by similarity) and correlated with its capabilities score and with
training compute, with the analysis's own bootstrap (refit in every resample, same seed and B), so a column
taken from the warehouse gives back the warehouse's row. No dagster import.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from .model_keys import model_key
from .model_sets import ModelSet, fitted_analyses, load_model_sets
from .stats.bootstrap import Replicator, correlation_table, resample_weights
from .settings import HIGH, LOW
from .stats.correlation import Comparison

MIN_MATCHED = 5


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
            return (
                f"HIGH capabilities correlation {rho:.2f}{interval} (>= {HIGH}): scores on this benchmark rise "
                "with general capabilities; gains on it may be capability gains (safetywashing risk)"
            )
        if rho <= LOW and (high is None or high < HIGH):
            return (
                f"LOW capabilities correlation {rho:.2f}{interval} (<= {LOW}, interval below {HIGH}): this "
                "benchmark measures something other than general capabilities"
            )
        return f"MODERATE capabilities correlation {rho:.2f}{interval} (between {LOW} and {HIGH})"


def _decode(data: bytes, file: str) -> str:
    """The file's text; a file that is not UTF-8 is refused naming the line of its first bad byte."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CheckError(f"{file}: not UTF-8: it starts with a UTF-16 byte-order mark; save it as UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CheckError(
            f"{file}, line {line}: not UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); save it as UTF-8"
        ) from None
    if "\0" in text:
        line = text[: text.index("\0")].count("\n") + 1
        raise CheckError(
            f"{file}, line {line}: a NUL character: not a UTF-8 text CSV (UTF-16 has one beside every "
            "ASCII character); save it as UTF-8"
        )
    return text


def read_scores(data: bytes, file: str) -> pl.DataFrame:
    """``model, score`` (oriented so that higher is better) from a CSV; errors name the file and line.

    Two rows whose names have one ``model_key`` (two spellings of one model) are refused, naming both lines."""
    reader = csv.reader(io.StringIO(_decode(data, file), newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader, [])]
        missing = {"model", "score"} - set(header)
        if missing:
            raise CheckError(
                f"{file}, line 1: missing column(s) {sorted(missing)} in the header {header}; expected "
                "model, score[, higher_is_better]"
            )
        records = []
        for fields in reader:
            if not fields:
                continue
            if len(fields) != len(header):
                raise CheckError(
                    f"{file}, line {reader.line_num}: {len(fields)} field(s), the header has {len(header)}"
                )
            records.append((reader.line_num, dict(zip(header, fields))))
    except csv.Error as exc:
        raise CheckError(f"{file}, line {reader.line_num}: not a readable CSV row ({exc})") from None
    if not records:
        raise CheckError(f"{file}: no rows after the header; a check needs model, score rows")
    rows, first = [], {}
    for line, row in records:
        name = row["model"].strip()
        if not name:
            raise CheckError(f"{file}, line {line}: empty model name")
        try:
            score = float(row["score"])
        except ValueError:
            raise CheckError(f"{file}, line {line}: score {row['score']!r} of {name!r} is not a number") from None
        if not np.isfinite(score):
            raise CheckError(f"{file}, line {line}: score of {name!r} is not finite")
        flag = (row.get("higher_is_better") or "true").strip().lower()
        if flag not in ("true", "false", "1", "0", "yes", "no"):
            raise CheckError(f"{file}, line {line}: higher_is_better {row['higher_is_better']!r} is not true/false")
        key = model_key(name).key
        if key in first:
            other_line, other = first[key]
            raise CheckError(
                f"{file}, lines {other_line} and {line}: {other!r} and {name!r} are one model "
                f"(model_key {key!r}); keep one row per model"
            )
        first[key] = (line, name)
        rows.append({"model": name, "score": score if flag in ("true", "1", "yes") else -score, "line": line})
    return pl.DataFrame(rows, schema={"model": pl.String, "score": pl.Float64, "line": pl.Int64})


def _match(con: duckdb.DuckDBPyConnection, scores: pl.DataFrame, ms: ModelSet, file: str):
    """Each row's model in the population, by key: the name's rule key or any key `marts.model_identity`
    gives the name (a reviewed alias), against each model's identity key and rule key. A row joins only
    when exactly one model of the population shares a key."""
    owners: dict[str, set[str]] = {}
    for model_id, key in zip(ms.model_ids, ms.model_keys):
        for k in {key, model_key(model_id).key} - {None}:
            owners.setdefault(k, set()).add(model_id)
    known = dict(
        con.execute(
            "select raw_name, list(distinct model_key) from marts.model_identity "
            "where model_key is not null and raw_name in (select unnest(?)) group by raw_name",
            [scores["model"].to_list()],
        ).fetchall()
    )
    y = np.full(len(ms.model_ids), np.nan)
    matched, unmatched, taken = [], [], {}
    for name, score, line in scores.select("model", "score", "line").iter_rows():
        keys = {model_key(name).key, *known.get(name, [])}
        found = set().union(*(owners.get(k, set()) for k in keys))
        key = model_key(name).key
        if len(found) == 1:
            model_id = found.pop()
            if model_id in taken:  # two spellings that only a reviewed alias makes one model
                other_line, other = taken[model_id]
                raise CheckError(
                    f"{file}, lines {other_line} and {line}: {other!r} and {name!r} both stand for model "
                    f"{model_id!r} of analysis {ms.analysis!r} (model_key {key!r}); keep one row per model"
                )
            taken[model_id] = (line, name)
            y[ms.model_ids.index(model_id)] = score
            matched.append((name, model_id, key))
        else:
            reason = "no model of the analysis has this key" if not found else f"the key stands for {len(found)} models"
            unmatched.append((name, key, reason))
    return (
        y,
        pl.DataFrame(matched, schema=["model", "model_id", "model_key"], orient="row"),
        pl.DataFrame(unmatched, schema=["model", "model_key", "reason"], orient="row"),
    )


def check(
    con: duckdb.DuckDBPyConnection,
    scores: pl.DataFrame,
    analysis: str | None = None,
    benchmark: str = "your_benchmark",
    file: str = "scores",
) -> CheckResult:
    """Correlate ``scores`` (from :func:`read_scores`) with an analysis of the published warehouse ``con``.

    ``analysis`` None: the fitted analysis whose newest population matches the most rows. ``file`` names the
    scores' file in errors.
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
        y, matched, unmatched = _match(con, scores, ms, file)
        if best is None or matched.height > best[2].height:
            best = (a, ms, matched, unmatched, y)
    if best is None:
        raise CheckError("no fitted analysis in this warehouse")
    a, ms, matched, unmatched, y = best
    settings = con.execute(
        """select max(n_resamples), max(bootstrap_seed), bool_or(ci_method = 'bca'), max(capabilities_method)
                              from marts.benchmark_correlations where analysis = ?""",
        [a.name],
    ).fetchall()[0]
    n_resamples, seed, bca, method = settings
    comparisons = [Comparison(benchmark, "capabilities", y), Comparison(benchmark, "compute", y, x=ms.training_flop)]
    replicator = Replicator(ms.capability_matrix, comparisons, method, reimpute=ms.reimputation)
    theta = replicator(resample_weights(replicator.n, seed, 0, n_resamples))
    table = correlation_table(
        replicator, theta, n_resamples=n_resamples, seed=seed, method="bca" if bca else "percentile"
    )
    return CheckResult(a.name, ms.snapshot, table, matched, unmatched)
