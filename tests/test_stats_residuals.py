"""Differential progress: residuals from the least-squares line, against scipy and a planted safety bonus."""

import numpy as np
import pytest
from scipy import stats

from assets.stats.residuals import capability_residuals

pytestmark = pytest.mark.unit


def test_a_model_with_a_known_safety_bonus_tops_the_residuals():
    rng = np.random.default_rng(11)
    n = 40
    score = rng.normal(size=n)
    safety = 0.8 * score + rng.normal(scale=0.3, size=n)
    safety[17] += 2.0  # the planted bonus: safer than its capabilities explain
    score[3] = np.nan  # no capabilities score: left out, not guessed
    ids = [f"m{i}" for i in range(n)]
    table = capability_residuals(score, safety, ids).sort("residual", descending=True)
    assert table["model_id"][0] == "m17" and "m3" not in table["model_id"].to_list()
    keep = ~np.isnan(score)
    ref = stats.linregress(score[keep], safety[keep])
    assert table["slope"][0] == pytest.approx(ref.slope, abs=1e-12)
    assert table["intercept"][0] == pytest.approx(ref.intercept, abs=1e-12)
    row = table.row(0, named=True)
    assert row["expected"] == pytest.approx(ref.intercept + ref.slope * score[17], abs=1e-12)
    residuals = safety[keep] - (ref.intercept + ref.slope * score[keep])
    assert row["residual_z"] == pytest.approx(
        (safety[17] - row["expected"]) / np.sqrt((residuals**2).sum() / (keep.sum() - 2))
    )
    assert table["residual"].sum() == pytest.approx(0.0, abs=1e-9) and table["n_models"][0] == n - 1


def test_too_few_models_or_a_constant_score_give_no_rows():
    assert capability_residuals(np.array([1.0, 2.0]), np.array([1.0, 3.0]), ["a", "b"]).is_empty()
    assert capability_residuals(np.ones(5), np.arange(5.0), list("abcde")).is_empty()
