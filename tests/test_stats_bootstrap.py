"""The bootstrap kernel against direct computation on resampled data and against scipy.stats.bootstrap."""

import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from assets.parsers.safetywashing import parse_matrix
from assets.stats import _compiled
from assets.stats import bootstrap as bs
from assets.stats.correlation import Comparison, statistics_on_rows
from conftest import PROJECT, SW_DATA

pytestmark = pytest.mark.unit

CAPS = [
    "arc_challenge",
    "bbh",
    "gsm8k",
    "hellaswag",
    "lambada_openai",
    "logiqa",
    "medqa_4options",
    "minerva_math",
    "mmlu",
    "piqa",
    "superglue_copa",
    "winogrande",
]


def paper_set(model_set):
    scores, models, _ = parse_matrix(
        (SW_DATA / f"benchmarks_{model_set}_models.csv").read_bytes(), source="t", file="f"
    )
    wide = scores.pivot(on="benchmark", index="model_id", values="value").sort("model_id")
    flop = models.sort("model_id")["training_flop"].to_numpy().astype(float)
    col = {c: wide[c].to_numpy().astype(float) for c in wide.columns if c != "model_id"}
    return np.column_stack([col[c] for c in CAPS]), col, flop


def paper_comparisons(col, flop, model_set):
    comps = [
        Comparison("wmdp_bio", "capabilities", col["wmdp_bio"]),
        Comparison("MT_Bench", "capabilities", col["MT_Bench"]),
        Comparison("truthfulqa_mc1", "capabilities", col["truthfulqa_mc1"]),
        Comparison("mmlu", "capabilities_loo", col["mmlu"], drop_input=CAPS.index("mmlu")),
        Comparison("wmdp_bio", "compute", col["wmdp_bio"], x=flop),
        Comparison("brier_mmlu", "accuracy", col["brier_mmlu"], x=col["mmlu"]),
    ]
    if model_set == "chat":
        comps.append(Comparison("LMSYS_Chatbot_Arena", "capabilities", col["LMSYS_Chatbot_Arena"]))
    return comps


@pytest.fixture(params=["dense", "compiled"])
def path(request, monkeypatch):
    if request.param == "compiled":  # the large-model-set kernels of assets.stats._compiled
        monkeypatch.setattr(bs, "_DENSE_LIMIT", 0)
    return request.param


def test_weighted_ranks_equal_rankdata_of_the_repeated_sample():
    rng = np.random.default_rng(0)
    values = np.round(rng.normal(size=(4, 15)), 1)  # rounding makes original ties
    values[1, [2, 5]] = np.nan
    ranker = bs._FixedRanks(values)
    w = bs.resample_weights(15, seed=1, start=0, stop=6)
    ranks = ranker(w) + 0.5
    ties = ranker.tie_correction(w)
    for b in range(6):
        for c in range(4):
            keep = ~np.isnan(values[c]) & (w[b] > 0)
            repeated = np.repeat(values[c][keep], w[b][keep].astype(int))
            expected = stats.rankdata(repeated)
            got = np.repeat(ranks[b, keep, c], w[b][keep].astype(int))
            np.testing.assert_allclose(got, expected)
            _, counts = np.unique(repeated, return_counts=True)
            assert ties[b, c] == pytest.approx((counts**3 - counts).sum())
            # the compiled walk over the sorted column: same ranks, and its sums centre exactly
            order, end = bs._sorted_column(values[c], np.flatnonzero(~np.isnan(values[c])))
            walked = np.zeros(15)
            total, drawn, ss = _compiled._ranks_fixed(order, end, order.size, w[b], walked)
            np.testing.assert_array_equal(np.repeat(walked[keep] + 0.5, w[b][keep].astype(int)), expected)
            assert (total, drawn) == (len(repeated), keep.sum())
            assert ss - total**3 / 4 == ((expected - expected.mean()) ** 2).sum()


@pytest.mark.parametrize("case", ["near", "ties", "crowded", "constant"])
def test_a_refitted_score_sorts_and_groups_its_ties_as_numpy_does(case):
    """The kernel's sort of a refitted score (buckets, then insertion from the sample's order, numpy past too
    many moves) and its tie bounds, against numpy's sort and unique on the models drawn."""
    rng = np.random.default_rng(7)
    n = 5000
    sample = np.sort(rng.normal(size=n))
    scores = {
        "near": sample + rng.normal(scale=0.05, size=n),
        "ties": np.round(sample + rng.normal(scale=0.05, size=n), 1),
        "crowded": np.where(np.arange(n) % 3 == 0, 1e6, 1e-9 * rng.normal(size=n)),
        "constant": np.full(n, 2.5),
    }[case]
    drawn = np.flatnonzero(rng.random(n) < 0.63).astype(np.int32)  # in the sample's score order
    idx, spill, end = drawn.copy(), np.empty(n, dtype=np.int32), np.empty(n, dtype=np.int32)
    _compiled._sort_near(idx, drawn.size, scores, spill)
    assert sorted(idx) == sorted(drawn)
    np.testing.assert_array_equal(scores[idx], np.sort(scores[drawn]))
    tied = _compiled._tie_ends(idx, drawn.size, scores, end)
    values, first, counts = np.unique(scores[idx], return_index=True, return_counts=True)
    np.testing.assert_array_equal(end[: drawn.size], np.repeat(first + counts, counts))
    assert tied == (counts.max() > 1) == (case != "near")


@pytest.mark.parametrize("method", ["paper", "sklearn", "obsscaling"])
def test_replicates_equal_direct_computation(path, method):
    cap, col, flop = paper_set("chat")
    comps = paper_comparisons(col, flop, "chat")
    rep = bs.Replicator(cap, comps, method)
    w = bs.resample_weights(rep.n, seed=11, start=0, stop=20)
    theta = rep(w)
    for b in range(20):
        idx = np.repeat(np.arange(rep.n), w[b].astype(int))
        np.testing.assert_allclose(theta[:, b], statistics_on_rows(cap, comps, idx, method), atol=1e-9)
    np.testing.assert_allclose(
        rep(np.ones((1, rep.n)))[:, 0], statistics_on_rows(cap, comps, np.arange(rep.n), method), atol=1e-12
    )


@pytest.mark.parametrize("method", ["paper", "sklearn", "obsscaling"])
def test_missing_inputs_and_leave_one_out_refits_over_other_models(path, method):
    """Holes in the capability inputs: a leave-one-out refit covers the models missing only the input it
    drops (its own fit, not a slice of the full one); ties in a benchmark and in compute."""
    rng = np.random.default_rng(5)
    n = 40
    g = rng.normal(size=n)
    cap = g[:, None] + rng.normal(scale=0.6, size=(n, 4))
    cap[rng.random(cap.shape) < 0.08] = np.nan
    y = np.round(g + rng.normal(size=n), 0)  # many ties
    y[[3, 17]] = np.nan
    flop = np.round(np.exp(g), 1)
    comps = [
        Comparison("y", "capabilities", y),
        Comparison("y", "compute", y, x=flop),
        *[Comparison(f"c{j}", "capabilities_loo", cap[:, j], drop_input=j) for j in range(4)],
    ]
    rep = bs.Replicator(cap, comps, method)
    w = bs.resample_weights(n, seed=3, start=0, stop=25)
    theta = rep(w)
    for b in range(25):
        idx = np.repeat(np.arange(n), w[b].astype(int))
        np.testing.assert_allclose(theta[:, b], statistics_on_rows(cap, comps, idx, method), atol=1e-9)


def test_models_with_identical_inputs_tie_in_every_score(path):
    cap, col, flop = paper_set("chat")
    cap[5] = cap[9]  # two models with the same capability inputs always share a score
    comps = paper_comparisons(col, flop, "chat")
    rep = bs.Replicator(cap, comps)
    assert rep.compiled or not rep.distinct_scores
    w = bs.resample_weights(rep.n, seed=4, start=0, stop=10)
    theta = rep(w)
    for b in range(10):
        idx = np.repeat(np.arange(rep.n), w[b].astype(int))
        np.testing.assert_allclose(theta[:, b], statistics_on_rows(cap, comps, idx), atol=1e-9)


def test_jackknife_is_leave_one_model_out():
    cap, col, flop = paper_set("base")
    comps = paper_comparisons(col, flop, "base")
    jack = bs.Replicator(cap, comps)(bs.jackknife_weights(len(flop)))
    for i in (0, 13, 26):
        np.testing.assert_allclose(
            jack[:, i], statistics_on_rows(cap, comps, np.delete(np.arange(len(flop)), i)), atol=1e-9
        )


def test_the_compiled_kernels_give_the_same_bits_on_one_thread_and_two():
    """The suite computes on one thread (conftest.ONE_THREAD): here the compiled path runs on both cores."""
    code = """
import numba, numpy as np
from assets.stats import bootstrap as bs
from assets.stats.synthetic import synthetic_leaderboard

bs._DENSE_LIMIT = 0
board = synthetic_leaderboard(300, n_benchmarks=9, n_safety=3, missing=0.2, seed=3)
rep = bs.Replicator(board.capability_matrix, board.comparisons())
w = bs.resample_weights(rep.n, 7, 0, 200)
out = {}
for threads in (1, 2):
    numba.set_num_threads(threads)
    out[threads] = rep(w)
print(rep.compiled, numba.get_num_threads(), np.isfinite(out[1]).mean(), np.array_equal(out[1], out[2], equal_nan=True))
"""
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=PROJECT)
    assert done.returncode == 0, done.stderr
    compiled, threads, finite, same = done.stdout.split()
    assert (compiled, threads, same) == ("True", "2", "True") and float(finite) > 0.9


def test_same_seed_same_bits_whatever_the_chunking(path):
    cap, col, flop = paper_set("base")
    comps = paper_comparisons(col, flop, "base")
    whole = bs.Replicator(cap, comps, workers=1)(bs.resample_weights(len(flop), 5, 0, 1300))
    parts = np.concatenate(
        [
            bs.Replicator(cap, comps, workers=2)(bs.resample_weights(len(flop), 5, lo, hi))
            for lo, hi in [(0, 499), (499, 1000), (1000, 1300)]
        ],
        axis=1,
    )
    assert np.array_equal(whole, parts, equal_nan=True)
    assert not np.array_equal(
        whole, bs.Replicator(cap, comps)(bs.resample_weights(len(flop), 6, 0, 1300)), equal_nan=True
    )


def test_degenerate_resamples_are_counted_not_used(path):
    rng = np.random.default_rng(3)
    g = rng.normal(size=12)
    cap = g[:, None] + rng.normal(scale=0.3, size=(12, 4))
    two_values = (g > np.median(g)).astype(float)  # resamples drawing only one side make it constant
    table = bs.bootstrap_correlations(cap, [Comparison("split", "capabilities", two_values)], n_resamples=3000, seed=2)
    w = bs.resample_weights(12, 2, 0, 3000)
    constant = ((w > 0) & (two_values == 1)).any(axis=1) != ((w > 0) & (two_values == 0)).any(axis=1)
    assert table["n_degenerate"][0] == constant.sum() > 0
    assert table["ci_low"][0] is not None


def scipy_reference(cap, comps, n_resamples, seed):
    n = cap.shape[0]
    return stats.bootstrap(
        (np.arange(n),),
        lambda idx: statistics_on_rows(cap, comps, idx),
        vectorized=False,
        n_resamples=n_resamples,
        method="BCa",
        confidence_level=0.95,
        random_state=seed,
    )


def monte_carlo_tolerance(distribution, endpoints, n_resamples):
    """0.02, or 4 standard errors of the difference of two independent B-resample estimates of each
    endpoint when that is larger (the order-statistic standard error of an empirical quantile)."""
    p = (distribution <= endpoints[:, None]).mean(axis=1)
    step = 2 * np.sqrt(p * (1 - p) / n_resamples)
    lo = np.array([np.quantile(d, max(q - s, 0)) for d, q, s in zip(distribution, p, step)])
    hi = np.array([np.quantile(d, min(q + s, 1)) for d, q, s in zip(distribution, p, step)])
    return np.maximum(0.02, 4 * np.sqrt(2) * (hi - lo) / 4)


@pytest.mark.parametrize("model_set", ["base", "chat"])
def test_intervals_agree_with_scipy_bootstrap(model_set):
    """Same statistic (refit included), same B: the intervals differ by Monte-Carlo error only.

    At this small B that error can exceed 0.02 in a skewed tail; benchmarks/bootstrap.py checks 0.02 at
    B=10,000.
    """
    cap, col, flop = paper_set(model_set)
    comps = paper_comparisons(col, flop, model_set)
    n_resamples = 4000
    ref = scipy_reference(cap, comps, n_resamples, seed=123)
    dist = ref.bootstrap_distribution
    ref_pct = np.quantile(dist, [0.025, 0.975], axis=-1)
    for method, (ref_low, ref_high) in [("bca", ref.confidence_interval), ("percentile", ref_pct)]:
        ours = bs.bootstrap_correlations(cap, comps, n_resamples=n_resamples, seed=7, method=method)
        assert ours["ci_method"].to_list() == [method] * len(comps)
        low, high = ours["ci_low"].to_numpy(), ours["ci_high"].to_numpy()
        assert (np.abs(low - ref_low) <= monte_carlo_tolerance(dist, ref_low, n_resamples)).all(), (low, ref_low)
        assert (np.abs(high - ref_high) <= monte_carlo_tolerance(dist, ref_high, n_resamples)).all(), (high, ref_high)
        assert np.median(np.abs(np.r_[low - ref_low, high - ref_high])) < 0.01
    np.testing.assert_allclose(ours["se"].to_numpy(), ref.standard_error, rtol=0.1)


def test_permutation_pvalue_against_scipy():
    rng = np.random.default_rng(8)
    x = rng.normal(size=20)
    y = 0.4 * x + rng.normal(size=20)
    cap = np.column_stack([x + rng.normal(scale=0.1, size=20) for _ in range(3)])
    comps = [Comparison("y", "compute", y, x=x)]
    ours = bs.permutation_pvalues(bs.Replicator(cap, comps), 4000, seed=1)[0]
    ref = stats.permutation_test(
        (y,), lambda a: stats.spearmanr(a, x).statistic, permutation_type="pairings", n_resamples=4000, random_state=2
    ).pvalue
    assert ours == pytest.approx(ref, abs=0.02)
    assert 0.001 < ours < 0.5


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_interval_coverage_of_a_known_population_correlation(method):
    """95% intervals for a bivariate normal's Spearman correlation (6/pi * arcsin(rho/2)) cover it in
    about 95% of 200 samples: within the binomial margin (3 standard errors: 88.5%..100%)."""
    rho, n, reps = 0.6, 40, 200
    truth = 6 / np.pi * np.arcsin(rho / 2)
    rng = np.random.default_rng(2024)
    cover = 0
    for r in range(reps):
        x, e = rng.normal(size=(2, n))
        y = rho * x + np.sqrt(1 - rho**2) * e
        cap = np.column_stack([x, x + rng.normal(size=n), x - rng.normal(size=n)])
        row = bs.bootstrap_correlations(
            cap, [Comparison("y", "compute", y, x=x)], n_resamples=1000, seed=r, method=method
        ).row(0, named=True)
        cover += row["ci_low"] <= truth <= row["ci_high"]
    margin = 3 * np.sqrt(0.95 * 0.05 / reps)
    assert 0.95 - margin <= cover / reps <= 1.0
