"""Missing capability inputs: iterative PCA imputation, as Observational Scaling Laws (Ruan et al. 2024) does it.

The procedure of ``ryoungj/ObsScaling`` (``utils/data.py``, ``pca_impute``), reimplemented on numpy:
standardise each column over its observed cells (mean, population standard deviation; a constant column
keeps scale 1), fill every missing cell with its column's mean, then repeat: fit a PCA with
``n_components`` on the filled matrix (centred on its column means), reconstruct the matrix from those
components, stop when the whole filled matrix is within ``tol`` of its reconstruction (``numpy.allclose``
with its default relative tolerance, observed cells included, as the original does), else overwrite only
the missing cells with their reconstruction. Undo the standardisation and clip to ``bounds`` if given.

Note the stopping rule compares observed cells too: unless the data are exactly of rank
``n_components``, it is rarely met and the loop runs ``max_iter`` times; :class:`Imputed` says which.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Imputed:
    values: np.ndarray
    """the matrix with every missing cell filled (observed cells unchanged)"""
    n_iter: int
    """PCA fits made"""
    converged: bool
    """whether the stopping rule was met before ``max_iter``"""
    coverage: float
    """fraction of cells observed"""


def pca_impute(
    x: np.ndarray,
    n_components: int = 2,
    max_iter: int = 1000,
    tol: float = 1e-4,
    bounds: tuple[float, float] | None = None,
    stop: str = "obsscaling",
) -> Imputed:
    """Fill the NaN cells of ``x`` (models × inputs) by iterative PCA reconstruction.

    Parameters
    ----------
    x : (n, p) array with NaN where a value is missing; every column needs one observed value.
    n_components : components of the low-rank fit (ObsScaling's default: 2); at most ``min(n, p)``.
    max_iter : PCA fits at most.
    tol : absolute tolerance of the stopping rule (``numpy.allclose``, relative tolerance 1e-5).
    bounds : (low, high) to clip the result to, or None.
    stop : ``"obsscaling"``: the original rule (the whole matrix within ``tol`` of its reconstruction, which
        noisy data rarely meet, so it usually runs ``max_iter`` fits); ``"missing"``: stop once no missing
        cell moves by more than ``tol`` (standardised units) in a fit: the same fixed point, in tens of fits.

    Returns
    -------
    Imputed
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {x.shape}")
    missing = np.isnan(x)
    if missing.all(axis=0).any():
        raise ValueError(f"columns {np.flatnonzero(missing.all(axis=0)).tolist()} have no observed value")
    if stop not in ("obsscaling", "missing"):
        raise ValueError(f"unknown stopping rule {stop!r}; expected 'obsscaling' or 'missing'")
    if not 1 <= n_components <= min(x.shape):
        raise ValueError(f"n_components={n_components} must be between 1 and {min(x.shape)}")
    mean = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    z = np.where(missing, np.nanmean(z, axis=0), z)
    n_iter, converged = 0, False
    for n_iter in range(1, max_iter + 1):
        centre = z.mean(axis=0)
        _, _, vt = np.linalg.svd(z - centre, full_matrices=False)
        basis = vt[:n_components]
        rebuilt = centre + (z - centre) @ basis.T @ basis
        if stop == "obsscaling" and np.allclose(z, rebuilt, atol=tol):
            converged = True
            break
        moved = np.max(np.abs(z[missing] - rebuilt[missing]), initial=0.0)
        z[missing] = rebuilt[missing]
        if stop == "missing" and moved <= tol:
            converged = True
            break
    values = np.where(missing, z * scale + mean, x)  # observed cells exactly as given, not round-tripped
    if bounds is not None:
        values = np.clip(values, *bounds)
    return Imputed(values, n_iter, converged, float(1 - missing.mean()))


REIMPUTE_TOL = 1e-6
"""A resample's imputation stops once no missing cell moves by more than this (standardised units)."""


@dataclass(frozen=True)
class Reimputation:
    """How each bootstrap resample re-imputes its own matrix before the score is refitted (bootstrap, then
    impute: Schomaker & Heumann 2018), so that intervals carry the imputation's own uncertainty.

    The procedure is :func:`pca_impute` with ``stop='missing'`` on the resample (its rows repeated by their
    multiplicity), started from the full sample's fixed point ``start``.
    """

    observed: np.ndarray
    """(n, k) capability inputs, NaN where missing"""
    start: np.ndarray
    """(n, k) the full sample's imputed matrix (NaN rows: models with no observed input, left out)"""
    n_components: int
    bounds: tuple[float, float] | None = None
    tol: float = REIMPUTE_TOL
    max_iter: int = 1000

    def __call__(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The resamples' matrices under multiplicities ``weights`` (b, n).

        Returns
        -------
        values : (b, n, k) array, 0 on the rows left out
        fits : (b,) PCA fits each resample made
        valid : (b,) False where a column has no observed cell among the models drawn
        """
        from . import _compiled

        ok = ~np.isnan(self.start).any(axis=1)
        missing = np.isnan(self.observed)
        low, high = self.bounds if self.bounds is not None else (-np.inf, np.inf)
        return _compiled.reimpute(
            np.ascontiguousarray(weights, dtype=float),
            np.where(missing, 0.0, self.observed),
            missing,
            ok,
            np.where(np.isnan(self.start), 0.0, self.start),
            self.n_components,
            self.tol,
            self.max_iter,
            low,
            high,
            self.bounds is not None,
        )
