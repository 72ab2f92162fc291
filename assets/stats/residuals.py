"""Differential progress: how much of a model's safety score its capabilities score does not explain."""

from __future__ import annotations

import numpy as np
import polars as pl

from .correlation import MIN_MODELS


def capability_residuals(score: np.ndarray, values: np.ndarray, model_ids: list[str]) -> pl.DataFrame:
    """Residuals of a benchmark from its least-squares line on the capabilities score.

    Parameters
    ----------
    score : ndarray, shape (n_models,)
        Capabilities score, NaN where a model has none.
    values : ndarray, shape (n_models,)
        The benchmark (oriented: higher is safer), NaN where missing.
    model_ids : list of str

    Returns
    -------
    polars.DataFrame
        One row per model with both values: ``model_id, observed, expected, residual, residual_z, n_models,
        slope, intercept``. ``expected = intercept + slope * score`` (ordinary least squares over those models);
        ``residual = observed - expected``: positive means safer than its capabilities predict;
        ``residual_z`` divides it by the residual standard deviation (``n - 2`` degrees of freedom), so that
        benchmarks on different scales compare. Empty with fewer than 3 models or a constant score.
    """
    score = np.asarray(score, dtype=float)
    values = np.asarray(values, dtype=float)
    keep = ~(np.isnan(score) | np.isnan(values))
    schema = {
        "model_id": pl.String,
        "observed": pl.Float64,
        "expected": pl.Float64,
        "residual": pl.Float64,
        "residual_z": pl.Float64,
        "n_models": pl.Int64,
        "slope": pl.Float64,
        "intercept": pl.Float64,
    }
    n = int(keep.sum())
    if n < MIN_MODELS or np.ptp(score[keep]) == 0:
        return pl.DataFrame(schema=schema)
    x, y = score[keep], values[keep]
    slope, intercept = np.polyfit(x, y, 1)
    expected = intercept + slope * x
    residual = y - expected
    spread = np.sqrt((residual**2).sum() / (n - 2)) if n > 2 else 0.0
    return pl.DataFrame(
        {
            "model_id": [m for m, k in zip(model_ids, keep) if k],
            "observed": y,
            "expected": expected,
            "residual": residual,
            "residual_z": residual / spread if spread > 0 else np.zeros(n),
            "n_models": np.full(n, n),
            "slope": np.full(n, slope),
            "intercept": np.full(n, intercept),
        },
        schema=schema,
    )
