import numpy as np
import pytest
from scipy import stats

from assets.stats.capabilities import fit_capabilities
from assets.stats.synthetic import synthetic_leaderboard

pytestmark = pytest.mark.unit


def test_the_synthetic_truth_is_the_spearman_correlation_with_the_latent_factor():
    board = synthetic_leaderboard(200_000, n_benchmarks=20, n_safety=5, seed=3)
    assert board.values.shape == (200_000, 20) and len(board.truth) == 5
    for name, truth in board.truth.items():
        assert stats.spearmanr(board.column(name), board.latent).statistic == pytest.approx(truth, abs=0.005)
    # the capabilities score recovers the latent factor, so the capabilities correlation recovers the truth
    score = fit_capabilities(board.capability_matrix[:20_000], method="paper").scores
    for name, truth in board.truth.items():
        rho = stats.spearmanr(board.column(name)[:20_000], score).statistic
        assert rho == pytest.approx(truth, abs=0.03)


def test_same_seed_same_leaderboard_and_missing_cells_only_in_safety_benchmarks():
    a, b = synthetic_leaderboard(500, missing=0.1, seed=7), synthetic_leaderboard(500, missing=0.1, seed=7)
    assert np.array_equal(a.values, b.values, equal_nan=True)
    assert not np.isnan(a.capability_matrix).any()
    assert np.isnan(a.values[:, a.n_inputs :]).mean() == pytest.approx(0.1, abs=0.02)
    assert not np.array_equal(a.values, synthetic_leaderboard(500, missing=0.1, seed=8).values, equal_nan=True)
