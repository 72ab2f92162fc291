"""Iterative PCA imputation against an independent computation with scikit-learn's own PCA, scaler and
mean imputer (the building blocks ObsScaling's procedure uses), and on data of known low rank."""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from assets.stats.imputation import pca_impute


def low_rank(n=150, p=8, rank=2, missing=0.1, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, p)) * rng.uniform(0.5, 3, p) + rng.uniform(-1, 1, p)
    truth = truth + noise * rng.normal(size=truth.shape)
    x = truth.copy()
    x[rng.random(x.shape) < missing] = np.nan
    return truth, x


def sklearn_reference(x, n_components, max_iter, tol):
    """The procedure step by step with scikit-learn: scaler, mean imputer, PCA fit and inverse transform."""
    scaler = StandardScaler()
    z = SimpleImputer(strategy="mean").fit_transform(scaler.fit_transform(x))
    missing = np.isnan(x)
    for _ in range(max_iter):
        pca = PCA(n_components=n_components, svd_solver="full")
        rebuilt = pca.inverse_transform(pca.fit_transform(z))
        if np.allclose(z, rebuilt, atol=tol):
            break
        z[missing] = rebuilt[missing]
    return scaler.inverse_transform(z)


@pytest.mark.parametrize("n_components, max_iter", [(1, 30), (2, 200), (3, 50)])
def test_matches_the_procedure_built_from_sklearn(n_components, max_iter):
    _, x = low_rank(noise=0.3, missing=0.2, seed=n_components)
    ours = pca_impute(x, n_components=n_components, max_iter=max_iter)
    np.testing.assert_allclose(ours.values, sklearn_reference(x, n_components, max_iter, 1e-4), rtol=1e-9, atol=1e-9)
    assert ours.n_iter == max_iter and not ours.converged  # noisy data: observed cells never match a rank-k fit


def test_recovers_cells_of_an_exactly_low_rank_matrix():
    truth, x = low_rank(rank=2, missing=0.15)
    result = pca_impute(x, n_components=2, max_iter=5000, tol=1e-9)
    missing = np.isnan(x)
    assert result.converged and result.n_iter < 5000
    np.testing.assert_array_equal(result.values[~missing], x[~missing])  # observed cells untouched
    assert np.max(np.abs(result.values[missing] - truth[missing])) < 1e-4
    assert result.coverage == pytest.approx(1 - missing.mean())
    column_mean = np.where(missing, np.nanmean(x, axis=0), x)  # the naive fill is far worse
    assert np.max(np.abs(column_mean[missing] - truth[missing])) > 100 * np.max(np.abs(result.values[missing] - truth[missing]))


def test_bounds_and_refusals():
    _, x = low_rank(missing=0.3, noise=0.5)
    assert pca_impute(x, bounds=(0.0, 0.5), max_iter=20).values.max() <= 0.5
    x[:, 3] = np.nan
    with pytest.raises(ValueError, match=r"columns \[3\] have no observed value"):
        pca_impute(x)
    with pytest.raises(ValueError, match="n_components=9 must be between 1 and 8"):
        pca_impute(low_rank()[1], n_components=9)


def test_obsscaling_method_equals_sklearn_pca_of_the_imputed_matrix():
    """ObsScaling's capabilities procedure end to end on generated fractions of known rank: our imputation and
    unstandardised PCA (``fit_capabilities(method='obsscaling')``) against scikit-learn's scaler, imputer and
    PCA(n_components=5) as ObsScaling's `perform_pca` calls them."""
    from assets.stats.capabilities import fit_capabilities

    truth, x = low_rank(n=120, p=8, rank=1, missing=0.1, noise=0.05, seed=7)
    x = 1 / (1 + np.exp(-x))  # fractions, like benchmark accuracies
    ours = pca_impute(x, n_components=1, bounds=(0.0, 1.0))
    reference = np.clip(sklearn_reference(x, 1, 1000, 1e-4), 0.0, 1.0)
    np.testing.assert_allclose(ours.values, reference, rtol=1e-9, atol=1e-9)
    fit = fit_capabilities(ours.values, method="obsscaling")
    pca = PCA(n_components=5).fit(reference)
    sign = np.sign(pca.components_[0][np.abs(pca.components_[0]).argmax()])
    np.testing.assert_allclose(fit.loadings, sign * pca.components_[0], atol=1e-9)
    assert fit.variance_explained == pytest.approx(pca.explained_variance_ratio_[0], abs=1e-12)
    np.testing.assert_allclose(fit.scores, sign * pca.transform(reference)[:, 0], atol=1e-9)


def test_stopping_when_the_missing_cells_settle_reaches_the_same_fixed_point_in_few_fits():
    _, x = low_rank(noise=0.3, missing=0.2, seed=4)
    full = pca_impute(x, n_components=1, max_iter=1000)  # ObsScaling's rule: never met on noisy data
    quick = pca_impute(x, n_components=1, max_iter=1000, stop="missing")
    assert full.n_iter == 1000 and not full.converged
    assert quick.converged and quick.n_iter < 100
    scale = np.nanstd(x, axis=0)
    assert np.max(np.abs(quick.values - full.values) / scale) < 1e-2
    with pytest.raises(ValueError, match="unknown stopping rule"):
        pca_impute(x, stop="sometimes")
