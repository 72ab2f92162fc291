"""Capabilities score: the first principal component of z-scored capability benchmarks.

Follows the reference code of Ren et al. (2024), ``analysis.py`` of centerforaisafety/safetywashing:
z-score each capability column across models (population standard deviation), take the Spearman
correlation matrix of the columns, use its top eigenvector as PC1 (sign flipped so that the
largest-magnitude loading is positive), and score each model as ``z @ pc1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["paper", "sklearn", "obsscaling"]
METHODS: tuple[str, ...] = ("paper", "sklearn", "obsscaling")


@dataclass(frozen=True)
class CapabilitiesFit:
    """Result of a capabilities-score fit.

    Attributes
    ----------
    scores : ndarray, shape (n_models,)
        Capabilities score of each model.
    loadings : ndarray, shape (n_benchmarks,)
        PC1 loadings, one per capability benchmark, sign-normalised.
    variance_explained : float
        Share of the total variance carried by PC1 (a fraction in [0, 1]).
    eigenvalues : ndarray
        All eigenvalues in descending order (for ``method='paper'`` those of the Spearman matrix,
        for ``method='sklearn'`` the explained variances of the z-scores).
    method : str
        ``'paper'`` or ``'sklearn'``.
    """

    scores: np.ndarray
    loadings: np.ndarray
    variance_explained: float
    eigenvalues: np.ndarray
    method: str


def zscore(x: np.ndarray) -> np.ndarray:
    """Standardise each column: subtract its mean, divide by its population standard deviation.

    Parameters
    ----------
    x : array_like, shape (n_models, n_benchmarks)
        Scores without missing values.

    Returns
    -------
    ndarray
        Same shape; a constant column raises, because it carries no ordering of the models.
    """
    x = np.asarray(x, dtype=float)
    sd = x.std(axis=0, ddof=0)
    if np.any(sd == 0):
        raise ValueError(f"constant column(s) at index {np.flatnonzero(sd == 0).tolist()}: cannot z-score")
    return (x - x.mean(axis=0)) / sd


def orient(vectors: np.ndarray) -> np.ndarray:
    """Apply the paper's sign rule along the last axis: the largest-magnitude entry becomes positive.

    Parameters
    ----------
    vectors : ndarray, shape (..., k)

    Returns
    -------
    ndarray
        ``vectors`` with each row multiplied by +1 or -1.
    """
    idx = np.abs(vectors).argmax(axis=-1)
    lead = np.take_along_axis(vectors, idx[..., None], axis=-1)
    return vectors * np.where(lead < 0, -1.0, 1.0)


def spearman_matrix(x: np.ndarray) -> np.ndarray:
    """Spearman correlation matrix of the columns of ``x`` (average ranks for ties)."""
    from scipy import stats  # imported on use: scipy.stats costs ~1.5 s at CLI start-up

    ranks = stats.rankdata(np.asarray(x, dtype=float), axis=0)
    return np.corrcoef(ranks, rowvar=False)


def fit_capabilities(x: np.ndarray, method: Method = "paper") -> CapabilitiesFit:
    """Fit the capabilities score on a complete matrix of capability benchmarks.

    Parameters
    ----------
    x : array_like, shape (n_models, n_benchmarks)
        Raw capability scores (higher is better), no missing values.
    method : {'paper', 'sklearn', 'obsscaling'}
        ``'paper'``: top eigenvector of the Spearman correlation matrix of the z-scores (the
        published method). ``'sklearn'``: ``sklearn.decomposition.PCA`` on the z-scores (the
        covariance of the z-scores, i.e. a Pearson correlation matrix). ``'obsscaling'``: PCA on the
        inputs as they are, centred but not scaled (Ruan et al. 2024, ``perform_pca`` with
        ``standardize=False``); the score is the centred inputs projected on PC1.

    Returns
    -------
    CapabilitiesFit
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[0] < 3 or x.shape[1] < 2:
        raise ValueError(f"need at least 3 models and 2 benchmarks, got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError("capability matrix has missing values; drop incomplete models first")
    if method == "obsscaling":
        from sklearn.decomposition import PCA

        centred = x - x.mean(axis=0)
        pca = PCA(n_components=None, svd_solver="full").fit(x)
        pc1 = orient(pca.components_[0])
        return CapabilitiesFit(
            scores=centred @ pc1,
            loadings=pc1,
            variance_explained=float(pca.explained_variance_ratio_[0]),
            eigenvalues=np.asarray(pca.explained_variance_),
            method=method,
        )
    z = zscore(x)
    if method == "paper":
        eigenvalues, eigenvectors = np.linalg.eigh(spearman_matrix(z))
        pc1 = orient(eigenvectors[:, -1])
        eigenvalues = eigenvalues[::-1]
        variance_explained = float(eigenvalues[0] / eigenvalues.sum())
    elif method == "sklearn":
        from sklearn.decomposition import PCA  # imported on use, like scipy.stats above

        pca = PCA(n_components=None, svd_solver="full").fit(z)
        pc1 = orient(pca.components_[0])
        eigenvalues = pca.explained_variance_
        variance_explained = float(pca.explained_variance_ratio_[0])
    else:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    return CapabilitiesFit(
        scores=z @ pc1,
        loadings=pc1,
        variance_explained=variance_explained,
        eigenvalues=np.asarray(eigenvalues),
        method=method,
    )
