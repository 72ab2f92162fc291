"""The analysis settings a run takes, with their bounds: one definition for the CLI, the Launchpad and
the assets. Plain pydantic (no dagster import), so the CLI validates them before its heavy imports and
the warehouse resource validates a UI run's config before any step starts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, Field, ValidationError


class CapabilitiesSettings(BaseModel):
    method: Literal["paper", "sklearn"] = Field(
        default="paper",
        description="'paper': top eigenvector of the Spearman matrix of z-scores (the published method); "
        "'sklearn': sklearn PCA on the z-scores.",
    )


class BootstrapSettings(BaseModel):
    n_resamples: int = Field(
        default=10_000, ge=2, le=1_000_000,
        description="Bootstrap resamples B (also the number of permutations for the p-value).",
    )
    seed: int = Field(default=0, ge=0, description="Same seed, same numbers, bit for bit.")
    confidence_level: float = Field(default=0.95, gt=0, lt=1, description="Interval coverage, a fraction.")
    ci_method: Literal["bca", "percentile"] = Field(
        default="bca", description="'bca' falls back to 'percentile' where the jackknife is undefined (recorded per row).",
    )
    resamples_per_step: int = Field(
        default=5_000, ge=1, description="Resamples per bootstrap_chunk step: the unit an executor can run apart.",
    )


# the run-config sections (Dagster node names) that carry these settings
RUN_CONFIG_SECTIONS: dict[str, type[BaseModel]] = {
    "capabilities": CapabilitiesSettings,
    "marts__benchmark_correlations": BootstrapSettings,
}


class SettingsError(ValueError):
    """Settings out of bounds; the message names each bad field, its value and the rule."""


def describe(error: ValidationError, prefix: str = "") -> str:
    """One line per bad field: ``name: rule (got value)``."""
    return "; ".join(
        f"{prefix}{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e['input']!r})" for e in error.errors()
    )


def validate(model: type[BaseModel], values: Mapping[str, object], prefix: str = "") -> BaseModel:
    try:
        return model(**values)
    except ValidationError as exc:
        raise SettingsError(describe(exc, prefix)) from None


def validate_run_config(run_config: Mapping[str, object]) -> None:
    """Check every settings section of a Dagster run config, before any step runs."""
    ops = run_config.get("ops") or {}
    for node, model in RUN_CONFIG_SECTIONS.items():
        section = ops.get(node) if isinstance(ops, Mapping) else None
        if isinstance(section, Mapping):
            validate(model, section.get("config") or {}, prefix=f"{node}.")
