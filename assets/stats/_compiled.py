"""Compiled (numba) kernels of the bootstrap for large model sets.

At thousands of models the dense kernels of :mod:`assets.stats.bootstrap` (an O(n^2) comparison matrix
per column) no longer fit, and numpy's whole-array passes over (resamples × models × comparisons) cost
more memory traffic than the arithmetic. These loops do the same sums one resample at a time, walking
each column in its sorted order once:

- the weighted average rank of a model is the weight of the models below it plus half the weight of its
  tie group (``rank - 1/2 = below + group / 2``), so a column's ranks under any weights are one pass in
  the column's original sort order (a refitted score is sorted once per resample, over the models
  drawn);
- a capabilities refit is the weighted mean and deviation of each input, the weighted covariance of
  the inputs' centred ranks (or z-scores) and the top eigenvector of its correlation matrix by power
  iteration from the original sample's (``numpy.linalg.eigh`` when it does not settle);
- a resample's Spearman correlation is the weighted Pearson correlation of the centred ranks.

Resamples are independent (``prange`` over threads, each with buffers it allocates once): the numbers do
not depend on the thread count. Memory is O(models × inputs) per thread beside the inputs. Compiled on
first use and cached next to this file.

Past 10,000 models the per-model arrays leave the core's cache, and memory, not arithmetic, sets the
cost. The layout keeps the walks short and in order: the caller numbers the models in the order of the
sample's capabilities score (a refitted score's order, and any column that tracks it, then read memory
nearly front to back); weights and ranks are stored in float32 (exact: integers and half-integers) with
each model's weight beside its rank; model indices are int32; columns without ties skip their tie
bounds, and a refitted score's tie bounds are found once per resample, not by every comparison that
ranks against it; a thread's resamples read the capability inputs (``x``, the largest array) in batches
of :data:`_BATCH`; a refitted score is sorted by buckets of its range before insertion, so that sorting
stays linear in the models. The sums themselves are float64, in the same order as before: the numbers
did not change.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit, prange

MIN_MODELS = 3
_POWER_TOL = 1e-10
_POWER_MAX_ITER = 200
_FLOAT32_MODELS = 2**22
_Work = namedtuple("_Work", "wr packed z weights scratch drawn spill")
"""A thread's buffers, reused by every resample it computes. ``wr`` (models, 2): the resample's weight and
the ranks of the column at hand side by side, so that a walk in a column's order reads one cache line per
model rather than two; ``packed``, ``z`` (inputs, models); the others (models,)."""


def storage_dtype(n: int) -> type:
    """How :func:`replicate` stores multiplicities and ranks for ``n`` models: float32 while they are
    exact in it (integers and half-integers up to ``n``), which halves the memory its random reads walk;
    the sums stay float64."""
    return np.float32 if n <= _FLOAT32_MODELS else np.float64


@njit(cache=True)
def _orient(v):
    lead = 0
    for j in range(v.size):
        if abs(v[j]) > abs(v[lead]):
            lead = j
    if v[lead] < 0:
        for j in range(v.size):
            v[j] = -v[j]


@njit(cache=True)
def _dot(a, b):
    """``a · b`` summed in four interleaved lanes, in a fixed order: the same bits on any machine and any
    number of threads (BLAS's ``ddot`` splits long vectors by its thread count, and its spinning threads
    starve a core shared with another worker)."""
    n = a.size
    s0 = s1 = s2 = s3 = 0.0
    top = n - n % 4
    for t in range(0, top, 4):
        s0 += a[t] * b[t]
        s1 += a[t + 1] * b[t + 1]
        s2 += a[t + 2] * b[t + 2]
        s3 += a[t + 3] * b[t + 3]
    for t in range(top, n):
        s0 += a[t] * b[t]
    return (s0 + s1) + (s2 + s3)


@njit(cache=True)
def _top_eigenvector(m, start):
    """Top eigenvector of the symmetric matrix ``m`` by power iteration from ``start``, signed."""
    k = m.shape[0]
    v = start / np.sqrt(np.sum(start * start))
    settled = False
    for it in range(_POWER_MAX_ITER):
        u = np.empty(k)
        for a in range(k):
            u[a] = _dot(m[a], v)
        norm = np.sqrt(np.sum(u * u))
        if norm == 0.0:
            break
        u /= norm
        if it >= 8 and np.max(np.abs(u - v)) <= _POWER_TOL:
            v = u
            settled = True
            break
        v = u
    if not settled:
        v = np.linalg.eigh(m)[1][:, k - 1].copy()
    _orient(v)
    return v


@njit(cache=True)
def _ranks_fixed(order, end, length, w, out, tied=True):
    """``rank - 1/2`` under weights ``w`` of the models ``order[:length]`` (sorted; ``end[p]``: one past
    the last position of the tie group at ``p``) into ``out``.

    Returns ``(total weight, models drawn, sum w (rank - 1/2)^2)``. Half-integer ranks times integer
    weights: every sum here is exact in float64, so centring afterwards (``- total^3 / 4``) loses nothing.
    ``tied`` False: the column has no ties, and ``end`` is not read (one stream less per pass).
    """
    below = 0.0
    ss = 0.0
    drawn = 0
    p = 0
    while p < length:
        q = end[p] if tied else p + 1
        if q == p + 1:  # no branch on the weight: a model not drawn adds zeros
            i = order[p]
            wi = w[i]
            r = below + wi / 2.0
            out[i] = r
            ss += wi * r * r
            below += wi
            drawn += wi > 0
            p = q
            continue
        group = 0.0
        for t in range(p, q):
            group += w[order[t]]
        r = below + group / 2.0
        for t in range(p, q):
            i = order[t]
            out[i] = r
            ss += w[i] * r * r
            drawn += w[i] > 0
        below += group
        p = q
    return below, drawn, ss


@njit(cache=True)
def _cross_sorted(order, end, length, w, ry, tied, mask, masked):
    """(sum w rx ry, sum w rx^2) with ``rx`` the ranks (``- 1/2``) of the sorted models ``order[:length]``
    (``end``, ``tied``: as in :func:`_ranks_fixed`). ``masked``: only the models ``mask`` keeps count (the
    others weigh zero); False: every model of ``order`` counts, and ``mask`` is not read."""
    below = 0.0
    sxy = 0.0
    sxx = 0.0
    p = 0
    while p < length:
        q = end[p] if tied else p + 1
        if q == p + 1:
            i = order[p]
            wi = w[i] * mask[i] if masked else w[i]
            r = below + wi / 2.0
            sxy += wi * r * ry[i]
            sxx += wi * r * r
            below += wi
            p = q
            continue
        group = 0.0
        for t in range(p, q):
            j = order[t]
            if not masked or mask[j]:
                group += w[j]
        r = below + group / 2.0
        for t in range(p, q):
            j = order[t]
            if not masked or mask[j]:
                sxy += w[j] * r * ry[j]
                sxx += w[j] * r * r
        below += group
        p = q
    return sxy, sxx


@njit(cache=True)
def _sort_near(idx, length, scores, spill):
    """Sort ``idx[:length]`` by ``scores``, given in the original sample's score order, which a refitted
    score barely changes. Equal scores may come in any order: ranks group them by value.

    First a counting sort into ``length / 2`` buckets of equal width over the scores' range (monotone in the
    score; nearly in order, so read and written almost front to back), then insertion sort, which moves
    each model within its bucket: linear in the models, where insertion alone moves each model by a
    number of places that grows with them. ``numpy.argsort`` takes over once insertion moves too much (a
    range where the scores crowd). ``spill``: room for ``length`` indices.
    """
    if length < 2:
        return
    lo = hi = scores[idx[0]]
    for p in range(length):
        value = scores[idx[p]]
        if not value == value:  # NaN: no range to bucket over
            hi = lo
            break
        lo = min(lo, value)
        hi = max(hi, value)
    buckets = length // 2
    scale = buckets / (hi - lo) if hi > lo else 0.0
    if 0.0 < scale < np.inf:
        start = np.zeros(buckets + 1, dtype=np.int32)
        for p in range(length):
            start[min(int((scores[idx[p]] - lo) * scale), buckets - 1) + 1] += 1
        for b in range(buckets):
            start[b + 1] += start[b]
        for p in range(length):
            b = min(int((scores[idx[p]] - lo) * scale), buckets - 1)
            spill[start[b]] = idx[p]
            start[b] += 1
        idx[:length] = spill[:length]
    moves = 0
    limit = 32 * length
    for p in range(1, length):
        i = idx[p]
        value = scores[i]
        q = p - 1
        while q >= 0 and scores[idx[q]] > value:
            idx[q + 1] = idx[q]
            q -= 1
        idx[q + 1] = i
        moves += p - 1 - q
        if moves > limit:
            order = np.argsort(scores[idx[:length]])
            idx[:length] = idx[:length][order]
            return


@njit(cache=True)
def _tie_ends(idx, length, scores, end):
    """Tie bounds of ``idx[:length]``, sorted by ``scores``, into ``end`` (as in :func:`_ranks_fixed`);
    returns whether any two scores tie."""
    tied = False
    p = 0
    while p < length:
        value = scores[idx[p]]
        q = p + 1
        while q < length and scores[idx[q]] == value:
            q += 1
        for t in range(p, q):
            end[t] = q
        tied |= q > p + 1
        p = q
    return tied


@njit(cache=True)
def _gram(packed, weights, out, scratch):
    """``out[a, b] = sum_t weights[t] packed[a, t] packed[b, t]`` for ``b >= a`` (sums in float64);
    ``scratch``: room for one weighted row."""
    k, m = packed.shape
    wa = scratch[:m]
    for a in range(k):
        row = packed[a]
        for t in range(m):
            wa[t] = row[t] * weights[t]
        for b in range(a, k):
            out[a, b] = _dot(wa, packed[b])


@njit(cache=True)
def _weighted_sums(Wb, x, cols, ok, centre, square, out):
    """``out[j, a] += sum_i Wb[j, i] d`` over the models ``ok`` drawn in row ``j``, in model order, with
    ``d = x[i, cols[a]] - centre[j, a]`` (squared when ``square``): one pass over ``x`` for every row."""
    R, n = Wb.shape
    for i in range(n):
        if not ok[i]:
            continue
        for j in range(R):
            wi = Wb[j, i]
            if wi > 0:
                for a in range(cols.size):
                    d = x[i, cols[a]] - centre[j, a]
                    out[j, a] += wi * d * d if square else wi * d


@njit(cache=True)
def _moments(u, Wb, x, unit_k, unit_cols, unit_ok, scale, mean, sd, total):
    """Weighted mean and deviation of unit ``u``'s inputs over its models drawn under each row ``j`` of
    ``Wb``: ``mean[j, u]``, ``sd[j, u]``, ``total[j, u]`` (the weight drawn); returns each row's validity
    (enough models, every input varying).

    The rows are a batch of resamples that read ``x`` together, model by model (a model's inputs are
    adjacent): two passes over ``x`` for the batch, and each sum still runs in model order."""
    R, n = Wb.shape
    k = unit_k[u]
    cols = unit_cols[u, :k]
    ok = unit_ok[u]
    valid = np.empty(R, dtype=np.bool_)
    for j in range(R):
        drawn = 0
        for i in range(n):
            if ok[i] and Wb[j, i] > 0:
                total[j, u] += Wb[j, i]
                drawn += 1
        valid[j] = drawn >= MIN_MODELS
    sums = np.zeros((R, k))
    _weighted_sums(Wb, x, cols, ok, np.zeros((R, k)), False, sums)
    for j in range(R):
        for a in range(k):
            mean[j, u, a] = sums[j, a] / total[j, u] if total[j, u] > 0 else 0.0
    dev = np.zeros((R, k))
    _weighted_sums(Wb, x, cols, ok, mean[:, u, :k], True, dev)
    for j in range(R):
        for a in range(k):
            v = dev[j, a] / total[j, u] if total[j, u] > 0 else 0.0
            if not v > (1e-12 * scale[u, a]) ** 2:
                valid[j] = False
            sd[j, u, a] = np.sqrt(v) if v > 0 else 1.0
    return valid


@njit(cache=True)
def _fit_unit(
    u, w, x, mode, unit_k, unit_cols, unit_len, rank_order, rank_end, rank_tied, drawn, total, mean, sd, corr, work
):
    """Weighted fit of capabilities unit ``u`` over its ``drawn`` models (of total weight ``total``; ``mean``,
    ``sd`` from :func:`_moments`): fills ``corr[u]``. ``work``: the thread's :class:`_Work`. ``mode`` 0
    (paper): correlation of centred ranks; 1 (sklearn): correlation of z-scores; 2 (obsscaling): covariance
    of the centred inputs, scored unscaled (``sd`` set to 1)."""
    k = unit_k[u]
    m = drawn.size
    cols = unit_cols[u, :k]
    weights = work.weights[:m]
    for t in range(m):
        weights[t] = w[drawn[t]]
    if mode == 0:
        half = total / 2.0
        packed = work.packed[:k, :m]  # centred ranks: exact in the storage type
        wr = work.wr
        for a in range(k):
            _ranks_fixed(rank_order[u, a], rank_end[u, a], unit_len[u], wr[:, 0], wr[:, 1], rank_tied[u, a])
            for t in range(m):
                packed[a, t] = wr[drawn[t], 1] - half
        _gram(packed, weights, corr[u], work.scratch)
    else:
        if mode == 2:
            sd[u, :k] = 1.0
        z = work.z[:k, :m]
        for t in range(m):
            i = drawn[t]
            for a in range(k):
                z[a, t] = (x[i, cols[a]] - mean[u, a]) / sd[u, a]
        _gram(z, weights, corr[u], work.scratch)
    for a in range(k):
        for b in range(a + 1, k):
            value = corr[u, a, b] if mode == 2 else corr[u, a, b] / np.sqrt(corr[u, a, a] * corr[u, b, b])
            corr[u, a, b] = value
            corr[u, b, a] = value
    if mode != 2:
        for a in range(k):
            corr[u, a, a] = 1.0
    else:
        corr[u, :k, :k] /= total


_BATCH = 4
"""Resamples a thread takes through the passes over ``x`` together (the moments and the scores): at 100,000
models of 40 inputs ``x`` is 32 MB, out of cache, and is then read once per batch instead of per resample."""


@njit(cache=True, parallel=True)
def replicate(
    threads,
    W,
    x,
    mode,
    unit_k,
    unit_cols,
    unit_ok,
    unit_len,
    rank_order,
    rank_end,
    rank_tied,
    scale,
    starts,
    guesses,
    var_unit,
    var_drop,
    cmp_variant,
    masks,
    cmp_masked,
    y_order,
    y_end,
    y_len,
    y_tied,
    x_order,
    x_end,
    x_len,
    x_tied,
):
    """Statistic of every comparison under each row of ``W`` (B, n): array (C, B), NaN = undefined.

    ``threads`` (numba's thread count; a parameter, since calling ``numba.get_num_threads`` here would keep
    the function from being cached): each takes the batches of :data:`_BATCH` resamples ``thread, thread +
    threads, ...`` with buffers it allocates once. Every resample's numbers are its own, whatever the split.

    Units are capabilities fits (their models ``unit_ok``, input columns ``unit_cols``); a variant is a
    unit's score (``var_drop`` -1) or the full unit's score without input position ``var_drop`` (a
    leave-one-out refit over the same models, from the full fit's correlation matrix). A comparison
    ranks its benchmark (sorted ``y_order``) against a fixed column (``cmp_variant`` -1) or a variant's
    score, over the models ``masks`` keeps (``cmp_masked`` False: every model of the variant's unit).
    ``guesses[v]``: the models of variant ``v`` in the original sample's score order.
    """
    B, n = W.shape
    C = cmp_variant.size
    V = var_unit.size
    kmax = unit_cols.shape[1]
    out = np.empty((C, B))
    batches = -(-B // _BATCH)
    threads = max(min(threads, batches), 1)
    for thread in prange(threads):
        work = _Work(
            wr=np.zeros((n, 2), dtype=W.dtype),
            packed=np.empty((kmax, n), dtype=W.dtype),
            z=np.empty((kmax if mode != 0 else 0, n)),
            weights=np.empty(n),
            scratch=np.empty(n),
            drawn=np.empty(n, dtype=np.int64),
            spill=np.empty(n, dtype=np.int32),
        )
        scores = np.empty((_BATCH, V, n))
        sorted_idx = np.empty((V, n), dtype=np.int32)
        score_end = np.empty((V, n), dtype=np.int32)  # each variant's tie bounds in its sorted order
        score_tied = np.zeros(V, dtype=np.bool_)
        for batch in range(thread, batches, threads):
            r0 = batch * _BATCH
            _replicate_batch(
                r0,
                W[r0 : min(r0 + _BATCH, B)],
                out,
                work,
                scores,
                sorted_idx,
                score_end,
                score_tied,
                x,
                mode,
                unit_k,
                unit_cols,
                unit_ok,
                unit_len,
                rank_order,
                rank_end,
                rank_tied,
                scale,
                starts,
                guesses,
                var_unit,
                var_drop,
                cmp_variant,
                masks,
                cmp_masked,
                y_order,
                y_end,
                y_len,
                y_tied,
                x_order,
                x_end,
                x_len,
                x_tied,
            )
    return out


@njit(cache=True)
def _replicate_batch(
    r0,
    Wb,
    out,
    work,
    scores,
    sorted_idx,
    score_end,
    score_tied,
    x,
    mode,
    unit_k,
    unit_cols,
    unit_ok,
    unit_len,
    rank_order,
    rank_end,
    rank_tied,
    scale,
    starts,
    guesses,
    var_unit,
    var_drop,
    cmp_variant,
    masks,
    cmp_masked,
    y_order,
    y_end,
    y_len,
    y_tied,
    x_order,
    x_end,
    x_len,
    x_tied,
):
    """Columns ``r0, r0 + 1, ...`` of :func:`replicate`'s output, for the resamples of weights ``Wb``."""
    R, n = Wb.shape
    wr = work.wr
    C = cmp_variant.size
    U = unit_k.size
    V = var_unit.size
    kmax = unit_cols.shape[1]
    mean = np.zeros((R, U, kmax))
    sd = np.ones((R, U, kmax))
    total = np.zeros((R, U))
    unit_valid = np.zeros((R, U), dtype=np.bool_)
    for u in range(U):
        unit_valid[:, u] = _moments(u, Wb, x, unit_k, unit_cols, unit_ok, scale, mean, sd, total)
    corr = np.zeros((R, U, kmax, kmax))
    for j in range(R):
        w = Wb[j]
        wr[:, 0] = w
        for u in range(U):
            if not unit_valid[j, u]:
                corr[j, u, : unit_k[u], : unit_k[u]] = np.eye(unit_k[u])
                continue
            ok = unit_ok[u]
            count = 0
            for i in range(n):
                if ok[i] and w[i] > 0:
                    work.drawn[count] = i
                    count += 1
            _fit_unit(
                u,
                w,
                x,
                mode,
                unit_k,
                unit_cols,
                unit_len,
                rank_order,
                rank_end,
                rank_tied,
                work.drawn[:count],
                total[j, u],
                mean[j],
                sd[j],
                corr[j],
                work,
            )
    coef = np.zeros((R, V, kmax))
    shift = np.zeros((R, V))
    for j in range(R):
        full_pc = np.zeros(kmax)
        for v in range(V):
            u = var_unit[v]
            k = unit_k[u]
            d = var_drop[v]
            cols = _variant_inputs(k, d)
            if d < 0:
                pc = _top_eigenvector(corr[j, u, :k, :k].copy(), starts[u, :k].copy())
                if v == 0:
                    full_pc[:k] = pc
            else:
                sub = np.empty((k - 1, k - 1))
                for a in range(k - 1):
                    for b in range(k - 1):
                        sub[a, b] = corr[j, u, cols[a], cols[b]]
                pc = _top_eigenvector(sub, full_pc[cols].copy())
            for a in range(cols.size):
                coef[j, v, a] = pc[a] / sd[j, u, cols[a]]
                shift[j, v] += mean[j, u, cols[a]] * coef[j, v, a]
    for v in range(V):
        u = var_unit[v]
        inputs = unit_cols[u][_variant_inputs(unit_k[u], var_drop[v])]
        ok = unit_ok[u]
        for i in range(n):  # in model order: ``x`` is read once for the batch, front to back
            if not ok[i]:
                continue
            for j in range(R):
                if Wb[j, i] > 0:
                    s = -shift[j, v]
                    for a in range(inputs.size):
                        s += x[i, inputs[a]] * coef[j, v, a]
                    scores[j, v, i] = s
    sorted_len = np.zeros(V, dtype=np.int64)
    for j in range(R):
        w = Wb[j]
        wr[:, 0] = w
        for v in range(V):
            guess = guesses[v]
            m = 0
            for t in range(guess.size):
                i = guess[t]
                if i < 0:
                    break
                if w[i] > 0:
                    sorted_idx[v, m] = i
                    m += 1
            sorted_len[v] = m
            _sort_near(sorted_idx[v], m, scores[j, v], work.spill)
            score_tied[v] = _tie_ends(sorted_idx[v], m, scores[j, v], score_end[v])
        for c in range(C):
            # the benchmark's ranks land beside the weights; models of other comparisons keep finite old
            # ranks, read only times a zero weight
            tot, drawn_c, syy = _ranks_fixed(y_order[c], y_end[c], y_len[c], wr[:, 0], wr[:, 1], y_tied[c])
            centre = tot * tot * tot / 4.0
            v = cmp_variant[c]
            if v < 0:
                sxy, sxx = _cross_sorted(x_order[c], x_end[c], x_len[c], wr[:, 0], wr[:, 1], x_tied[c], masks[c], False)
                fit_ok = True
            else:
                sxy, sxx = _cross_sorted(
                    sorted_idx[v],
                    score_end[v],
                    sorted_len[v],
                    wr[:, 0],
                    wr[:, 1],
                    score_tied[v],
                    masks[c],
                    cmp_masked[c],
                )
                fit_ok = unit_valid[j, var_unit[v]]
            sxy -= centre
            sxx -= centre
            syy -= centre
            tol = 1e-9 * max(tot, 1.0) ** 2
            if fit_ok and drawn_c >= MIN_MODELS and sxx > tol and syy > tol:
                out[c, r0 + j] = min(max(sxy / np.sqrt(sxx * syy), -1.0), 1.0)
            else:
                out[c, r0 + j] = np.nan


@njit(cache=True)
def _variant_inputs(k, drop):
    """Input positions of a variant: ``0..k-1``, without ``drop`` (when not -1)."""
    if drop < 0:
        return np.arange(k)
    cols = np.empty(k - 1, dtype=np.int64)
    at = 0
    for a in range(k):
        if a != drop:
            cols[at] = a
            at += 1
    return cols


_PERM_BATCH = 8
_PERM_BATCH_MEMBERS = 4


@njit(cache=True, parallel=True)
def permutation_hits(perms, group_m, group_start, rx, ry, ry_at, threshold):
    """Count, per member, the permutations whose |statistic| reaches ``threshold``.

    ``perms`` (P, n) are permutations of ``0..n-1``; the entries below a group's size ``m``, in their
    order, are a uniform permutation of ``0..m-1`` (shared draws, exact for every size): model ``v < m``
    lands at position ``j(v)``, its rank among those entries. Group ``g``'s members are
    ``group_start[g]:group_start[g + 1]``; their centred ranks are one block of ``ry`` from ``ry_at[g]``,
    model by model (``m`` rows of the group's size); a member's statistic is ``sum_v ry[v] * rx[j(v)]``
    over its group's ``m`` centred ranks.

    A group of :data:`_PERM_BATCH_MEMBERS` members or more reads ``ry`` in order, once per batch of
    :data:`_PERM_BATCH` permutations, and only ``rx`` (one row) at random: at 100,000 models and 50 members
    reading ``ry`` at random cost 40 times the time of 10,000. A smaller group walks each permutation.
    Centred ranks are multiples of 1/2, so every product is a multiple of 1/4 and every sum below 2^51 up
    to ~200,000 models: exact, in any order.
    """
    P, n = perms.shape
    M = threshold.size
    batches = -(-P // _PERM_BATCH)
    hits = np.zeros((P, M), dtype=np.int64)
    for batch in prange(batches):
        p0 = batch * _PERM_BATCH
        q_n = min(_PERM_BATCH, P - p0)
        acc = np.zeros((_PERM_BATCH, M))
        position = np.empty((n, _PERM_BATCH), dtype=np.int64)
        for q in range(q_n):  # groups of few members: each walks the permutation (one row, in cache)
            perm = perms[p0 + q]
            for g in range(group_m.size):
                lo = group_start[g]
                size = group_start[g + 1] - lo
                if size >= _PERM_BATCH_MEMBERS:
                    continue
                m = group_m[g]
                base = ry_at[g]
                rxg = rx[g]
                for a in range(size):
                    total = 0.0
                    j = 0
                    for t in range(n):
                        v = perm[t]
                        if v < m:
                            total += ry[base + v * size + a] * rxg[j]
                            j += 1
                            if j == m:
                                break
                    acc[q, lo + a] = total
        for g in range(group_m.size):  # larger groups: the batch's positions, then the ranks in model order
            lo = group_start[g]
            size = group_start[g + 1] - lo
            if size < _PERM_BATCH_MEMBERS:
                continue
            m = group_m[g]
            base = ry_at[g]
            rxg = rx[g]
            for q in range(q_n):
                perm = perms[p0 + q]
                j = 0
                for t in range(n):
                    v = perm[t]
                    if v < m:
                        position[v, q] = j
                        j += 1
                        if j == m:
                            break
            for v in range(m):
                row = ry[base + v * size : base + (v + 1) * size]
                for q in range(q_n):
                    r = rxg[position[v, q]]
                    for a in range(size):
                        acc[q, lo + a] += row[a] * r
        for q in range(q_n):
            for a in range(M):
                if abs(acc[q, a]) >= threshold[a]:
                    hits[p0 + q, a] = 1
    return hits.sum(axis=0)


@njit(cache=True)
def _power(m, v):
    """Top eigenvector of the symmetric PSD ``m`` into ``v`` by power iteration from ``v`` (the previous fit's,
    a close start); False if it did not settle to 1e-13 in 200 products or the gap is too small to trust."""
    k = v.size
    u = np.empty(k)
    for _ in range(200):
        for a in range(k):
            acc = 0.0
            for b in range(k):
                acc += m[a, b] * v[b]
            u[a] = acc
        norm = np.sqrt(np.sum(u * u))
        if norm == 0.0:
            return False
        u /= norm
        if np.dot(u, v) < 0.0:
            u = -u
        change = np.max(np.abs(u - v))
        v[:] = u
        if change <= 1e-13:
            return True
    return False


@njit(cache=True, parallel=True)
def reimpute(W, x, missing, ok, start, n_components, tol, max_iter, low, high, clip):
    """Re-impute the missing cells of ``x`` (n, k) in every resample of ``W`` (B, n): bootstrap, then impute.

    Each resample runs :func:`assets.stats.imputation.pca_impute`'s procedure (``stop='missing'``) on its own
    matrix, the rows of ``ok`` repeated by their multiplicity: the standardisation is the resample's
    (weighted mean and population standard deviation over each column's observed cells), every PCA is of the
    weighted covariance (duplicated rows, one eigendecomposition of a k×k matrix), and the missing cells of
    duplicated rows stay equal, so the result is that of the materialised resample. The missing cells start
    at ``start`` (the full sample's fixed point, in raw units) and the loop stops once no drawn missing cell
    moves by more than ``tol`` standardised units. Values are clipped to ``[low, high]`` when ``clip``.

    Returns ``(values (B, n, k), fits (B,), valid (B,))``: rows outside ``ok`` are 0; ``fits`` the PCA fits
    made (``max_iter`` when it did not settle); ``valid`` False where a column has no observed cell drawn.
    """
    B, n = W.shape
    k = x.shape[1]
    values = np.zeros((B, n, k))
    fits = np.zeros(B, dtype=np.int64)
    valid = np.ones(B, dtype=np.bool_)
    rows = np.flatnonzero(ok)
    gaps = np.array([i for i in rows if missing[i].any()], dtype=np.int64)
    for r in prange(B):
        w = W[r]
        mean = np.zeros(k)
        sd = np.ones(k)
        for j in range(k):
            sw = 0.0
            s = 0.0
            for i in rows:
                if not missing[i, j]:
                    sw += w[i]
                    s += w[i] * x[i, j]
            if sw == 0.0:
                valid[r] = False
                continue
            mean[j] = s / sw
            ss = 0.0
            for i in rows:
                if not missing[i, j]:
                    ss += w[i] * (x[i, j] - mean[j]) ** 2
            if ss > 0.0:
                sd[j] = np.sqrt(ss / sw)
        if not valid[r]:
            continue
        z = np.zeros((n, k))
        total = 0.0
        for i in rows:
            total += w[i]
            for j in range(k):
                z[i, j] = ((start[i, j] if missing[i, j] else x[i, j]) - mean[j]) / sd[j]
        centre = np.empty(k)
        cov = np.empty((k, k))
        projection = np.empty((k, k))
        dev = np.empty(k)
        rebuilt = np.empty(k)
        top = np.full(k, 1.0 / np.sqrt(k))
        for it in range(1, max_iter + 1):
            fits[r] = it
            for j in range(k):
                s = 0.0
                for i in rows:
                    s += w[i] * z[i, j]
                centre[j] = s / total
            cov[:] = 0.0
            for i in rows:
                if w[i] == 0.0:
                    continue
                for a in range(k):
                    dev[a] = z[i, a] - centre[a]
                for a in range(k):
                    for b in range(a + 1):
                        cov[a, b] += w[i] * dev[a] * dev[b]
            for a in range(k):
                for b in range(a):
                    cov[b, a] = cov[a, b]
            if n_components == 1 and _power(cov, top):
                for a in range(k):
                    for b in range(k):
                        projection[a, b] = top[a] * top[b]
            else:
                vectors = np.linalg.eigh(cov)[1]
                for a in range(k):
                    top[a] = vectors[a, k - 1]
                    for b in range(k):
                        acc = 0.0
                        for c in range(k - n_components, k):
                            acc += vectors[a, c] * vectors[b, c]
                        projection[a, b] = acc
            moved = 0.0
            for i in gaps:
                for a in range(k):
                    dev[a] = z[i, a] - centre[a]
                for j in range(k):
                    if missing[i, j]:
                        acc = centre[j]
                        for a in range(k):
                            acc += dev[a] * projection[a, j]
                        rebuilt[j] = acc
                for j in range(k):
                    if missing[i, j]:
                        if w[i] > 0.0:
                            moved = max(moved, abs(z[i, j] - rebuilt[j]))
                        z[i, j] = rebuilt[j]
            if moved <= tol:
                break
        for i in rows:
            for j in range(k):
                v = z[i, j] * sd[j] + mean[j] if missing[i, j] else x[i, j]
                if clip:
                    v = min(max(v, low), high)
                values[r, i, j] = v
    return values, fits, valid
