"""Read the marts into per-(source, model_set) matrices for the statistics."""

from __future__ import annotations

from dataclasses import dataclass, replace

import duckdb
import numpy as np
import polars as pl

from .analyses import Analysis, AnalysisError
from .stats.correlation import Comparison
from .warehouse import query_frame


@dataclass(frozen=True)
class ModelSet:
    """One model set of one source as dense arrays (NaN where a value is missing)."""

    source: str
    model_set: str
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

    def column(self, benchmark: str) -> np.ndarray:
        return self.values[:, self.benchmarks.index(benchmark)]

    @property
    def capability_matrix(self) -> np.ndarray:
        return np.column_stack([self.column(b) for b in self.capability_inputs])

    def comparisons(self) -> list[Comparison]:
        """Every correlation the project reports for this model set, in a stable order."""
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


def load_model_sets(con: duckdb.DuckDBPyConnection, analyses: list[Analysis]) -> list[ModelSet]:
    """One :class:`ModelSet` per analysis whose population has data in the newest snapshot of its source."""
    sources = sorted({a.source for a in analyses})
    if not sources:
        return []
    where = "source in (select unnest(?))"
    pooled = build_model_sets(
        query_frame(con, "select source, snapshot, source_sha256, model_set, model_id, benchmark, value "
                         f"from marts.scores_latest where {where}", [sources]),
        query_frame(con, "select source, model_set, model_id, training_flop from marts.models "
                         "where (source, snapshot) in (select distinct source, snapshot from marts.scores_latest) "
                         f"and {where}", [sources]),
        query_frame(con, "select source, benchmark, area, accuracy_of, is_capability_input from marts.benchmarks "
                         f"where is_known and {where}", [sources]),
    )
    out = []
    for analysis in analyses:
        for ms in pooled:
            if ms.source != analysis.source or (analysis.model_set is not None and ms.model_set != analysis.model_set):
                continue
            listed = [*([] if analysis.targets == "all" else analysis.targets),
                      *([] if analysis.capability_inputs == "taxonomy" else analysis.capability_inputs)]
            if unknown := sorted(set(listed) - set(ms.benchmarks)):
                raise AnalysisError(f"analysis {analysis.name!r}: {unknown} are not known benchmarks of "
                                    f"{ms.source!r} (model set {ms.model_set!r}) in its newest snapshot")
            benchmarks = ms.benchmarks if analysis.targets == "all" else [b for b in ms.benchmarks if b in analysis.targets]
            caps = ms.capability_inputs if analysis.capability_inputs == "taxonomy" else list(analysis.capability_inputs)
            keep = [ms.benchmarks.index(b) for b in sorted(set(benchmarks) | set(caps)) if b in ms.benchmarks]
            out.append(replace(ms, analysis=analysis.name, benchmarks=[ms.benchmarks[j] for j in keep],
                               values=ms.values[:, keep], capability_inputs=[c for c in caps if c in ms.benchmarks]))
    return out


def skipped_sources(con: duckdb.DuckDBPyConnection, analyses: list[Analysis]) -> pl.DataFrame:
    """The sources no analysis covers, with the reason, their models and benchmarks."""
    covered = sorted({a.source for a in analyses}) or [""]
    return query_frame(con, """
        select source, snapshot, count(distinct model_id) as n_models, count(distinct benchmark) as n_benchmarks,
               'no analysis in analyses.toml covers this source (the paper''s rule needs its 12 capability '
               || 'benchmarks; the next analyses define populations for the others)' as reason
        from marts.scores_latest
        where source not in (select unnest(?))
        group by source, snapshot
        order by source
    """, [covered])


def build_model_sets(scores: pl.DataFrame, models: pl.DataFrame, benchmarks: pl.DataFrame) -> list[ModelSet]:
    """:class:`ModelSet` per (source, model_set) from frames shaped like ``marts.scores``,
    ``marts.models`` and ``marts.benchmarks``; only the benchmarks listed in ``benchmarks`` are kept."""
    out = []
    for (source, model_set), part in scores.sort("source", "model_set").group_by(["source", "model_set"], maintain_order=True):
        info = benchmarks.filter(pl.col("source") == source)
        part = part.filter(pl.col("benchmark").is_in(info["benchmark"].implode()))
        wide = part.pivot(on="benchmark", index="model_id", values="value", aggregate_function=None, sort_columns=True).sort("model_id")
        model_ids = wide["model_id"].to_list()
        names = [c for c in wide.columns if c != "model_id"]
        flop = (
            pl.DataFrame({"model_id": model_ids})
            .join(models.filter((pl.col("source") == source) & (pl.col("model_set") == model_set)), on="model_id", how="left")
            ["training_flop"]
            .to_numpy()
            .astype(float)
        )
        caps = sorted(info.filter(pl.col("is_capability_input"))["benchmark"].to_list())
        caps = [c for c in caps if c in names]
        out.append(
            ModelSet(
                source=source,
                model_set=model_set,
                snapshot=part["snapshot"][0],
                sha256=part["source_sha256"][0],
                model_ids=model_ids,
                benchmarks=names,
                values=wide.select(names).to_numpy().astype(float),
                training_flop=flop,
                capability_inputs=caps,
                area=dict(zip(info["benchmark"], info["area"])),
                accuracy_of=dict(zip(info["benchmark"], info["accuracy_of"])),
            )
        )
    return out
