import numpy as np
import pytest
from scipy import stats

from assets.stats.capabilities import fit_capabilities
from assets.stats.correlation import Comparison, correlations, pairwise_spearman

pytestmark = pytest.mark.unit


def test_pairwise_spearman_matches_scipy_omit():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=30), rng.normal(size=30)
    y[:] += 0.5 * x
    x[[2, 7]] = np.nan
    y[[7, 11, 19]] = np.nan
    n, rho = pairwise_spearman(x, y)
    assert n == 26
    assert rho == pytest.approx(stats.spearmanr(x, y, nan_policy="omit").statistic, abs=1e-12)


def test_undefined_correlations_are_null_with_reason():
    cap = np.random.default_rng(2).normal(size=(10, 3)) + np.arange(10)[:, None]
    few = np.full(10, np.nan)
    few[:2] = [1.0, 2.0]
    flat = np.ones(10)
    frame = correlations(cap, [Comparison("few", "capabilities", few), Comparison("flat", "capabilities", flat)])
    assert frame["spearman"].to_list() == [None, None]
    assert frame["n_models"].to_list() == [2, 10]
    assert frame["note"].to_list() == [
        "fewer than 3 models with both values",
        "benchmark is constant over these models",
    ]


def test_correlations_against_manual_fits():
    rng = np.random.default_rng(5)
    g = rng.normal(size=25)
    cap = g[:, None] + rng.normal(scale=0.5, size=(25, 4))
    cap[3, 1] = np.nan  # model 3 gets no score
    y = g + rng.normal(size=25)
    flop = np.exp(g + rng.normal(scale=0.3, size=25))
    comps = [
        Comparison("y", "capabilities", y),
        Comparison("c1", "capabilities_loo", cap[:, 1], drop_input=1),
        Comparison("y", "compute", y, x=flop),
    ]
    frame = correlations(cap, comps)
    complete = ~np.isnan(cap).any(axis=1)
    score = fit_capabilities(cap[complete]).scores
    expected_cap = stats.spearmanr(y[complete], score).statistic
    score_loo = fit_capabilities(np.delete(cap, 1, axis=1)).scores  # all 25 models complete without column 1
    keep = ~np.isnan(cap[:, 1])
    expected_loo = stats.spearmanr(cap[keep, 1], score_loo[keep]).statistic
    assert frame["spearman"].to_list() == pytest.approx(
        [expected_cap, expected_loo, stats.spearmanr(y, flop).statistic], abs=1e-12
    )
    assert frame["n_models"].to_list() == [24, 24, 25]
