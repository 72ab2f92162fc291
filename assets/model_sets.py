"""Read the marts into one matrix per analysis and snapshot (a *population*) for the statistics."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from . import lake
from .analyses import Analysis, AnalysisError
from .model_keys import RAW_NAME
from .stats.correlation import Comparison
from .stats.imputation import Reimputation, pca_impute
from .warehouse import query_frame


@dataclass(frozen=True)
class ModelSet:
    """One analysis's population in one snapshot as dense arrays (NaN where a value is missing)."""

    source: str
    model_set: str | None
    snapshot: str
    sha256: str
    model_ids: list[str]
    benchmarks: list[str]
    values: np.ndarray
    training_flop: np.ndarray
    capability_inputs: list[str]
    area: dict[str, str | None]
    accuracy_of: dict[str, str | None]
    analysis: str = ""
    """the analysis (``analyses.toml``) this population belongs to"""
    snapshot_date: date | None = None
    model_keys: list[str | None] = field(default_factory=list)
    """``marts.model_identity``'s key of each model (None: unmatched)"""
    inputs_snapshot: str | None = None
    inputs_sha256: str | None = None
    imputed_inputs: np.ndarray | None = None
    """the capability inputs with missing cells filled (``missing = 'pca_impute'``), else None"""
    excluded: dict[str, int] = field(default_factory=dict)
    """models left out of the population, by reason (counted, never silent)"""
    reimputation: Reimputation | None = None
    """how each bootstrap resample re-imputes the inputs (``bootstrap_imputation = 'per_resample'``), else None"""

    def column(self, benchmark: str) -> np.ndarray:
        return self.values[:, self.benchmarks.index(benchmark)]

    @property
    def observed_inputs(self) -> np.ndarray:
        return np.column_stack([self.column(b) for b in self.capability_inputs])

    @property
    def capability_matrix(self) -> np.ndarray:
        """The inputs the score is fitted on: imputed when the analysis imputes, else as observed."""
        return self.imputed_inputs if self.imputed_inputs is not None else self.observed_inputs

    @property
    def coverage(self) -> float:
        return float(1 - np.isnan(self.observed_inputs).mean()) if self.model_ids else 0.0

    def comparisons(self) -> list[Comparison]:
        """Every correlation the project reports for this population, in a stable order."""
        out = []
        for j, bench in enumerate(self.benchmarks):
            y = self.values[:, j]
            out.append(Comparison(bench, "capabilities", y))
            if bench in self.capability_inputs and len(self.capability_inputs) > 2:  # a refit needs two inputs left
                out.append(Comparison(bench, "capabilities_loo", y, drop_input=self.capability_inputs.index(bench)))
            out.append(Comparison(bench, "compute", y, x=self.training_flop))
            acc = self.accuracy_of.get(bench)
            if acc and acc in self.benchmarks:
                out.append(Comparison(bench, "accuracy", y, x=self.column(acc)))
        return out


def _snapshots(con: duckdb.DuckDBPyConnection, analysis: Analysis) -> pl.DataFrame:
    where = "is_latest" if analysis.snapshot == "latest" else "snapshot_date >= coalesce(?, date '0001-01-01')"
    params = [analysis.source] if analysis.snapshot == "latest" else [analysis.source, analysis.since]
    return query_frame(
        con,
        f"""
        select snapshot, any_value(snapshot_date) as snapshot_date from marts.snapshots
        where source = ? and {where} group by snapshot order by max(snapshot_at), snapshot""",
        params,
    )


def _population_scores(con: duckdb.DuckDBPyConnection, analysis: Analysis, snapshots: list[str]) -> pl.DataFrame:
    """The analysis's rows of ``marts.scores`` in ``snapshots``, filtered by model set, file and family (the
    models of ``exclude_models`` still in: :func:`_model_sets` takes them out and counts them)."""
    return query_frame(
        con,
        """
        select s.snapshot, s.source_sha256, s.source_file, s.model_id, s.benchmark, s.value
        from marts.scores s
        where s.source = $1 and s.snapshot in (select unnest($2::varchar[]))
          and ($3::varchar is null or s.model_set = $3::varchar)
          and (len($4::varchar[]) = 0 or s.source_file in (select unnest($4::varchar[])))
          and (len($5::varchar[]) = 0 or (s.snapshot, s.model_id) in (
                select snapshot, model_id from marts.models
                where source = $1 and json_extract_string(attributes, '$.family') in (select unnest($5::varchar[]))))
    """,
        [analysis.source, snapshots, analysis.model_set, analysis.files or [], analysis.families or []],
    )


# per snapshot, the key of the identity row whose validity dates hold the snapshot's date (a dated alias), else
# of the row without dates
_KEYS_SQL = f"""
    with names as (
        select distinct source, snapshot, cast(timezone('UTC', snapshot_at) as date) as snapshot_date, model_id,
               {RAW_NAME} as raw_name
        from marts.models where source = ?
    ),
    keyed as (
        select n.snapshot, n.model_id, n.raw_name, i.model_key,
               row_number() over (partition by n.snapshot, n.model_id
                                  order by i.valid_from is null and i.valid_to is null) as pick
        from names n join marts.model_identity i using (source, raw_name)
        where n.snapshot_date between coalesce(i.valid_from, date '0001-01-01') and coalesce(i.valid_to, date '9999-12-31')
    ),
    final as (
        select snapshot, model_id, raw_name, model_key from keyed where pick = 1 and model_key is not null
    )
    select * from final"""


def _keys(con: duckdb.DuckDBPyConnection, source: str) -> pl.DataFrame:
    """(snapshot, model_id, model_key) of every model of ``source`` that ``marts.model_identity`` keys."""
    return query_frame(con, _KEYS_SQL, [source])


def fitted_analyses(con: duckdb.DuckDBPyConnection, computed_in: str | None = None) -> list[Analysis]:
    """The analyses ``marts.analyses`` recorded as fitted, as they were loaded (its ``definition`` column), so
    that steps after the fit follow it even if the analyses file changes during the run; ``computed_in`` a run
    key: only those that run computed (the others kept their published rows)."""
    query = "select definition from marts.analyses where status = 'fitted'"
    if computed_in is None:
        rows = con.execute(query + " order by analysis").fetchall()
    else:
        rows = con.execute(query + " and computed_in_run = ? order by analysis", [computed_in]).fetchall()
    return [Analysis.model_validate_json(r[0]) for r in rows]


def kept_analyses(con: duckdb.DuckDBPyConnection, run_key: str) -> list[str]:
    """The analyses of ``marts.analyses`` that the run ``run_key`` did not compute: their rows in every
    analysis mart are the published ones."""
    return [
        r[0]
        for r in con.execute(
            "select analysis from marts.analyses where computed_in_run <> ? order by analysis", [run_key]
        ).fetchall()
    ]


# the code an analysis's numbers come from: a change to it recomputes every analysis
ANALYSIS_CODE = (
    "analyses.py",
    "model_sets.py",
    "capability_fits.py",
    "benchmark_correlations.py",
    "safety_residuals.py",
    "stats",
)


@functools.cache
def code_sha256() -> str:
    """sha256 of :data:`ANALYSIS_CODE`'s source files (this package's)."""
    root, digest = Path(__file__).resolve().parent, hashlib.sha256()
    for name in ANALYSIS_CODE:
        path = root / name
        for file in sorted(path.glob("*.py")) if path.is_dir() else [path]:
            digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


def fingerprint(model_sets: list[ModelSet], context: Mapping[str, object]) -> str:
    """sha256 of everything an analysis's rows are computed from: every field of each of its populations (model
    ids and keys, values, inputs, imputed cells, snapshots and their sha256, exclusions) and ``context`` (its
    definition, the run's settings, :func:`code_sha256`). Equal fingerprints, equal rows."""
    digest = hashlib.sha256(json.dumps(context, sort_keys=True, default=str).encode())
    for ms in model_sets:
        for f in fields(ms):
            if f.name == "reimputation":  # derived from the values, the imputed cells and the definition
                continue
            value = getattr(ms, f.name)
            digest.update(f.name.encode())
            if isinstance(value, np.ndarray):
                digest.update(f"{value.dtype}{value.shape}".encode() + np.ascontiguousarray(value).tobytes())
            else:
                digest.update(json.dumps(value, sort_keys=True, default=str).encode())
    return digest.hexdigest()


# the marts a population is read from
POPULATION_TABLES = (
    "marts.snapshots",
    "marts.scores",
    "marts.scores_latest",
    "marts.models",
    "marts.model_identity",
    "marts.benchmarks",
)
REUSE_LIMIT = 16
_reused: OrderedDict[tuple, list[ModelSet]] = OrderedDict()


def load_model_sets(
    con: duckdb.DuckDBPyConnection, analyses: list[Analysis], *, run_key: str | None = None, alias: str = "candidate"
) -> list[ModelSet]:
    """One :class:`ModelSet` per analysis and snapshot with data, in a stable order (analysis, date).

    Given the ``run_key`` of the candidate lake attached as ``alias``, the populations are kept in this
    process (the newest :data:`REUSE_LIMIT`) and handed out again, as copies, for as long as none of
    :data:`POPULATION_TABLES` changes in that candidate: run in one process, the fit, the bootstrap chunks,
    the summaries and the residuals of one analysis read them once.
    """
    changed = lake.last_change(con, alias, POPULATION_TABLES) if run_key else None
    out: list[ModelSet] = []
    for analysis in analyses:
        if changed is None:
            out.extend(_model_sets(con, analysis))
            continue
        key = (run_key, *changed, analysis.model_dump_json())
        if key in _reused:
            _reused.move_to_end(key)
        else:
            _reused[key] = _model_sets(con, analysis)
            while len(_reused) > REUSE_LIMIT:
                _reused.popitem(last=False)
        out.extend(copy.deepcopy(_reused[key]))
    return out


def _model_sets(con: duckdb.DuckDBPyConnection, analysis: Analysis) -> list[ModelSet]:
    snapshots = _snapshots(con, analysis)
    if snapshots.is_empty():
        return []
    scores = _population_scores(con, analysis, snapshots["snapshot"].to_list())
    if scores.is_empty():
        return []
    left_out = set(analysis.exclude_models or ())
    if absent := sorted(left_out - set(scores["model_id"].unique().to_list())):
        raise AnalysisError(
            f"analysis {analysis.name!r}: exclude_models names {absent}, which no snapshot it reads "
            f"holds in its population (source {analysis.source!r})"
        )
    sources = [analysis.source] + ([analysis.inputs_source] if analysis.inputs_source else [])
    info = query_frame(
        con,
        "select source, benchmark, area, accuracy_of, is_capability_input from marts.benchmarks "
        "where is_known and source in (select unnest(?))",
        [sources],
    )
    own = info.filter(pl.col("source") == analysis.source)
    scores = scores.filter(pl.col("benchmark").is_in(own["benchmark"].implode()))
    dupes = (
        scores.group_by("snapshot", "model_id", "benchmark")
        .agg(pl.len(), pl.col("source_file").unique())
        .filter(pl.col("len") > 1)
    )
    if not dupes.is_empty():
        row = dupes.sort("snapshot", "model_id", "benchmark").row(0, named=True)
        raise AnalysisError(
            f"analysis {analysis.name!r}: {dupes.height} (model, benchmark) pairs have several values in one snapshot, "
            f"e.g. {row['model_id']!r} / {row['benchmark']!r} in files {sorted(row['source_file'])}; narrow the "
            "population with `files` (or `model_set`)"
        )
    present = set(scores["benchmark"].unique().to_list())
    if analysis.inputs_source:
        caps = list(analysis.capability_inputs)
        inputs_info = info.filter(pl.col("source") == analysis.inputs_source)
        if inputs_info.is_empty():  # the inputs' source has no data yet: no population, as for its own source
            return []
        unknown = sorted(set(caps) - set(inputs_info["benchmark"].to_list()))
        where = f"inputs_source {analysis.inputs_source!r}"
    else:
        inputs_info = own
        caps = (
            sorted(own.filter(pl.col("is_capability_input"))["benchmark"].to_list())
            if analysis.capability_inputs == "taxonomy"
            else list(analysis.capability_inputs)
        )
        unknown = sorted(set(caps) - present)
        where = f"source {analysis.source!r}"
    population = ", ".join(
        f"{k} {v!r}"
        for k, v in [("model set", analysis.model_set), ("files", analysis.files), ("families", analysis.families)]
        if v
    )
    targets = sorted(present) if analysis.targets == "all" else list(analysis.targets)
    unknown += sorted(set(targets) - present)
    if unknown:
        raise AnalysisError(
            f"analysis {analysis.name!r}: {unknown} are not known benchmarks of {where}"
            + (f" ({population})" if population else "")
            + " in the snapshots it reads"
        )
    caps = [c for c in caps if analysis.inputs_source or c in present]
    flops = query_frame(
        con,
        """select snapshot, model_id, max(training_flop) as training_flop from marts.models
                                where source = ? group by all""",
        [analysis.source],
    )
    inputs = _inputs(con, analysis, caps) if analysis.inputs_source else None
    keys = _keys(con, analysis.source)
    area = dict(zip(info["benchmark"], info["area"]))
    accuracy_of = dict(zip(own["benchmark"], own["accuracy_of"]))
    out = []
    for snapshot, snapshot_date in snapshots.iter_rows():
        part = scores.filter(pl.col("snapshot") == snapshot)
        n_left_out = part.filter(pl.col("model_id").is_in(list(left_out)))["model_id"].n_unique()
        part = part.filter(~pl.col("model_id").is_in(list(left_out)))
        if part.is_empty():
            continue
        names = sorted(set(targets) | (set() if analysis.inputs_source else set(caps)))
        wide = (
            part.filter(pl.col("benchmark").is_in(names))
            .pivot(on="benchmark", index="model_id", values="value", aggregate_function=None, sort_columns=True)
            .sort("model_id")
        )
        for name in names:
            if name not in wide.columns:
                wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(name))
        model_ids = wide["model_id"].to_list()
        key_of = dict(keys.filter(pl.col("snapshot") == snapshot).select("model_id", "model_key").iter_rows())
        model_keys = [key_of.get(m) for m in model_ids]
        flop = (
            pl.DataFrame({"model_id": model_ids})
            .join(flops.filter(pl.col("snapshot") == snapshot), on="model_id", how="left")["training_flop"]
            .to_numpy()
            .astype(float)
        )
        values = wide.select(names).to_numpy().astype(float)
        excluded: dict[str, int] = {}
        extra: dict = {}
        benchmarks = names
        if inputs is not None:
            by_key, ambiguous, extra = inputs
            matrix = np.full((len(model_ids), len(caps)), np.nan)
            input_flop = np.full(len(model_ids), np.nan)
            for i, key in enumerate(model_keys):
                if key in by_key:
                    matrix[i], input_flop[i] = by_key[key]
            excluded = {
                "no model_key": sum(k is None for k in model_keys),
                "model_key not in inputs_source": sum(
                    k is not None and k not in by_key and k not in ambiguous for k in model_keys
                ),
                "model_key stands for several inputs_source models": sum(k in ambiguous for k in model_keys),
            }
            flop = np.where(np.isnan(flop), input_flop, flop)
            values = np.column_stack([values, matrix])
            benchmarks = names + caps
        if left_out:
            excluded["exclude_models"] = n_left_out
        ms = ModelSet(
            source=analysis.source,
            model_set=analysis.model_set,
            snapshot=snapshot,
            sha256=part["source_sha256"][0],
            model_ids=model_ids,
            benchmarks=benchmarks,
            values=values,
            training_flop=flop,
            capability_inputs=caps,
            area=area,
            accuracy_of=accuracy_of,
            analysis=analysis.name,
            snapshot_date=snapshot_date,
            model_keys=model_keys,
            excluded=excluded,
            **extra,
        )
        if analysis.missing == "pca_impute":
            ms = _impute(ms, analysis)
        out.append(ms)
    return out


def _inputs(con: duckdb.DuckDBPyConnection, analysis: Analysis, caps: list[str]):
    """Capability inputs of ``inputs_source``'s newest snapshot by ``model_key``: ({key: (values, flop)},
    keys that stand for several of its model names, provenance). One name's several rows for a benchmark
    (a source may split a model's results over files) are averaged."""
    src = analysis.inputs_source
    frame = query_frame(
        con,
        f"""
        select s.model_id, k.raw_name, k.model_key, s.benchmark, s.value, s.snapshot, s.source_sha256, m.training_flop
        from marts.scores_latest s
        join ({_KEYS_SQL}) k on k.snapshot = s.snapshot and k.model_id = s.model_id
        left join (select snapshot, model_id, max(training_flop) as training_flop from marts.models
                   where source = ? group by all) m on m.snapshot = s.snapshot and m.model_id = s.model_id
        where s.source = ? and s.benchmark in (select unnest(?))
    """,
        [src, src, src, caps],
    )
    if frame.is_empty():
        return {}, set(), {}
    owners = frame.group_by("model_key").agg(pl.col("raw_name").n_unique().alias("n"))
    ambiguous = set(owners.filter(pl.col("n") > 1)["model_key"].to_list())
    single = frame.filter(~pl.col("model_key").is_in(list(ambiguous)))
    wide = single.pivot(on="benchmark", index=["model_key", "training_flop"], values="value", aggregate_function="mean")
    for c in caps:
        if c not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
    by_key = {
        row[0]: (np.array(row[2:], dtype=float), np.nan if row[1] is None else float(row[1]))
        for row in wide.select("model_key", "training_flop", *caps).iter_rows()
    }
    provenance = {
        "inputs_snapshot": frame["snapshot"][0],
        "inputs_sha256": ",".join(sorted(frame["source_sha256"].unique().to_list())),
    }
    return by_key, ambiguous, provenance


def _impute(ms: ModelSet, analysis: Analysis) -> ModelSet:
    """Fill the missing inputs of the models that have at least one (ObsScaling's ``pca_impute``)."""
    observed = ms.observed_inputs
    some = ~np.isnan(observed).all(axis=1)
    filled = np.full(observed.shape, np.nan)
    components = min(analysis.impute_components, *observed[some].shape)  # the same for the resamples
    if some.sum() >= max(3, analysis.impute_components) and not np.isnan(observed[some]).all(axis=0).any():
        filled[some] = pca_impute(
            observed[some], n_components=components, bounds=analysis.impute_bounds, stop=analysis.impute_stop
        ).values
    reimputation = None
    if analysis.bootstrap_imputation == "per_resample" and not np.isnan(filled).all():
        reimputation = Reimputation(observed, filled, components, analysis.impute_bounds)
    return replace(
        ms,
        imputed_inputs=filled,
        reimputation=reimputation,
        excluded={**ms.excluded, "no capability input to impute from": int((~some).sum())},
    )


def skipped_sources(con: duckdb.DuckDBPyConnection, analyses: list[Analysis]) -> pl.DataFrame:
    """The sources no analysis covers, with the reason, their models and benchmarks."""
    covered = sorted({a.source for a in analyses} | {a.inputs_source for a in analyses if a.inputs_source}) or [""]
    return query_frame(
        con,
        """
        select source, snapshot, count(distinct model_id) as n_models, count(distinct benchmark) as n_benchmarks,
               'no analysis in analyses.toml reads this source' as reason
        from marts.scores_latest
        where source not in (select unnest(?))
        group by source, snapshot
        order by source
    """,
        [covered],
    )
