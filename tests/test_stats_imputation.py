"""Iterative PCA imputation against an independent computation with scikit-learn's own PCA, scaler and
mean imputer (the building blocks ObsScaling's procedure uses), and on data of known low rank."""

import numpy as np
import pytest
from scipy import stats
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler

from assets.stats.imputation import pca_impute

pytestmark = pytest.mark.unit


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
    assert np.max(np.abs(column_mean[missing] - truth[missing])) > 100 * np.max(
        np.abs(result.values[missing] - truth[missing])
    )


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


def resampled_reference(observed, y, x_loo, weights, method, n_components):
    """Bootstrap, then impute, written out slowly: each resample's rows materialised (models with no observed
    input left out, as the warehouse does), imputed from scratch by :func:`pca_impute` (cold start, column
    means), the score refitted by :func:`fit_capabilities`, and scipy's Spearman correlations of the score with
    ``y`` and of the score without input 1 with ``x_loo``."""
    from assets.stats.capabilities import fit_capabilities

    some = ~np.isnan(observed).all(axis=1)
    out, fits = np.full((2, len(weights)), np.nan), []
    for b, w in enumerate(weights):
        rows = np.repeat(np.arange(len(w)), w.astype(int))
        rows = rows[some[rows]]
        imputed = pca_impute(
            observed[rows], n_components=n_components, bounds=(0.0, 1.0), stop="missing", tol=1e-12, max_iter=100_000
        )
        assert imputed.converged
        fits.append(imputed.n_iter)
        score = fit_capabilities(imputed.values, method=method).scores
        out[0, b] = stats.spearmanr(score, y[rows]).statistic
        out[1, b] = stats.spearmanr(
            fit_capabilities(np.delete(imputed.values, 1, axis=1), method=method).scores, x_loo[rows]
        ).statistic
    return out, fits


@pytest.mark.parametrize(
    "method, n_components, seed, n, k", [("paper", 1, 1, 24, 5), ("obsscaling", 1, 1, 24, 5), ("sklearn", 2, 4, 30, 6)]
)
def test_reimputing_each_resample_equals_imputing_the_materialised_resample(method, n_components, seed, n, k):
    """The bootstrap's per-resample imputation (weighted, warm-started, compiled) against the procedure run on
    every resample's own rows: the same replicates, so the same intervals; and they differ from imputing once."""
    from assets.stats import bootstrap as bs
    from assets.stats.correlation import Comparison
    from assets.stats.imputation import Reimputation

    rng = np.random.default_rng(seed)  # data whose every resample's imputation converges (two components often do not)
    latent = rng.normal(size=(n, n_components))
    x = np.clip(0.5 + 0.08 * latent @ rng.uniform(0.5, 1.5, (n_components, k)) + 0.02 * rng.normal(size=(n, k)), 0, 1)
    observed = x.copy()
    observed[rng.random((n, k)) < 0.12] = np.nan
    observed[0] = np.nan  # a model with no input: in no fit
    y = latent[:, 0] + rng.normal(size=n)
    some = ~np.isnan(observed).all(axis=1)
    start = np.full(observed.shape, np.nan)
    start[some] = pca_impute(
        observed[some], n_components=n_components, bounds=(0.0, 1.0), stop="missing", tol=1e-12, max_iter=100_000
    ).values
    comparisons = [Comparison("y", "capabilities", y), Comparison("x1", "capabilities_loo", x[:, 1], drop_input=1)]
    reimpute = Reimputation(observed, start, n_components, (0.0, 1.0), tol=1e-12, max_iter=100_000)
    weights = bs.resample_weights(n, 11, 0, 300)
    ours = bs.Replicator(start, comparisons, method, reimpute=reimpute)(weights)
    reference, fits = resampled_reference(observed, y, x[:, 1], weights, method, n_components)
    np.testing.assert_allclose(ours, reference, atol=1e-9)
    made = reimpute(weights)[1]
    assert made.mean() < np.mean(fits)  # the warm start from the sample's fixed point saves fits
    for row in range(2):
        low, high, _ = bs.confidence_interval(reference[row].mean(), ours[row], None, 0.95, "percentile")
        np.testing.assert_allclose([low, high], np.quantile(reference[row], [0.025, 0.975]), atol=1e-9)
    once = bs.Replicator(start, comparisons, method)(weights)
    assert np.abs(once - ours).max() > 1e-3  # imputing once leaves the imputation's variation out
    np.testing.assert_allclose(
        bs.Replicator(start, comparisons, method, reimpute=reimpute)(np.ones((1, n))),
        bs.Replicator(start, comparisons, method)(np.ones((1, n))),
        atol=1e-9,
    )


def test_a_resample_without_an_observed_cell_in_a_column_is_degenerate():
    from assets.stats.imputation import Reimputation

    observed = np.array([[0.1, 0.2], [0.4, np.nan], [0.5, 0.7], [0.9, 0.8]])
    start = np.where(np.isnan(observed), 0.5, observed)
    weights = np.array([[2.0, 2.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])  # the first draws column 1 once only: fine
    values, _, valid = Reimputation(observed, start, 1)(weights)
    assert valid.tolist() == [True, True]
    _, _, valid = Reimputation(observed, start, 1)(np.array([[0.0, 4.0, 0.0, 0.0]]))
    assert valid.tolist() == [False]
    np.testing.assert_array_equal(values[1][~np.isnan(observed)], observed[~np.isnan(observed)])


def test_a_population_above_the_dense_kernels_size_is_refused_by_name():
    from assets.stats import bootstrap as bs
    from assets.stats.correlation import Comparison
    from assets.stats.imputation import Reimputation

    x = np.random.default_rng(0).random((3000, 3))
    observed = np.where(np.eye(3000, 3) > 0, np.nan, x)
    with pytest.raises(ValueError, match='3000 models and 1 comparisons .* set bootstrap_imputation = "once"'):
        bs.Replicator(x, [Comparison("y", "capabilities", x[:, 0])], "paper", reimpute=Reimputation(observed, x, 1))
