"""Pairwise-complete Spearman correlations of benchmarks against a comparator.

A *comparison* pairs one benchmark column with what it is compared to (``versus``):

- ``capabilities``: the capabilities score fitted on all capability inputs;
- ``capabilities_loo``: the score refitted without the benchmark itself (capability inputs only);
- ``compute``: training compute (FLOP);
- ``accuracy``: the accuracy of the same task (calibration metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from .capabilities import Method, fit_capabilities

VERSUS: tuple[str, ...] = ("capabilities", "capabilities_loo", "compute", "accuracy")
MIN_MODELS = 3


@dataclass(frozen=True)
class Comparison:
    """One correlation to compute.

    Parameters
    ----------
    benchmark : str
        Name of the benchmark in ``y``.
    versus : str
        One of :data:`VERSUS`.
    y : ndarray, shape (n_models,)
        Benchmark values, NaN where missing.
    x : ndarray or None
        Fixed comparator values (NaN where missing); ``None`` means the capabilities score.
    drop_input : int or None
        For ``capabilities_loo``: the column of the capability matrix left out of the refit.
    """

    benchmark: str
    versus: str
    y: np.ndarray
    x: np.ndarray | None = None
    drop_input: int | None = None


def pairwise_spearman(x: np.ndarray, y: np.ndarray) -> tuple[int, float]:
    """Spearman correlation over the entries where both ``x`` and ``y`` are present.

    Returns
    -------
    (n, rho)
        ``n`` is the number of complete pairs; ``rho`` is NaN when ``n < 3`` or either side is
        constant over those pairs.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    n = int(keep.sum())
    if n < MIN_MODELS or np.ptp(x[keep]) == 0 or np.ptp(y[keep]) == 0:
        return n, float("nan")
    from scipy import stats  # imported on use: scipy.stats costs ~1.5 s at CLI start-up

    return n, float(stats.spearmanr(x[keep], y[keep]).statistic)


def exclusion_reason(x: np.ndarray, y: np.ndarray) -> str | None:
    """Why a pairwise correlation is undefined (``None`` when it is defined)."""
    keep = ~(np.isnan(x) | np.isnan(y))
    if keep.sum() < MIN_MODELS:
        return f"fewer than {MIN_MODELS} models with both values"
    if np.ptp(y[keep]) == 0:
        return "benchmark is constant over these models"
    if np.ptp(x[keep]) == 0:
        return "comparator is constant over these models"
    return None


def comparator_values(capability_matrix: np.ndarray, comparison: Comparison, method: Method = "paper") -> np.ndarray:
    """The comparator vector of ``comparison`` on the original sample (NaN for models without one).

    Models missing any capability input get no capabilities score.
    """
    if comparison.x is not None:
        return np.asarray(comparison.x, dtype=float)
    cap = np.asarray(capability_matrix, dtype=float)
    if comparison.drop_input is not None:
        cap = np.delete(cap, comparison.drop_input, axis=1)
    complete = ~np.isnan(cap).any(axis=1)
    out = np.full(cap.shape[0], np.nan)
    out[complete] = fit_capabilities(cap[complete], method=method).scores
    return out


def correlations(
    capability_matrix: np.ndarray, comparisons: list[Comparison], method: Method = "paper"
) -> pl.DataFrame:
    """Point estimates for a list of comparisons on one model set.

    Parameters
    ----------
    capability_matrix : ndarray, shape (n_models, n_capability_inputs)
        Raw capability inputs, NaN where missing.
    comparisons : list of Comparison
    method : {'paper', 'sklearn'}
        How the capabilities score is fitted.

    Returns
    -------
    polars.DataFrame
        Columns ``benchmark, versus, n_models, spearman, note``; ``spearman`` is null and ``note``
        says why when the correlation is undefined.
    """
    cache: dict[int | None, np.ndarray] = {}
    rows = []
    for c in comparisons:
        if c.x is None:
            if c.drop_input not in cache:
                cache[c.drop_input] = comparator_values(capability_matrix, c, method)
            x = cache[c.drop_input]
        else:
            x = np.asarray(c.x, dtype=float)
        y = np.asarray(c.y, dtype=float)
        n, rho = pairwise_spearman(x, y)
        rows.append(
            {
                "benchmark": c.benchmark,
                "versus": c.versus,
                "n_models": n,
                "spearman": None if np.isnan(rho) else rho,
                "note": exclusion_reason(x, y),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "benchmark": pl.String,
            "versus": pl.String,
            "n_models": pl.Int64,
            "spearman": pl.Float64,
            "note": pl.String,
        },
    )


def statistics_on_rows(
    capability_matrix: np.ndarray, comparisons: list[Comparison], rows: np.ndarray, method: Method = "paper"
) -> np.ndarray:
    """Every comparison's statistic on the sample made of ``rows`` (model indices, repeats allowed).

    The plain, slow definition that the bootstrap kernel vectorizes, refit included;
    ``scipy.stats.bootstrap`` can resample ``rows`` with it directly. Comparator values are rounded to
    1e-9 so that copies of one model tie exactly, as they do mathematically (a matrix product may round
    two identical rows differently in the last bit). A resample whose capabilities fit is undefined
    (a constant capability input) gives NaN.

    Returns
    -------
    ndarray, shape (len(comparisons),)
    """
    rows = np.asarray(rows, dtype=int)
    cap = np.asarray(capability_matrix, dtype=float)[rows]
    out = np.full(len(comparisons), np.nan)
    for k, c in enumerate(comparisons):
        sub = Comparison(
            c.benchmark, c.versus, np.asarray(c.y)[rows], None if c.x is None else np.asarray(c.x)[rows], c.drop_input
        )
        try:
            x = np.round(comparator_values(cap, sub, method), 9)
        except ValueError:
            continue
        out[k] = pairwise_spearman(x, sub.y)[1]
    return out
