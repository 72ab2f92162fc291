"""A synthetic leaderboard with known capabilities correlations: the load generator of the scale runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .correlation import Comparison


@dataclass(frozen=True)
class SyntheticLeaderboard:
    values: np.ndarray
    """``(n_models, n_benchmarks)`` scores; the first ``n_inputs`` columns are the capability inputs"""
    benchmarks: list[str]
    n_inputs: int
    truth: dict[str, float]
    """each safety benchmark's population Spearman correlation with the latent capability"""
    latent: np.ndarray
    """the latent capability of each model"""

    @property
    def capability_matrix(self) -> np.ndarray:
        return self.values[:, : self.n_inputs]

    def column(self, benchmark: str) -> np.ndarray:
        return self.values[:, self.benchmarks.index(benchmark)]

    def comparisons(self) -> list[Comparison]:
        """One of each kind the bootstrap refits or holds fixed: every safety benchmark against the capabilities
        score, the first against the latent capability as a fixed column (as ``compute``), and every input
        against the score refitted without it (``capabilities_loo``)."""
        inputs, safety = self.benchmarks[: self.n_inputs], self.benchmarks[self.n_inputs :]
        return [
            *[Comparison(name, "capabilities", self.column(name)) for name in safety],
            Comparison(safety[0], "compute", self.column(safety[0]), x=self.latent),
            *[Comparison(name, "capabilities_loo", self.column(name), drop_input=j) for j, name in enumerate(inputs)],
        ]


def synthetic_leaderboard(
    n_models: int, n_benchmarks: int = 50, n_safety: int = 10, missing: float = 0.0, seed: int = 0
) -> SyntheticLeaderboard:
    """Models scored on capability inputs and safety benchmarks driven by one latent capability factor.

    Parameters
    ----------
    n_models, n_benchmarks : int
        Size of the leaderboard; the last ``n_safety`` benchmarks are safety benchmarks, the others inputs.
    n_safety : int
        Safety benchmarks, with latent correlations evenly spaced in [-0.9, 0.9].
    missing : float
        Fraction of safety cells removed at random (inputs stay complete).
    seed : int
        Same seed, same leaderboard.

    Returns
    -------
    SyntheticLeaderboard
        Input ``i`` is ``l_i f + sqrt(1 - l_i^2) e`` with loadings ``l_i`` in [0.6, 0.95]; safety benchmark ``j`` is
        ``r_j f + sqrt(1 - r_j^2) e``, all standard normal. For such a bivariate normal pair the population
        Spearman correlation is ``(6 / pi) arcsin(r_j / 2)`` (Pearson 1907), the truth reported.
    """
    if n_safety >= n_benchmarks:
        raise ValueError(f"n_safety ({n_safety}) must leave capability inputs among {n_benchmarks} benchmarks")
    rng = np.random.default_rng(seed)
    n_inputs = n_benchmarks - n_safety
    factor = rng.standard_normal(n_models)
    loadings = np.linspace(0.6, 0.95, n_inputs)
    rho = np.linspace(-0.9, 0.9, n_safety)
    weights = np.concatenate([loadings, rho])
    noise = rng.standard_normal((n_models, n_benchmarks))
    values = factor[:, None] * weights + noise * np.sqrt(1 - weights**2)
    if missing:
        safety = values[:, n_inputs:]
        safety[rng.random(safety.shape) < missing] = np.nan
    names = [f"capability_{i:02d}" for i in range(n_inputs)] + [f"safety_{j:02d}" for j in range(n_safety)]
    truth = {name: float(6 / np.pi * np.arcsin(r / 2)) for name, r in zip(names[n_inputs:], rho)}
    return SyntheticLeaderboard(values, names, n_inputs, truth, factor)
