"""The analysis settings a run takes, with their bounds: one definition for the CLI, the Launchpad and
the assets. Plain pydantic (no dagster import), so the CLI validates them before its heavy imports; a
Launchpad run is checked when Dagster resolves its config, before any step starts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, Field, ValidationError


class CapabilitiesSettings(BaseModel):
    method: Literal["paper", "sklearn", "obsscaling"] = Field(
        default="paper",
        description="'paper': top eigenvector of the Spearman matrix of z-scores (the published method); "
        "'sklearn': sklearn PCA on the z-scores; 'obsscaling': PCA of the centred, unscaled inputs. An analysis may set its own.",
    )


class BootstrapSettings(BaseModel):
    n_resamples: int = Field(
        default=10_000,
        ge=2,
        le=1_000_000,
        description="Bootstrap resamples B (also the number of permutations for the p-value).",
    )
    seed: int = Field(default=0, ge=0, description="Same seed, same numbers, bit for bit.")
    confidence_level: float = Field(default=0.95, gt=0, lt=1, description="Interval coverage, a fraction.")
    ci_method: Literal["bca", "percentile"] = Field(
        default="bca",
        description="'bca' falls back to 'percentile' where the jackknife is undefined (recorded per row).",
    )
    resamples_per_step: int = Field(
        default=5_000,
        ge=1,
        description="Resamples per bootstrap_chunk step: the unit an executor can run apart.",
    )


class SettingsError(ValueError):
    """Settings out of bounds; the message names each bad field, its value and the rule."""


def describe(error: ValidationError, prefix: str = "") -> str:
    """One line per bad field: ``name: rule (got value)``."""
    return "; ".join(
        (f"{prefix}{'.'.join(str(p) for p in e['loc'])}: " if e["loc"] else "") + f"{e['msg']} (got {e['input']!r})"
        for e in error.errors()
    )


def validate(model: type[BaseModel], values: Mapping[str, object], prefix: str = "") -> BaseModel:
    """``model(**values)``, or a :class:`SettingsError` naming each bad field after ``prefix``."""
    try:
        return model(**values)
    except ValidationError as exc:
        raise SettingsError(describe(exc, prefix)) from None


# Where a capabilities correlation counts as tracking capabilities (`safetywash check`'s verdict, the report's line)
# and as low.
HIGH, LOW = 0.7, 0.3

# The run-config keys of the refresh job's configurable nodes, spelt once: the graph assets
# `capabilities` (assets/capability_fits.py) and `marts/benchmark_correlations` (its key as a Python identifier),
# and the `land` asset (tests/test_definitions.py checks they are the nodes' names).
CAPABILITIES_OP = "capabilities"
BOOTSTRAP_OP = "marts__benchmark_correlations"
LAND_OP = "land"
SETTINGS_OPS: dict[str, type[BaseModel]] = {CAPABILITIES_OP: CapabilitiesSettings, BOOTSTRAP_OP: BootstrapSettings}


def ops_config(capabilities: CapabilitiesSettings, bootstrap: BootstrapSettings, *, force: bool = False) -> dict:
    """The ``ops`` part of a refresh run's config: the analysis settings, and whether to rebuild regardless."""
    return {
        CAPABILITIES_OP: {"config": capabilities.model_dump()},
        BOOTSTRAP_OP: {"config": bootstrap.model_dump(exclude={"resamples_per_step"})},
        LAND_OP: {"config": {"force": force}},
    }


def forced(run_config: Mapping) -> bool:
    """Whether a run's config asks for a rebuild regardless of what is new (``--force``)."""
    return bool(((run_config.get("ops", {}).get(LAND_OP) or {}).get("config") or {}).get("force"))


def run_settings(run_config: Mapping) -> dict:
    """The settings a run's config asks for (defaults filled in), by op: what decides its numbers. How the
    bootstrap is cut into steps (``resamples_per_step``) does not."""
    ops = run_config.get("ops", {})
    return {
        name: model(**(ops.get(name) or {}).get("config", {})).model_dump(exclude={"resamples_per_step"})
        for name, model in SETTINGS_OPS.items()
    }
