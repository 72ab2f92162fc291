"""Bootstrap benchmark: the project's kernel on every correlation of the paper's data at B=10,000,
scipy.stats.bootstrap on the same statistic (refit included), interval agreement, memory, and a
5,000-model × 50-benchmark leaderboard at B=2,000 (5% of cells missing; percentile intervals and
permutation p-values included; the compiled kernels are loaded before the clock starts).

Run: uv run python benchmarks/bootstrap.py   (reads the mirror at $SAFETYWASH_MIRROR or ../shared/data/mirror)
The last two lines are `large: models=5000 benchmarks=50 B=2000 seconds=S peak_mib=M` and `bootstrap: B=... correlations=... seconds=... scipy_seconds_per_correlation=... speedup=...`
"""

import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from assets.model_sets import ModelSet  # noqa: E402
from assets.parsers.safetywashing import parse_matrix  # noqa: E402
from assets.registry import load_registry  # noqa: E402
from assets.stats.bootstrap import Replicator, bootstrap_table, resample_weights  # noqa: E402
from assets.stats.correlation import Comparison, statistics_on_rows  # noqa: E402

B = 10_000
SEED = 0
MIRROR = Path(os.environ.get("SAFETYWASH_MIRROR") or PROJECT.parent / "shared" / "data" / "mirror").resolve()


def paper_model_sets():
    """The paper's two model sets as the warehouse builds them, read straight from the mirror's files."""
    source = load_registry()["safetywashing"]
    snapshot = source.snapshots[-1]
    taxonomy = pl.read_csv(
        PROJECT / "sql" / "seeds" / "benchmark_taxonomy.csv", schema_overrides={"accuracy_of": pl.String}
    )
    taxonomy = taxonomy.filter(pl.col("source") == source.name)
    out = []
    for f in snapshot.files:
        if f.role != "matrix":
            continue
        scores, models, _ = parse_matrix(
            (MIRROR / f.url.split("://", 1)[1]).read_bytes(), source=source.name, file=f.name
        )
        wide = scores.pivot(on="benchmark", index="model_id", values="value", sort_columns=True).sort("model_id")
        names = [c for c in wide.columns if c != "model_id"]
        flop = pl.DataFrame({"model_id": wide["model_id"]}).join(models, on="model_id", how="left")["training_flop"]
        caps = sorted(taxonomy.filter(pl.col("area") == "capabilities")["benchmark"].to_list())
        out.append(
            ModelSet(
                source=source.name,
                model_set=f.model_set,
                snapshot=snapshot.id,
                sha256=f.sha256,
                model_ids=wide["model_id"].to_list(),
                benchmarks=names,
                values=wide.select(names).to_numpy().astype(float),
                training_flop=flop.to_numpy().astype(float),
                capability_inputs=[c for c in caps if c in names],
                area=dict(zip(taxonomy["benchmark"], taxonomy["area"])),
                accuracy_of=dict(zip(taxonomy["benchmark"], taxonomy["accuracy_of"])),
                analysis=f"safetywashing_{f.model_set}",
            )
        )
    return out


def scipy_bootstrap(cap, comps, n_resamples, seed):
    return stats.bootstrap(
        (np.arange(cap.shape[0]),),
        lambda rows: statistics_on_rows(cap, comps, rows),
        vectorized=False,
        n_resamples=n_resamples,
        method="BCa",
        random_state=seed,
    )


def project_bootstrap(model_sets, n_resamples, method="bca"):
    tables = []
    for ms in model_sets:
        rep = Replicator(ms.capability_matrix, ms.comparisons())
        theta = rep(resample_weights(rep.n, SEED, 0, n_resamples))
        tables.append(
            bootstrap_table(rep, theta, n_resamples=n_resamples, seed=SEED, method=method).with_columns(
                model_set=pl.lit(ms.model_set)
            )
        )
    return pl.concat(tables)


def pick(ms, wanted):
    comps = {(c.benchmark, c.versus): c for c in ms.comparisons()}
    return [comps[w] for w in wanted if w in comps]


CHECKED = [
    ("wmdp_bio", "capabilities"),
    ("MT_Bench", "capabilities"),
    ("truthfulqa_mc1", "capabilities"),
    ("mmlu", "capabilities_loo"),
    ("wmdp_bio", "compute"),
    ("brier_mmlu", "accuracy"),
    ("LMSYS_Chatbot_Arena", "capabilities"),
]
TIMED = [
    ("chat", "MT_Bench", "capabilities"),
    ("chat", "wmdp_bio", "capabilities"),
    ("base", "mmlu", "capabilities_loo"),
]


def large_leaderboard(n_models=5000, n_benchmarks=50, seed=1):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=n_models)
    values = g[:, None] * rng.uniform(0.3, 1.0, n_benchmarks) + rng.normal(size=(n_models, n_benchmarks))
    values[rng.random(values.shape) < 0.05] = np.nan  # leaderboards have holes
    cap = values[:, :12].copy()
    flop = np.exp(g + rng.normal(scale=0.5, size=n_models))
    comps = []
    for j in range(n_benchmarks):
        comps.append(Comparison(f"b{j}", "capabilities", values[:, j]))
        if j < 12:
            comps.append(Comparison(f"b{j}", "capabilities_loo", values[:, j], drop_input=j))
        comps.append(Comparison(f"b{j}", "compute", values[:, j], x=flop))
    return cap, comps


def endpoint_mc_se(distribution, endpoint, n_resamples):
    """Order-statistic standard error of an empirical quantile at ``endpoint`` (one row)."""
    p = float((distribution <= endpoint).mean())
    step = 2 * np.sqrt(p * (1 - p) / n_resamples)
    return (np.quantile(distribution, min(p + step, 1)) - np.quantile(distribution, max(p - step, 0))) / 4


def main():
    model_sets = paper_model_sets()
    project_bootstrap(model_sets, 50)  # warm-up: imports and first-call costs are not measured

    runs = []
    for _ in range(3):
        started = time.perf_counter()
        ours = project_bootstrap(model_sets, B)
        runs.append(time.perf_counter() - started)
    seconds = float(np.median(runs))
    n = ours.height
    print(
        f"project: {n} correlations (base + chat), B={B}, refit per resample, BCa (jackknife) + se + permutation "
        f"p-values: median of 3 runs {seconds:.2f} s (runs: {', '.join(f'{r:.2f}' for r in runs)}) on {os.cpu_count()} cores"
    )
    tracemalloc.start()
    project_bootstrap(model_sets, B)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"memory: peak traced allocations {peak / 2**20:.0f} MiB during the run; "
        f"process peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (imports included)"
    )
    ours_pct = project_bootstrap(model_sets, B, method="percentile")

    for ms in model_sets:
        comps = pick(ms, CHECKED)
        ref = scipy_bootstrap(ms.capability_matrix, comps, B, seed=123)
        dist = ref.bootstrap_distribution
        ref_pct = np.quantile(dist, [0.025, 0.975], axis=-1)
        for method, table, (lo, hi) in [("bca", ours, ref.confidence_interval), ("percentile", ours_pct, ref_pct)]:
            agree = 0
            for k, c in enumerate(comps):
                row = table.filter(model_set=ms.model_set, benchmark=c.benchmark, versus=c.versus).row(0, named=True)
                diff = max(abs(row["ci_low"] - lo[k]), abs(row["ci_high"] - hi[k]))
                agree += diff <= 0.02
                se = max(endpoint_mc_se(dist[k], lo[k], B), endpoint_mc_se(dist[k], hi[k], B))
                print(
                    f"  {ms.model_set:4} {c.benchmark:20} {c.versus:16} {method:10} ours [{row['ci_low']:+.3f}, "
                    f"{row['ci_high']:+.3f}]  scipy [{lo[k]:+.3f}, {hi[k]:+.3f}]  max diff {diff:.4f}  "
                    f"(Monte-Carlo s.e. of an endpoint {se:.4f})"
                )
            print(
                f"agreement {ms.model_set} {method}: {agree} of {len(comps)} benchmarks within 0.02 of scipy.stats.bootstrap"
            )

    by_set = {ms.model_set: ms for ms in model_sets}
    scipy_times = []
    for model_set, bench, versus in TIMED:
        ms = by_set[model_set]
        comps = pick(ms, [(bench, versus)])
        started = time.perf_counter()
        scipy_bootstrap(ms.capability_matrix, comps, B, seed=1)
        scipy_times.append(time.perf_counter() - started)
        print(f"scipy.stats.bootstrap {model_set}/{bench}/{versus}, B={B}, BCa: {scipy_times[-1]:.1f} s")
    per_correlation = float(np.mean(scipy_times))

    cap, comps = large_leaderboard()
    small = Replicator(cap[:, :3], comps[:2])  # loads the compiled kernels (cached after the first build)
    bootstrap_table(small, small(resample_weights(small.n, SEED, 0, 2)), n_resamples=2, seed=SEED, method="percentile")
    started = time.perf_counter()
    rep = Replicator(cap, comps)
    theta = rep(resample_weights(rep.n, SEED, 0, 2000))
    large_boot = time.perf_counter() - started
    started = time.perf_counter()
    table = bootstrap_table(rep, theta, n_resamples=2000, seed=SEED, method="percentile")
    large_rest = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"large: 5000 models x 50 benchmarks (5% missing), {len(comps)} correlations, B=2000, percentile: "
        f"weights + replicates {large_boot:.1f} s + intervals and permutation p-values {large_rest:.1f} s; "
        f"{table['ci_low'].null_count()} rows without interval; process peak RSS (imports included)"
    )
    print(f"large: models=5000 benchmarks=50 B=2000 seconds={large_boot + large_rest:.2f} peak_mib={peak:.0f}")
    print(
        f"bootstrap: B={B} correlations={n} seconds={seconds:.2f} "
        f"scipy_seconds_per_correlation={per_correlation:.2f} speedup={per_correlation * n / seconds:.0f}"
    )


if __name__ == "__main__":
    main()
