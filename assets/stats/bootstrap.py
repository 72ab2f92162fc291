"""Bootstrap intervals and permutation p-values for capabilities correlations, refitting the score.

A bootstrap resample of a model set is a vector of multiplicities ``w`` over its ``n`` models (drawn
with replacement, ``sum(w) == n``). Everything a correlation needs follows from ``w`` without
materialising the resampled data:

- the weighted (population) mean and standard deviation of each capability input give the resample's
  z-scores;
- the average rank of model ``i`` in column ``v`` is ``sum_j w_j ([v_j < v_i] + [v_j == v_i] / 2) + 1/2``,
  which counts duplicates and original ties alike. For small ``n`` it is one matrix product of the
  weights with a fixed 0/½/1 comparison matrix per column (all columns in one GEMM); above
  :data:`_DENSE_LIMIT` the compiled kernels of :mod:`assets.stats._compiled` walk each column in its
  original sort order instead (O(n) per column and resample, no re-sort);
- a Spearman correlation within the resample is the ``w``-weighted Pearson correlation of those ranks;
  its sums of squares follow from the tie structure alone (``(N^3 - N - sum(m^3 - m)) / 12`` over tie
  groups of weight ``m``), so only the cross products touch the ranks;
- the Spearman matrices of all resamples of a chunk are built in one batch, and their top eigenvectors
  come from one batched power iteration started at the sample's PC1 (a leave-one-out refit: at the
  resample's PC1 without the dropped input), with ``numpy.linalg.eigh`` for any matrix that has not
  converged. At 12×12, LAPACK's per-matrix overhead makes a batched ``eigh`` several times slower.

Resamples are drawn in blocks of :data:`RESAMPLE_BLOCK`, block ``i`` from ``default_rng([seed, 0, i])``:
the same seed gives the same numbers bit for bit, however the work is chunked or distributed.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.special import ndtr, ndtri
from threadpoolctl import threadpool_limits

from .capabilities import Method, fit_capabilities, orient
from .correlation import MIN_MODELS, Comparison, comparator_values
from .imputation import Reimputation

BLOCK = 500
_PERM_ROWS = 64  # permutations drawn into one buffer at a time: 25 MB at 100,000 models
RESAMPLE_BLOCK = 50
CI_METHODS = ("bca", "percentile")
_DENSE_LIMIT = 20_000_000  # comparison-matrix entries above which ranks switch to the sorted path
_CHUNK_BYTES = 16 * 2**20  # per (resamples × models × comparisons) rank array in a chunk
_REIMPUTE_BLOCK = 2_000  # resamples re-imputed per call of the compiled kernel: (block, n, k) values held
_POWER_TOL = 1e-10  # loadings this close give identical score ranks (score gaps are ~1e-3)
_POWER_MAX_ITER = 200
_POWER_STEP = 4
_POWER_WARMUP = 8


def resample_weights(n: int, seed: int, start: int, stop: int) -> np.ndarray:
    """Multiplicities of resamples ``start..stop-1`` of ``n`` models, shape ``(stop - start, n)``.

    Resample ``r`` is row ``r % RESAMPLE_BLOCK`` of block ``r // RESAMPLE_BLOCK``: the block's rows, in turn,
    each draw ``n`` models with replacement from ``numpy.random.default_rng([seed, 0, block])``, and the
    draws are counted (the distribution of ``multinomial(n, [1/n] * n)``, at a fifth of its cost for
    100,000 models). Any range is reproducible on its own; one on block bounds draws only its own rows.
    """
    if not 0 <= start <= stop:
        raise ValueError(f"bad resample range {start}..{stop}")
    rows = []
    for block in range(start // RESAMPLE_BLOCK, -(-stop // RESAMPLE_BLOCK)):
        lo = max(start - block * RESAMPLE_BLOCK, 0)
        hi = min(stop - block * RESAMPLE_BLOCK, RESAMPLE_BLOCK)
        # the first hi rows of the block's draws (a shorter draw is a prefix of a longer one)
        draws = np.random.default_rng([seed, 0, block]).integers(0, n, size=(hi, n))[lo:]
        rows.extend(np.bincount(row, minlength=n) for row in draws)
    return np.array(rows, dtype=float).reshape(stop - start, n)


def jackknife_weights(n: int) -> np.ndarray:
    """The ``n`` leave-one-model-out resamples as multiplicities, shape ``(n, n)``."""
    return 1.0 - np.eye(n)


# --------------------------------------------------------------------------------------------- ranks


class _FixedRanks:
    """Weighted ranks of fixed columns (NaN = not ranked) under per-resample weights.

    Calling it with weights ``w`` (b, n) returns ``rank - 1/2`` as an array (b, n, C): zero for a model
    a column does not rank, and ``N/2`` on (weighted) average for the ``N`` it does. One GEMM with a fixed
    0/½/1 comparison matrix (n, n*C): the path for model sets small enough to hold it
    (see :data:`_DENSE_LIMIT`; larger ones go to :mod:`assets.stats._compiled`).
    """

    def __init__(self, columns: np.ndarray, dtype: type = np.float64):
        v = self.columns = np.asarray(columns, dtype=float)  # (C, n)
        c, n = v.shape
        self.dtype = dtype
        less = v[:, None, :] < v[:, :, None]  # [c, i, j] = v_j < v_i
        equal = v[:, None, :] == v[:, :, None]
        # column (i, c) of the (n, n*C) matrix: what each model j adds to the rank of i in column c
        self.compare = (less + 0.5 * equal).transpose(2, 1, 0).reshape(n, n * c).astype(dtype)
        # tie groups: models alone in their value count through one GEMM, tied groups through another
        single = ~np.isnan(v)
        groups, owner = [], []
        for k, col in enumerate(v):
            values, counts = np.unique(col[~np.isnan(col)], return_counts=True)
            for value in values[counts > 1]:
                members = col == value
                single[k] &= ~members
                groups.append(members)
                owner.append(k)
        self.single = single.T.astype(float)  # (n, C)
        self.ties = np.array(groups, dtype=float).reshape(len(groups), n).T  # (n, G)
        self.owner = np.zeros((len(groups), c))
        self.owner[np.arange(len(groups)), owner] = 1.0

    def tie_correction(self, w: np.ndarray) -> np.ndarray:
        """``sum over tie groups of (m^3 - m)``, m the group's weight, per resample and column: (b, C).

        With it the weighted sum of squared rank deviations is ``(N^3 - N - correction) / 12`` without
        touching the ranks themselves.
        """
        m = w @ self.ties
        return (w * w * w - w) @ self.single + (m * m * m - m) @ self.owner

    def __call__(self, w: np.ndarray) -> np.ndarray:
        b, n = w.shape
        return (w.astype(self.dtype) @ self.compare).reshape(b, n, self.columns.shape[0])


def _sorted_column(values: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The models ``present`` in the order of ``values``, and for each position one past the end of its
    tie group (the compiled kernels' form of a fixed column)."""
    order = present[np.argsort(values[present], kind="stable")]
    return order, _tie_bounds(values[order])[1] + 1


class _SortedColumns:
    """:func:`_sorted_column`, sorting each distinct (values, models) once: a benchmark that is also a
    capabilities input, over the same models, shares the input's sort."""

    def __init__(self):
        self.done: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, values: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        digest = hashlib.blake2b(np.ascontiguousarray(values[present]).tobytes(), digest_size=32)
        digest.update(present.tobytes())
        key = digest.digest()
        if key not in self.done:
            self.done[key] = _sorted_column(values, present)
        return self.done[key]


def _tied(end: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Whether each sorted column (last axis; ``end`` from :func:`_sorted_column`, ``length`` entries in
    use) has a tie group."""
    used = np.arange(end.shape[-1]) < length[..., None]
    return (used & (end != np.arange(1, end.shape[-1] + 1))).any(axis=-1)


def _tie_bounds(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each position of a sorted vector (last axis), the first and last position of its tie group."""
    m = sorted_values.shape[-1]
    pos = np.broadcast_to(np.arange(m), sorted_values.shape)
    starts = np.ones(sorted_values.shape, dtype=bool)
    starts[..., 1:] = sorted_values[..., 1:] != sorted_values[..., :-1]
    first = np.maximum.accumulate(np.where(starts, pos, 0), axis=-1)
    ends = np.ones(sorted_values.shape, dtype=bool)
    ends[..., :-1] = starts[..., 1:]
    last = np.flip(np.minimum.accumulate(np.flip(np.where(ends, pos, m - 1), -1), axis=-1), -1)
    return first, last


def _sorted_ranks(w_sorted: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Average ranks in sorted order from weights in sorted order: one cumulative sum, no sort."""
    cum = np.zeros(w_sorted.shape[:-1] + (w_sorted.shape[-1] + 1,))
    np.cumsum(w_sorted, axis=-1, out=cum[..., 1:])
    lo = np.take_along_axis(cum, np.broadcast_to(first, w_sorted.shape), axis=-1)
    hi = np.take_along_axis(cum, np.broadcast_to(last + 1, w_sorted.shape), axis=-1)
    return lo + (hi - lo + 1.0) / 2.0


def _dynamic_ranks(s: np.ndarray, w: np.ndarray, masks: np.ndarray, dtype: type) -> np.ndarray:
    """``rank - 1/2`` of per-resample values ``s`` (b, n) among each mask's models (C, n): (b, n, C).

    Dense: O(n^2) per resample to build the comparison matrix, then one GEMM for all masks, the
    fastest way when masks are many and models few.
    """
    b, n = s.shape
    c = masks.shape[0]
    compare = ((s[:, None, :] < s[:, :, None]) + 0.5 * (s[:, None, :] == s[:, :, None])).astype(dtype)
    compare *= w[:, None, :].astype(dtype)  # (b, i, j)
    ranks = (compare.reshape(b * n, n) @ masks.T.astype(dtype)).reshape(b, n, c)
    ranks *= masks.T[None, :, :]
    return ranks


def _dynamic_ranks_sorted(
    s: np.ndarray, variant: np.ndarray, w: np.ndarray, masks: np.ndarray, dtype: type
) -> np.ndarray:
    """Like :func:`_dynamic_ranks` for comparisons over several score variants at once.

    ``s`` (b, V, n) holds each variant's scores, ``variant`` (C,) the variant of each comparison. One
    argsort per resample and variant, then O(n) per comparison: cumulative sums of the weights.
    """
    order = np.argsort(s, axis=2, kind="stable")  # (b, V, n)
    first, last = _tie_bounds(np.take_along_axis(s, order, axis=2))
    order, first, last = order[:, variant], first[:, variant], last[:, variant]  # (b, C, n)
    ws = np.take_along_axis(w[:, None, :] * masks[None, :, :], order, axis=2)
    ranks = np.empty(ws.shape, dtype=dtype)
    np.put_along_axis(ranks, order, _sorted_ranks(ws, first, last) - 0.5, axis=2)
    ranks *= masks[None, :, :]
    return ranks.transpose(0, 2, 1)


def _weighted_spearman(
    rx: np.ndarray,
    ry: np.ndarray,
    x_ties: np.ndarray | None,
    y_ties: np.ndarray,
    w: np.ndarray,
    total: np.ndarray,
    distinct: np.ndarray,
) -> np.ndarray:
    """Weighted Pearson correlation of ranks (``rank - 1/2``, zero outside each comparison): (b, C).

    Sums of squares come from the tie structure (``(N^3 - N - ties) / 12``); only the cross products
    touch the ranks. ``x_ties`` None: the x side's sum of squares is taken from the ranks instead.
    """
    centre = total * (total / 2.0) ** 2
    sxy = np.einsum("bnc,bnc,bn->bc", rx, ry, w.astype(rx.dtype)).astype(float) - centre
    if x_ties is None:
        sxx = np.einsum("bnc,bnc,bn->bc", rx, rx, w.astype(rx.dtype)).astype(float) - centre
    else:
        sxx = (total * total * total - total - x_ties) / 12.0
    syy = (total * total * total - total - y_ties) / 12.0
    tol = 1e-9 * np.maximum(total, 1.0) ** 2
    ok = (distinct >= MIN_MODELS) & (sxx > tol) & (syy > tol)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = sxy / np.sqrt(sxx * syy)
    return np.where(ok, np.clip(rho, -1.0, 1.0), np.nan)


# ----------------------------------------------------------------------------------- score refitting


@dataclass
class _Fit:
    z: np.ndarray  # (b, n, k) z-scores (0 where the model is not in the fit)
    corr: np.ndarray  # (b, k, k)
    valid: np.ndarray  # (b,)


def _fit_matrices(x: np.ndarray, ok: np.ndarray, w: np.ndarray, method: Method, cap_ranks: _FixedRanks | None) -> _Fit:
    """The resamples' z-scores and the matrices their PC1 is the top eigenvector of. ``x``: the inputs (n, k),
    or each resample's own (b, n, k) when it re-imputes them (then ``cap_ranks`` None: ranked per resample)."""
    wc = w * ok
    total = wc.sum(axis=1)
    safe_total = np.where(total > 0, total, 1.0)
    per_resample = x.ndim == 3
    mean = (np.einsum("bn,bnk->bk", wc, x) if per_resample else wc @ x) / safe_total[:, None]
    dev = (x if per_resample else x[None, :, :]) - mean[:, None, :]
    var = np.einsum("bn,bnk->bk", wc, dev * dev) / safe_total[:, None]
    scale = np.maximum(np.abs(x).max(axis=-2), 1.0)
    valid = (np.count_nonzero(wc, axis=1) >= MIN_MODELS) & (var > (1e-12 * scale) ** 2).all(axis=1)
    sd = np.sqrt(np.where(valid[:, None], var, 1.0))
    if method == "obsscaling":  # PCA of the centred, unscaled inputs: the covariance matrix, scores from deviations
        z = dev * ok[None, :, None]
    else:
        z = dev / sd[:, None, :] * ok[None, :, None]
    if method == "paper" and cap_ranks is None:
        k = x.shape[-1]
        columns = np.ascontiguousarray(np.broadcast_to(x, (w.shape[0],) + x.shape[-2:]).transpose(0, 2, 1))
        m = _dynamic_ranks_sorted(columns, np.arange(k), wc, np.broadcast_to(ok, (k, ok.size)), np.float64)
        m = (m - (total / 2.0)[:, None, None]) * ok[None, :, None]
    elif method == "paper":
        m = cap_ranks(wc) - (total / 2.0)[:, None, None]
    elif method in ("sklearn", "obsscaling"):
        m = z
    else:
        raise ValueError(f"unknown capabilities method {method!r}")
    cov = np.matmul((m * wc[:, :, None]).transpose(0, 2, 1), m)
    if method == "obsscaling":
        corr = cov / np.where(valid, total, 1.0)[:, None, None]
    else:
        d = np.sqrt(np.einsum("bkk->bk", cov))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / (d[:, :, None] * d[:, None, :])
    corr[~valid] = np.eye(x.shape[-1])
    return _Fit(z=z, corr=corr, valid=valid)


def _top_eigenvectors(corr: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Top eigenvector of each symmetric positive semi-definite matrix in ``corr`` (…, k, k), signed.

    Without ``start``: one batched ``numpy.linalg.eigh``. With ``start`` (a close guess, such as the
    full fit's PC1 for a leave-one-out refit): power iteration, normalised and tested every
    :data:`_POWER_STEP` products after :data:`_POWER_WARMUP`, until no entry moves by more than
    :data:`_POWER_TOL`; matrices
    that have not converged after :data:`_POWER_MAX_ITER` products go to ``eigh``.
    """
    if start is None:
        return orient(np.linalg.eigh(corr)[1][..., -1])
    shape = start.shape
    k = shape[-1]
    mats = corr.reshape(-1, k, k)
    v = (start / np.linalg.norm(start, axis=-1, keepdims=True)).reshape(-1, k)
    for _ in range(_POWER_WARMUP):  # most matrices converge within these; no bookkeeping meanwhile
        v = np.matmul(mats, v[..., None])[..., 0]
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    active = np.arange(v.shape[0])  # from here on only matrices still moving are iterated
    for _ in range(_POWER_WARMUP, _POWER_MAX_ITER, _POWER_STEP):
        m, u = mats[active], v[active]
        previous = u
        for _ in range(_POWER_STEP):
            u = np.matmul(m, u[..., None])[..., 0]
        u /= np.linalg.norm(u, axis=-1, keepdims=True)
        v[active] = u
        active = active[np.abs(u - previous).max(axis=-1) > _POWER_TOL]
        if active.size == 0:
            break
    if active.size:
        v[active] = np.linalg.eigh(mats[active])[1][..., -1]
    v = v.reshape(shape)
    return orient(v)


# ------------------------------------------------------------------------------------------- kernel


class Replicator:
    """Computes every comparison's statistic under any batch of resample weights.

    Parameters
    ----------
    capability_matrix : ndarray, shape (n_models, n_inputs)
        Raw capability inputs, NaN where missing (such models get no score).
    comparisons : list of Comparison
    method : {'paper', 'sklearn', 'obsscaling'}
        How each resample's capabilities score is refitted.
    workers : int, optional
        Threads over chunks of resamples (default: all cores). Results do not depend on it.
    reimpute : Reimputation, optional
        When ``capability_matrix`` is imputed: each resample re-imputes its own matrix this way before the
        refit (then ``capability_matrix`` is the full sample's imputation, the resamples' start). Model sets
        of the compiled kernels' size are refused.
    """

    def __init__(
        self,
        capability_matrix: np.ndarray,
        comparisons: list[Comparison],
        method: Method = "paper",
        workers: int | None = None,
        reimpute: Reimputation | None = None,
    ):
        self.workers = workers or os.cpu_count() or 1
        self.reimpute = reimpute
        self.cap = np.asarray(capability_matrix, dtype=float)
        self.n = self.cap.shape[0]
        self.comparisons = comparisons
        self.method = method
        # Ranks are half-integers and weights integers: below ~160 models every sum of the statistic is
        # exact in float32, which halves the memory traffic of the hot loop without changing a bit.
        self.dtype = np.float32 if self.n <= 160 else np.float64
        fixed = [k for k, c in enumerate(comparisons) if c.x is not None]
        drops = sorted({c.drop_input for c in comparisons if c.x is None}, key=lambda d: -1 if d is None else d)
        groups = {d: [k for k, c in enumerate(comparisons) if c.x is None and c.drop_input == d] for d in drops}
        self.order = np.array(fixed + [k for d in drops for k in groups[d]], dtype=int)
        self.fixed = slice(0, len(fixed))
        self.groups, at = {}, len(fixed)
        for d in drops:
            self.groups[d] = slice(at, at + len(groups[d]))
            at += len(groups[d])
        self.fits: dict[int | None, tuple[np.ndarray, np.ndarray, _FixedRanks | None]] = {}
        k = self.cap.shape[1]
        self.compiled = max(len(comparisons), k) * self.n * self.n > _DENSE_LIMIT
        for d in {None, *drops}:
            x = self.cap if d is None else np.delete(self.cap, d, axis=1)
            ok = ~np.isnan(x).any(axis=1)
            x = np.where(ok[:, None], x, 0.0)
            ranks = _FixedRanks(np.where(ok[None, :], x.T, np.nan)) if method == "paper" and not self.compiled else None
            self.fits[d] = (x, ok, ranks)
        masks, ys, xs = [], [], []
        for j in self.order:
            c = comparisons[j]
            y = np.asarray(c.y, dtype=float)
            present_x = self.fits[c.drop_input][1] if c.x is None else ~np.isnan(np.asarray(c.x, dtype=float))
            mask = ~np.isnan(y) & present_x
            masks.append(mask)
            ys.append(np.where(mask, y, np.nan))
            if c.x is not None:
                xs.append(np.where(mask, np.asarray(c.x, dtype=float), np.nan))
        self.masks = np.array(masks, dtype=bool).reshape(len(comparisons), self.n)  # internal order
        if reimpute is not None:
            if self.compiled:
                raise ValueError(
                    f"re-imputing in every resample is not available for {self.n} models and "
                    f"{len(comparisons)} comparisons (above the dense kernels' size); set "
                    f'bootstrap_imputation = "once" for this analysis'
                )
            if reimpute.observed.shape != self.cap.shape:
                raise ValueError(
                    f"observed inputs {reimpute.observed.shape} do not match the imputed matrix {self.cap.shape}"
                )
            # an imputed row is complete: every refit (leave-one-out too) is over the same models
            ok_full = self.fits[None][1]
            assert all(np.array_equal(ok, ok_full) for _, ok, _ in self.fits.values())
        if self.compiled:
            self._kernel_args, self.relabel = self._compile_inputs(np.array(ys).reshape(len(comparisons), self.n), xs)
            return
        # Two models with identical capability inputs always tie in the score; otherwise scores tie only
        # between copies of one model, and the score side's sum of squares needs no ranks. Re-imputed inputs
        # can meet (clipped to a bound): their score ties are counted from the ranks.
        self.distinct_scores = reimpute is None and all(
            np.unique(x[ok], axis=0).shape[0] == ok.sum() for x, ok, _ in self.fits.values()
        )
        x, ok, ranks = self.fits[None]
        # PC1 of the original sample: the start of every resample's power iteration
        self.pc1 = _top_eigenvectors(_fit_matrices(x, ok, np.ones((1, self.n)), method, ranks).corr)[0]
        self.mask_matrix = self.masks.T.astype(float)  # (n, C)
        self.y_ranks = _FixedRanks(np.array(ys).reshape(len(comparisons), self.n), self.dtype)
        self.x_ranks = _FixedRanks(np.array(xs).reshape(len(xs), self.n), self.dtype) if xs else None
        dense_dynamic = self.n * self.n if any(map(self._dense_variant, self.groups.values())) else 0
        per_resample = max(self.n * len(comparisons), dense_dynamic) * np.dtype(self.dtype).itemsize
        self.chunk = max(1, _CHUNK_BYTES // per_resample)

    def _compile_inputs(self, ys: np.ndarray, xs: list[np.ndarray]) -> tuple[tuple, np.ndarray]:
        """Arrays for :func:`assets.stats._compiled.replicate`: capabilities units (the full fit, and each
        leave-one-out refit whose models differ from it), score variants, sorted comparison columns; and
        the kernel's numbering of the models (``relabel[new] = original``), which weights follow too."""
        k = self.cap.shape[1]
        x_full, ok_full, _ = self.fits[None]
        units = [(ok_full, list(range(k)))]
        variants = [(0, -1)]
        variant_of: dict[int | None, int] = {None: 0}
        for d in self.groups:
            if d is None:
                continue
            ok = self.fits[d][1]
            if np.array_equal(ok, ok_full):
                variants.append((0, d))
            else:
                units.append((ok, [c for c in range(k) if c != d]))
                variants.append((len(units) - 1, -1))
            variant_of[d] = len(variants) - 1
        x = np.where(np.isnan(self.cap), 0.0, self.cap)
        U, n = len(units), self.n
        unit_cols = np.full((U, k), -1, dtype=np.int64)
        unit_k = np.array([len(cols) for _, cols in units], dtype=np.int64)
        unit_ok = np.array([ok for ok, _ in units], dtype=bool)
        unit_len = unit_ok.sum(axis=1).astype(np.int64)
        # model indices as int32: the kernel streams these orders once per resample, at half the bytes
        rank_order = np.zeros((U, k, n), dtype=np.int32)
        rank_end = np.zeros((U, k, n), dtype=np.int32)
        scale = np.ones((U, k))
        starts = np.zeros((U, k))
        sorted_columns = _SortedColumns()

        def original_fit(ok: np.ndarray, cols: list[int]):
            try:
                return fit_capabilities(x[np.ix_(ok, cols)], method=self.method)
            except ValueError:  # a degenerate original fit
                return None

        unit_fits = [original_fit(ok, cols) for ok, cols in units]
        for u, (ok, cols) in enumerate(units):
            unit_cols[u, : len(cols)] = cols
            present = np.flatnonzero(ok)
            for a, col in enumerate(cols):
                rank_order[u, a, : present.size], rank_end[u, a, : present.size] = sorted_columns(x[:, col], present)
                scale[u, a] = max(np.abs(x[present, col]).max(initial=0.0), 1.0)
            # resamples start from the sample's loadings (from the uniform direction if that fit is degenerate)
            starts[u, : len(cols)] = 1.0 / np.sqrt(len(cols)) if unit_fits[u] is None else unit_fits[u].loadings
        guesses = np.full((len(variants), n), -1, dtype=np.int32)
        for v, (u, d) in enumerate(variants):
            ok, cols = units[u]
            present = np.flatnonzero(ok)
            fit = unit_fits[u] if d < 0 else original_fit(ok, [c for c in cols if c != d])
            score = np.zeros(present.size) if fit is None else fit.scores
            guesses[v, : present.size] = present[np.argsort(score, kind="stable")]
        C = len(self.comparisons)
        cmp_variant = np.full(C, -1, dtype=np.int64)
        y_order, y_end = np.zeros((C, n), dtype=np.int32), np.zeros((C, n), dtype=np.int32)
        x_order, x_end = np.zeros((C, n), dtype=np.int32), np.zeros((C, n), dtype=np.int32)
        y_len = self.masks.sum(axis=1).astype(np.int64)
        x_len = np.zeros(C, dtype=np.int64)
        fixed = iter(xs)
        for at, j in enumerate(self.order):
            c = self.comparisons[j]
            present = np.flatnonzero(self.masks[at])
            y_order[at, : present.size], y_end[at, : present.size] = sorted_columns(ys[at], present)
            if c.x is None:
                cmp_variant[at] = variant_of[c.drop_input]
            else:
                x_order[at, : present.size], x_end[at, : present.size] = sorted_columns(next(fixed), present)
                x_len[at] = present.size
        var_unit = np.array([u for u, _ in variants], dtype=np.int64)
        var_drop = np.array([d for _, d in variants], dtype=np.int64)
        # a comparison over every model of its variant's unit needs no mask in its walk
        cmp_masked = np.array(
            [v >= 0 and not np.array_equal(self.masks[at], unit_ok[var_unit[v]]) for at, v in enumerate(cmp_variant)],
            dtype=bool,
        )
        # The kernel numbers the models in the order of the sample's capabilities score: its walks in score
        # order, and in any column that tracks the score, then read memory nearly front to back.
        relabel = np.concatenate([guesses[0, : unit_len[0]], np.flatnonzero(~unit_ok[0])])
        new_index = np.empty(n + 1, dtype=np.int32)
        new_index[relabel] = np.arange(n)
        new_index[n] = -1  # guesses' padding (-1) stays -1
        args = (
            x[relabel],
            ("paper", "sklearn", "obsscaling").index(self.method),
            unit_k,
            unit_cols,
            np.ascontiguousarray(unit_ok[:, relabel]),  # one layout, one compiled signature
            unit_len,
            new_index[rank_order],
            rank_end,
            _tied(rank_end, unit_len[:, None]),
            scale,
            starts,
            new_index[guesses],
            var_unit,
            var_drop,
            cmp_variant,
            np.ascontiguousarray(self.masks[:, relabel]),
            cmp_masked,
            new_index[y_order],
            y_end,
            y_len,
            _tied(y_end, y_len),
            new_index[x_order],
            x_end,
            x_len,
            _tied(x_end, x_len),
        )
        return args, relabel

    def _dense_variant(self, part: slice) -> bool:
        """Rank a score variant's comparisons with the O(n^2) comparison matrix (else by sorting)?"""
        return part.stop - part.start >= self.n

    @property
    def n_models(self) -> np.ndarray:
        """Models with both values, per comparison (original order)."""
        out = np.empty(len(self.comparisons), dtype=int)
        out[self.order] = self.masks.sum(axis=1)
        return out

    def scores(self, w: np.ndarray, imputed: tuple | None = None) -> dict[int | None, tuple[np.ndarray, np.ndarray]]:
        """Refitted scores per variant: {drop_input: (scores (b, n), valid (b,))}. ``imputed``: the resamples'
        re-imputation if already made (see :class:`~assets.stats.imputation.Reimputation`)."""
        x, ok, ranks = self.fits[None]
        if self.reimpute is None:
            full = _fit_matrices(x, ok, w, self.method, ranks)
        else:
            x, _, imputable = imputed if imputed is not None else self.reimpute(w)
            rows = np.flatnonzero(ok)  # the fit over the imputed models only, scattered back
            part = _fit_matrices(x[:, rows], np.ones(rows.size, dtype=bool), w[:, rows], self.method, None)
            z = np.zeros((w.shape[0], self.n, x.shape[-1]))
            z[:, rows] = part.z
            full = _Fit(z=z, corr=part.corr, valid=part.valid & imputable)
        pc = _top_eigenvectors(full.corr, start=np.broadcast_to(self.pc1, (w.shape[0], self.pc1.size)))
        out = {None: (np.einsum("bnk,bk->bn", full.z, pc), full.valid)}
        shared = [d for d in self.groups if d is not None and np.array_equal(self.fits[d][1], ok)]
        if shared:
            # all leave-one-out refits that share the full fit's models: one batched power iteration
            k = self.cap.shape[1]
            keep = np.array([np.delete(np.arange(k), d) for d in shared])  # (L, k-1)
            corr = full.corr[:, keep[:, :, None], keep[:, None, :]]  # (b, L, k-1, k-1)
            pcs = _top_eigenvectors(corr, start=pc[:, keep])  # (b, L, k-1)
            loo = np.einsum("bnlk,blk->bln", full.z[:, :, keep], pcs)
            for i, d in enumerate(shared):
                out[d] = (loo[:, i], full.valid)
        for d in self.groups:
            if d is not None and d not in out:
                fit = _fit_matrices(*self.fits[d][:2], w, self.method, self.fits[d][2])
                out[d] = (np.einsum("bnk,bk->bn", fit.z, _top_eigenvectors(fit.corr)), fit.valid)
        return out

    def __call__(self, w: np.ndarray) -> np.ndarray:
        """Statistics of every comparison under weights ``w`` (b, n): array (C, b), NaN = degenerate."""
        w = np.atleast_2d(np.asarray(w, dtype=float))
        out = np.empty((len(self.comparisons), w.shape[0]))
        if self.compiled:
            import numba

            from . import _compiled

            threads = numba.get_num_threads()
            numba.set_num_threads(min(self.workers, numba.config.NUMBA_NUM_THREADS))
            try:
                weights = np.ascontiguousarray(w[:, self.relabel], dtype=_compiled.storage_dtype(self.n))
                out[self.order] = _compiled.replicate(numba.get_num_threads(), weights, *self._kernel_args)
            finally:
                numba.set_num_threads(threads)
            return out

        block = _REIMPUTE_BLOCK if self.reimpute is not None else max(w.shape[0], 1)
        for at in range(0, w.shape[0], block):
            wb = w[at : at + block]
            # the resamples' imputations in one call of the compiled kernel, on every core (numba's threads
            # are not to be entered from the chunks' threads at once)
            imputed = None if self.reimpute is None else self.reimpute(wb)

            def run(lo: int) -> None:
                hi = min(lo + self.chunk, wb.shape[0])
                part = None if imputed is None else tuple(a[lo:hi] for a in imputed)
                out[self.order, at + lo : at + hi] = self._chunk(wb[lo:hi], part).T

            starts = range(0, wb.shape[0], self.chunk)
            if self.workers > 1 and len(starts) > 1:
                # numpy releases the GIL in its kernels: chunks on threads use every core, same numbers
                # (BLAS is held to one thread per chunk so that the two levels do not oversubscribe)
                with ThreadPoolExecutor(self.workers) as pool, threadpool_limits(1, user_api="blas"):
                    list(pool.map(run, starts))
            else:
                for lo in starts:
                    run(lo)
        return out

    def _chunk(self, w: np.ndarray, imputed: tuple | None = None) -> np.ndarray:
        ry = self.y_ranks(w)  # (b, n, C)
        rx = np.empty_like(ry)
        valid = np.ones((w.shape[0], len(self.comparisons)), dtype=bool)
        if self.x_ranks is not None:
            rx[:, :, self.fixed] = self.x_ranks(w)
        if self.groups:
            scores = self.scores(w, imputed)
            few = []  # variants with fewer comparisons than models: ranked together, by sorting
            for d, part in self.groups.items():
                s, ok = scores[d]
                valid[:, part] &= ok[:, None]
                if self._dense_variant(part):
                    rx[:, :, part] = _dynamic_ranks(s, w, self.masks[part], self.dtype)
                else:
                    few.append(d)
            if few:
                parts = [self.groups[d] for d in few]
                index = np.concatenate([np.arange(p.start, p.stop) for p in parts])
                variant = np.concatenate([np.full(p.stop - p.start, i) for i, p in enumerate(parts)])
                stacked = np.stack([scores[d][0] for d in few], axis=1)
                rx[:, :, index] = _dynamic_ranks_sorted(stacked, variant, w, self.masks[index], self.dtype)
        total = w @ self.mask_matrix
        distinct = (w > 0).astype(float) @ self.mask_matrix
        x_ties = None
        if self.distinct_scores:
            # scores tie only between copies of one model: their tie groups are the multiplicities
            x_ties = (w * w * w - w) @ self.mask_matrix
            if self.x_ranks is not None:
                x_ties[:, self.fixed] = self.x_ranks.tie_correction(w)
        rho = _weighted_spearman(rx, ry, x_ties, self.y_ranks.tie_correction(w), w, total, distinct)
        return np.where(valid, rho, np.nan)


# ---------------------------------------------------------------------------------------- intervals


def permutation_pvalues(replicator: Replicator, n_permutations: int, seed: int) -> np.ndarray:
    """Two-sided permutation p-value of each comparison's point estimate against "no correlation".

    The benchmark column is permuted among the ``m`` models with both values while the comparator
    (the score fitted on the original sample, or a fixed column) stays fixed:
    ``p = (1 + #{|r*| >= |r|}) / (1 + n_permutations)``. Permutations of all ``n`` models are drawn in
    blocks of :data:`BLOCK`, block ``i`` from ``default_rng([seed, 1, i])``; a comparison over ``m``
    models uses the entries below ``m`` of each, in order, which is a uniform permutation of ``m``. One
    draw serves every comparison, memory stays at :data:`_PERM_ROWS` permutations, and the counting loop is
    compiled (:func:`assets.stats._compiled.permutation_hits`).
    """
    from scipy.stats import rankdata

    from . import _compiled

    n = replicator.n
    cache: dict[int | None, np.ndarray] = {}
    groups: dict[tuple, list[int]] = {}
    comparators: dict[tuple, np.ndarray] = {}
    masks = np.empty_like(replicator.masks)
    masks[replicator.order] = replicator.masks
    for k, c in enumerate(replicator.comparisons):
        if masks[k].sum() < MIN_MODELS:
            continue
        if c.x is None:
            if c.drop_input not in cache:
                cache[c.drop_input] = comparator_values(replicator.cap, c, replicator.method)
            x = cache[c.drop_input]
        else:
            x = np.asarray(c.x, dtype=float)
        key = (masks[k].tobytes(), x[masks[k]].tobytes())
        groups.setdefault(key, []).append(k)
        comparators[key] = x[masks[k]]
    out = np.full(len(replicator.comparisons), np.nan)
    if not groups:
        return out
    keys = list(groups)
    group_m = np.array([int(masks[groups[key][0]].sum()) for key in keys], dtype=np.int64)
    rx = np.zeros((len(keys), n))
    members, member_group, ry = [], [], []
    for g, key in enumerate(keys):
        m = group_m[g]
        rx[g, :m] = rankdata(comparators[key]) - (m + 1) / 2.0
        for k in groups[key]:
            r = np.zeros(n)
            r[:m] = rankdata(np.asarray(replicator.comparisons[k].y, dtype=float)[masks[k]]) - (m + 1) / 2.0
            members.append(k)
            member_group.append(g)
            ry.append(r)
    ry = np.array(ry)
    member_group = np.array(member_group, dtype=np.int64)
    group_start = np.searchsorted(member_group, np.arange(len(keys) + 1)).astype(np.int64)
    # each group's members' ranks as one block, model by model: (m, members) in order
    blocks = [ry[group_start[g] : group_start[g + 1], : group_m[g]].T.ravel() for g in range(len(keys))]
    ry_at = np.concatenate([[0], np.cumsum([b.size for b in blocks])[:-1]]).astype(np.int64)
    ry_blocks = np.concatenate(blocks)
    denom = np.sqrt((ry * ry).sum(axis=1) * (rx[member_group] ** 2).sum(axis=1))
    observed = np.abs((ry * rx[member_group]).sum(axis=1))
    threshold = observed - 1e-12 * denom
    hits = np.zeros(len(members), dtype=np.int64)
    identity = np.arange(n, dtype=np.int32)
    # int32 entries: the same permutations as int64 ones, at half the memory and a third of the time
    perms = np.empty((min(_PERM_ROWS, n_permutations), n), dtype=np.int32)
    for block in range(-(-n_permutations // BLOCK)):
        rng = np.random.default_rng([seed, 1, block])
        stop = min(BLOCK, n_permutations - block * BLOCK)
        for lo in range(0, stop, _PERM_ROWS):
            rows = perms[: min(_PERM_ROWS, stop - lo)]
            for row in rows:  # row by row from one generator: the draws of ``rng.permuted`` along axis 1
                row[:] = identity
                rng.shuffle(row)
            hits += _compiled.permutation_hits(rows, group_m, group_start, rx, ry_blocks, ry_at, threshold)
    out[members] = np.where(denom > 0, (1 + hits) / (1 + n_permutations), np.nan)
    return out


def confidence_interval(
    theta_hat: float, theta_b: np.ndarray, theta_jack: np.ndarray | None, confidence_level: float, method: str
) -> tuple[float, float, str]:
    """Percentile or BCa interval from valid bootstrap replicates, as ``scipy.stats.bootstrap`` does.

    Returns ``(low, high, method_used)``; BCa falls back to percentile when its jackknife or bias
    correction is undefined (a degenerate leave-one-out statistic, all replicates on one side).
    """
    if method not in CI_METHODS:
        raise ValueError(f"unknown interval method {method!r}; expected one of {CI_METHODS}")
    alpha = (1.0 - confidence_level) / 2.0
    probs = np.array([alpha, 1.0 - alpha])
    used = "percentile"
    if method == "bca" and theta_jack is not None and np.isfinite(theta_jack).all():
        b = theta_b.size
        z0 = ndtri((np.count_nonzero(theta_b < theta_hat) + np.count_nonzero(theta_b <= theta_hat)) / (2.0 * b))
        dev = theta_jack.mean() - theta_jack
        den = (dev**2).sum() ** 1.5
        if np.isfinite(z0) and den > 0:
            a_hat = (dev**3).sum() / (6.0 * den)
            z = ndtri(probs)
            probs = ndtr(z0 + (z0 + z) / (1.0 - a_hat * (z0 + z)))
            used = "bca"
    low, high = np.quantile(theta_b, probs)
    return float(low), float(high), used


def bootstrap_table(
    replicator: Replicator,
    theta_b: np.ndarray,
    *,
    n_resamples: int,
    seed: int,
    confidence_level: float = 0.95,
    method: str = "bca",
    n_permutations: int | None = None,
) -> pl.DataFrame:
    """Summarise bootstrap replicates ``theta_b`` (C, B) of ``replicator``'s comparisons.

    Returns
    -------
    polars.DataFrame
        ``benchmark, versus, n_models, spearman, ci_low, ci_high, se, p_value, ci_method,
        confidence_level, n_resamples, n_degenerate, seed``. ``n_degenerate`` counts the resamples
        excluded because the statistic was undefined in them (fewer than 3 distinct models, a
        constant column, a degenerate capabilities fit); intervals use the others.
    """
    theta_hat = replicator(np.ones((1, replicator.n)))[:, 0]
    jack = replicator(jackknife_weights(replicator.n)) if method == "bca" else None
    pvalues = permutation_pvalues(replicator, n_permutations or n_resamples, seed)
    n_models = replicator.n_models
    rows = []
    for k, c in enumerate(replicator.comparisons):
        finite = theta_b[k][np.isfinite(theta_b[k])]
        row = {
            "benchmark": c.benchmark,
            "versus": c.versus,
            "n_models": int(n_models[k]),
            "spearman": None if np.isnan(theta_hat[k]) else float(theta_hat[k]),
            "ci_low": None,
            "ci_high": None,
            "se": None,
            "p_value": None if np.isnan(pvalues[k]) else float(pvalues[k]),
            "ci_method": None,
            "confidence_level": confidence_level,
            "n_resamples": n_resamples,
            "n_degenerate": int(theta_b.shape[1] - finite.size),
            "seed": seed,
        }
        if not np.isnan(theta_hat[k]) and finite.size >= 2:
            low, high, used = confidence_interval(
                theta_hat[k], finite, None if jack is None else jack[k], confidence_level, method
            )
            row.update(ci_low=low, ci_high=high, se=float(finite.std(ddof=1)), ci_method=used)
        rows.append(row)
    return pl.DataFrame(
        rows,
        schema={
            "benchmark": pl.String,
            "versus": pl.String,
            "n_models": pl.Int64,
            "spearman": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "se": pl.Float64,
            "p_value": pl.Float64,
            "ci_method": pl.String,
            "confidence_level": pl.Float64,
            "n_resamples": pl.Int64,
            "n_degenerate": pl.Int64,
            "seed": pl.Int64,
        },
    )


JACKKNIFE_LIMIT = 2_000
"""BCa's jackknife is ``n`` refits: above this many models the interval is percentile (each row says which)."""


def correlation_table(
    replicator: Replicator,
    theta_b: np.ndarray,
    *,
    n_resamples: int,
    seed: int,
    confidence_level: float = 0.95,
    method: str = "bca",
) -> pl.DataFrame:
    """Point estimates (with the ``note`` of an undefined one) beside their intervals, standard errors and
    p-values: ``benchmark, versus, n_models, spearman, note`` then :func:`bootstrap_table`'s other columns.
    ``method='bca'`` becomes percentile above :data:`JACKKNIFE_LIMIT` models."""
    from .correlation import correlations

    if replicator.n > JACKKNIFE_LIMIT:
        method = "percentile"
    intervals = bootstrap_table(
        replicator, theta_b, n_resamples=n_resamples, seed=seed, confidence_level=confidence_level, method=method
    )
    points = correlations(replicator.cap, replicator.comparisons, method=replicator.method)
    return pl.concat([points, intervals.drop("benchmark", "versus", "n_models", "spearman")], how="horizontal")


def bootstrap_correlations(
    capability_matrix: np.ndarray,
    comparisons: list[Comparison],
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
    confidence_level: float = 0.95,
    method: str = "bca",
    capabilities_method: Method = "paper",
) -> pl.DataFrame:
    """Point estimates, bootstrap intervals, standard errors and permutation p-values in one call.

    Parameters
    ----------
    capability_matrix : ndarray, shape (n_models, n_inputs)
    comparisons : list of Comparison
    n_resamples : int
        Bootstrap resamples ``B`` (also the number of permutations).
    seed : int
        Same seed, same numbers, bit for bit.
    confidence_level : float
    method : {'bca', 'percentile'}
    capabilities_method : {'paper', 'sklearn'}

    Returns
    -------
    polars.DataFrame
        See :func:`bootstrap_table`.
    """
    replicator = Replicator(capability_matrix, comparisons, capabilities_method)
    theta_b = replicator(resample_weights(replicator.n, seed, 0, n_resamples))
    return bootstrap_table(
        replicator, theta_b, n_resamples=n_resamples, seed=seed, confidence_level=confidence_level, method=method
    )
