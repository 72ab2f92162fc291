"""Compile the numba kernels of :mod:`assets.stats._compiled` once, ahead of the first refresh.

numba compiles a kernel on its first call and caches the machine code beside its module. On a fresh install
every process that reaches a kernel before a cache entry exists compiles it again (40-55 s of CPU for all of
them here, ``replicate`` 28 s): a refresh's first steps, each Celery worker, each test worker.
:func:`compile_kernels` makes those first calls once, through the same public functions and argument types a
refresh uses, as an install step does for Python's bytecode (``python -m assets.stats.kernels``).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .bootstrap import Replicator, bootstrap_table, resample_weights
from .imputation import Reimputation, pca_impute
from .synthetic import synthetic_leaderboard

_SMALL, _LARGE = 40, 2_100  # below and above the dense kernels' size (9 comparisons × models²)


def _fits(seed: int) -> list[str]:
    """The replicate kernels of every capabilities method, small and large (``replicate``: 28 s of the 40)."""
    for n, missing in ((_SMALL, 0.0), (_LARGE, 0.1)):
        board = synthetic_leaderboard(n, n_benchmarks=8, n_safety=3, missing=missing, seed=seed)
        for method in ("paper", "sklearn", "obsscaling"):
            replicator = Replicator(board.capability_matrix, board.comparisons(), method)
            theta = replicator(resample_weights(replicator.n, seed, 0, 4))
            bootstrap_table(replicator, theta, n_resamples=4, seed=seed, confidence_level=0.95, method="percentile")
    return _held()


def _reimputation(seed: int) -> list[str]:
    """The kernels of a resample that imputes its missing cells again (15 s)."""
    board = synthetic_leaderboard(_SMALL, n_benchmarks=8, n_safety=3, seed=seed)
    observed = board.capability_matrix.copy()
    observed[np.random.default_rng(seed).random(observed.shape) < 0.2] = np.nan
    for bounds in (None, (-3.0, 3.0)):
        filled = pca_impute(observed, n_components=1, bounds=bounds, stop="missing").values
        replicator = Replicator(
            filled, board.comparisons(), "paper", reimpute=Reimputation(observed, filled, 1, bounds)
        )
        replicator(resample_weights(replicator.n, seed, 0, 4))
    return _held()


def _held() -> list[str]:
    from . import _compiled

    return [name for name, f in vars(_compiled).items() if getattr(f, "signatures", None)]


def compile_kernels(seed: int = 0) -> list[str]:
    """Call every compiled kernel with the argument types of a refresh; return the kernels numba now holds.

    The two groups of kernels compile in two processes at once, each writing its own cache entries (40 s of
    wall time on a fresh install instead of 47 in one, measured 2026-12-07).

    Parameters
    ----------
    seed : int
        Seed of the synthetic leaderboards the kernels run on (their numbers are discarded).

    Returns
    -------
    list of str
        The kernels numba holds a compiled version of, by name (loaded from the cache, only those called
        from Python: the kernels they call are compiled into them).
    """
    groups = (_fits, _reimputation)
    with ProcessPoolExecutor(len(groups), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(group, seed) for group in groups]
        return sorted({name for future in futures for name in future.result()})


if __name__ == "__main__":
    print("numba kernels compiled and cached:", ", ".join(compile_kernels()))
