"""Analyses as configuration: ``analyses.toml`` in the project folder, loaded and checked here.

An analysis is a population (a source, optionally one of its model sets, files or families; its newest
snapshot or each snapshot), the capability inputs of its score (``"taxonomy"``: the benchmarks
``seeds.benchmark_taxonomy`` marks ``capabilities`` for the source, or a list, possibly read from another
source through the model identity), the benchmarks it correlates (``"all"`` or a list), how the score is
fitted, its missing-value method and its bootstrap size. No dagster import; errors name the file, the
analysis and the field.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .registry import load_registry
from .settings import describe

ANALYSES_FILE = Path(__file__).resolve().parents[1] / "analyses.toml"


class AnalysisError(ValueError):
    """The analyses file is malformed; names the file, the analysis and the field."""


class Analysis(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Key of the analysis in every results mart (lowercase, digits, `_`).")
    description: str = Field(min_length=1)
    source: str = Field(description="A registered source (assets/registry/<source>.toml): the population's models.")
    model_set: str | None = Field(default=None, description="One model set of the source (e.g. base, chat), or all.")
    files: list[str] | None = Field(default=None, description="Only the models of these files of the source.")
    families: list[str] | None = Field(
        default=None,
        description="Only the models whose `family` attribute is one of these (e.g. ObsScaling's evaluated families).",
    )
    exclude_models: list[str] | None = Field(
        default=None,
        description="Models (their `model_id` in the source) left out of the population, e.g. "
        "ObsScaling's pre-registered hold-outs; each must be in a snapshot the analysis reads, and "
        "marts.analyses.excluded counts those left out.",
    )
    snapshot: Literal["latest", "each"] = Field(
        default="latest",
        description="'latest': the source's newest snapshot; 'each': every snapshot (from `since`), "
        "one fit and one correlation per snapshot, never mixing scores across snapshots.",
    )
    since: date | None = Field(default=None, description="With snapshot = 'each': the first snapshot date kept.")
    inputs_source: str | None = Field(
        default=None,
        description="Read the capability inputs from this source's newest snapshot, joined on "
        "`model_key` (marts.model_identity); a key that stands for several of its models is excluded and counted.",
    )
    capability_inputs: Literal["taxonomy"] | list[str] = Field(
        default="taxonomy", description="'taxonomy' or a list of at least two benchmarks."
    )
    targets: Literal["all"] | list[str] = "all"
    capabilities_method: Literal["paper", "sklearn", "obsscaling"] | None = Field(
        default=None,
        description="How the score is fitted; unset: the run's setting (`--method`). 'obsscaling': "
        "sklearn PCA on the unstandardised inputs (ObsScaling's `perform_pca`, standardize=False).",
    )
    missing: Literal["complete_case", "pca_impute"] = Field(
        default="complete_case",
        description="'complete_case': a model missing an input gets no score (the paper's "
        "way); 'pca_impute': missing inputs filled by iterative PCA (ObsScaling's `pca_impute`) before the fit.",
    )
    impute_components: int = Field(default=2, ge=1, description="Components of the imputation's PCA.")
    impute_bounds: tuple[float, float] | None = Field(default=None, description="Clip imputed values to [low, high].")
    impute_stop: Literal["obsscaling", "missing"] = Field(
        default="obsscaling",
        description="'obsscaling': ObsScaling's stopping rule (usually 1,000 fits); 'missing': "
        "stop when no missing cell moves by more than 1e-4 (the same fixed point in tens of fits).",
    )
    bootstrap_imputation: Literal["per_resample", "once"] = Field(
        default="per_resample",
        description="With 'pca_impute': 'per_resample' re-imputes each bootstrap resample's "
        "own matrix before the refit (bootstrap, then impute), so that intervals carry the imputation's "
        "uncertainty; 'once' resamples the full sample's imputed matrix (faster; the intervals leave that out).",
    )
    resamples: int | None = Field(
        default=None,
        ge=2,
        le=1_000_000,
        description="Bootstrap resamples B for this analysis (a run asking for fewer gets fewer); unset: the run's.",
    )

    @field_validator("capability_inputs")
    @classmethod
    def _inputs(cls, value):
        if isinstance(value, list) and len(set(value)) < 2:
            raise ValueError("a capabilities score needs at least two distinct inputs")
        return value

    @field_validator("exclude_models")
    @classmethod
    def _excluded(cls, value):
        if value is not None and (len(set(value)) < len(value) or not all(m.strip() for m in value)):
            raise ValueError("list each model once, by its model_id")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
            raise ValueError("must be lowercase letters, digits and '_', starting with a letter")
        return value

    @model_validator(mode="after")
    def _consistent(self):
        if self.since is not None and self.snapshot != "each":
            raise ValueError("since applies to snapshot = 'each' only")
        if self.inputs_source is not None and self.capability_inputs == "taxonomy":
            raise ValueError("with inputs_source, list the capability inputs")
        return self

    def method(self, default: str) -> str:
        return self.capabilities_method or default


def analyses_file() -> Path:
    """``$SAFETYWASH_ANALYSES`` (read when a run starts), else the project's ``analyses.toml``."""
    chosen = os.environ.get("SAFETYWASH_ANALYSES", "")
    return Path(chosen).expanduser().resolve() if chosen else ANALYSES_FILE


def analyses_sha256() -> str:
    """sha256 of the analyses file a run reads now: a version records it, a refresh compares it."""
    return hashlib.sha256(analyses_file().read_bytes()).hexdigest()


ANALYSES_TAG = "safetywash/analyses_sha256"
"""The run tag with the sha256 of the analyses file the run was launched with (``safetywash refresh`` sets it)."""


def launched_analyses_sha256(tags: dict[str, str]) -> str:
    """sha256 of the analyses file this process reads, refused unless it is the file the run was launched with
    (its :data:`ANALYSES_TAG`, when the run has one): a step on another host reads that host's
    ``$SAFETYWASH_ANALYSES``, and another file there would compute other analyses than the user asked for."""
    here = analyses_sha256()
    launched = tags.get(ANALYSES_TAG)
    if launched is not None and launched != here:
        raise AnalysisError(
            f"this step reads the analyses file {analyses_file()} (sha256 {here[:12]}), but the run was launched "
            f"with another (sha256 {launched[:12]}): a worker reads $SAFETYWASH_ANALYSES from its own environment; "
            "give the workers the same file"
        )
    return here


def load_analyses(path: Path | None = None, sources: set[str] | None = None) -> list[Analysis]:
    """Every analysis of ``path`` (default: :func:`analyses_file`), checked: fields, unique names,
    registered sources."""
    path = path or analyses_file()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AnalysisError(f"{path}: cannot be read as TOML ({exc})") from None
    unknown = set(doc) - {"analyses"}
    if unknown:
        raise AnalysisError(f"{path}: unknown top-level key(s) {sorted(unknown)}; expected [[analyses]] tables")
    registered = sources if sources is not None else set(load_registry())
    out: list[Analysis] = []
    for i, entry in enumerate(doc.get("analyses", [])):
        label = f"{path}: analyses[{i}] ({entry.get('name', '?')})"
        try:
            analysis = Analysis(**entry)
        except ValidationError as exc:
            raise AnalysisError(f"{label}: {describe(exc)}") from None
        for field in ("source", "inputs_source"):
            value = getattr(analysis, field)
            if value is not None and value not in registered:
                raise AnalysisError(f"{label}: {field} {value!r} is not registered ({', '.join(sorted(registered))})")
        if analysis.name in {a.name for a in out}:
            raise AnalysisError(f"{label}: name {analysis.name!r} repeats an earlier analysis")
        out.append(analysis)
    return out
