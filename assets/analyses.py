"""Analyses as configuration: ``analyses.toml`` in the project folder, loaded and checked here.

An analysis is a population (a source, optionally one of its model sets, its newest snapshot), the
capability inputs of its score (``"taxonomy"``: the benchmarks ``seeds.benchmark_taxonomy`` marks
``capabilities`` for the source, or a list), the benchmarks it correlates (``"all"`` or a list) and its
missing-value method. No dagster import; errors name the file, the analysis and the field.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .registry import load_registry
from .settings import describe

ANALYSES_FILE = Path(__file__).resolve().parents[1] / "analyses.toml"


class AnalysisError(ValueError):
    """The analyses file is malformed; names the file, the analysis and the field."""


class Analysis(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Key of the analysis in every results mart (lowercase, digits, `_`).")
    description: str = Field(min_length=1)
    source: str = Field(description="A registered source (assets/registry/<source>.toml).")
    model_set: str | None = Field(default=None, description="One model set of the source (e.g. base, chat), or all.")
    snapshot: Literal["latest"] = Field(default="latest", description="The source's newest snapshot.")
    capability_inputs: Literal["taxonomy"] | list[str] = Field(
        default="taxonomy", description="'taxonomy' or a list of at least two benchmarks of the source.")
    targets: Literal["all"] | list[str] = "all"
    missing: Literal["complete_case"] = Field(
        default="complete_case", description="A model missing a capability input gets no score (the paper's way).")

    @field_validator("capability_inputs")
    @classmethod
    def _inputs(cls, value):
        if isinstance(value, list) and len(set(value)) < 2:
            raise ValueError("a capabilities score needs at least two distinct inputs")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
            raise ValueError("must be lowercase letters, digits and '_', starting with a letter")
        return value


def analyses_file() -> Path:
    """``$SAFETYWASH_ANALYSES`` (read when a run starts), else the project's ``analyses.toml``."""
    chosen = os.environ.get("SAFETYWASH_ANALYSES", "")
    return Path(chosen).expanduser().resolve() if chosen else ANALYSES_FILE


def analyses_sha256() -> str:
    """sha256 of the analyses file a run reads now: a version records it, a refresh compares it."""
    return hashlib.sha256(analyses_file().read_bytes()).hexdigest()


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
        if analysis.source not in registered:
            raise AnalysisError(f"{label}: source {analysis.source!r} is not registered ({', '.join(sorted(registered))})")
        if analysis.name in {a.name for a in out}:
            raise AnalysisError(f"{label}: name {analysis.name!r} repeats an earlier analysis")
        out.append(analysis)
    return out
