"""Imputation inside the bootstrap: cost and interval widths of each imputed analysis, imputed once against
re-imputed in every resample (``bootstrap_imputation`` 'once' and 'per_resample').

Run: uv run python benchmarks/reimputation.py WAREHOUSE   (a warehouse built by `safetywash refresh`)

For every analysis of analyses.toml with ``missing = "pca_impute"``, over every snapshot it reads, at its own
B (the run's default: 10,000): the seconds of the bootstrap replicates (the compiled kernels loaded before the
clock starts), the PCA fits a resample's imputation made (mean, and how many resamples reached the limit),
and the median width of the 95% BCa intervals of the capabilities correlations (the newest snapshot's; for an
analysis of each snapshot, the median over snapshots of its targets' widths). One line per analysis and
setting, then a Markdown table.
"""

import statistics
import sys
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from assets.analyses import load_analyses  # noqa: E402
from assets.model_sets import load_model_sets  # noqa: E402
from assets.settings import BootstrapSettings  # noqa: E402
from assets.stats.bootstrap import Replicator, correlation_table, resample_weights  # noqa: E402
from assets.stats.imputation import Reimputation  # noqa: E402
from assets.warehouse import Store  # noqa: E402

SEED = BootstrapSettings().seed


def widths(table, targets: set[str] | None) -> list[float]:
    rows = table.filter((table["versus"] == "capabilities") & table["ci_low"].is_not_null())
    if targets is not None:
        rows = rows.filter(rows["benchmark"].is_in(list(targets)))
    return (rows["ci_high"] - rows["ci_low"]).to_list()


def main(root: str) -> None:
    tiny = np.random.default_rng(0).random((5, 2))
    Reimputation(np.where(np.eye(5, 2) > 0, np.nan, tiny), tiny, 1)(np.ones((1, 5)))  # compiled off the clock
    analyses = [a for a in load_analyses() if a.missing == "pca_impute"]
    with Store(Path(root)).read() as con:
        populations = {a.name: load_model_sets(con, [a], alias="sw") for a in analyses}
    table = []
    for a in analyses:
        sets = populations[a.name]
        b = a.resamples or BootstrapSettings().n_resamples
        targets = None if a.targets == "all" else set(a.targets)
        for setting in ("once", "per_resample"):
            seconds, fits, capped, per_snapshot = 0.0, [], 0, []
            for ms in sets:
                reimputation = ms.reimputation if setting == "per_resample" else None
                replicator = Replicator(
                    ms.capability_matrix, ms.comparisons(), a.method("paper"), reimpute=reimputation
                )
                weights = resample_weights(replicator.n, SEED, 0, b)
                started = time.perf_counter()
                theta = replicator(weights)
                seconds += time.perf_counter() - started
                if reimputation is not None:
                    made = reimputation(weights)[1]
                    fits.append(made.mean())
                    capped += int((made >= reimputation.max_iter).sum())
                result = correlation_table(replicator, theta, n_resamples=b, seed=SEED)
                per_snapshot.append(widths(result, targets))
            newest = per_snapshot[-1]
            width = (
                statistics.median(statistics.median(w) for w in per_snapshot if w)
                if len(sets) > 1
                else statistics.median(newest)
            )
            print(
                f"{a.name} {setting}: snapshots={len(sets)} B={b} seconds={seconds:.2f} median_width={width:.4f}"
                + (f" mean_fits={statistics.fmean(fits):.1f} resamples_at_limit={capped}" if fits else ""),
                flush=True,
            )
            table.append(
                (a.name, setting, len(sets), b, seconds, width, statistics.fmean(fits) if fits else None, capped)
            )
    print("\n| analysis | bootstrap_imputation | snapshots × B | seconds | median CI width | PCA fits per resample |")
    print("|---|---|---|---|---|---|")
    for name, setting, n, b, seconds, width, fits, capped in table:
        print(
            f"| `{name}` | {setting} | {n} × {b:,} | {seconds:.1f} | {width:.4f} | "
            + (f"{fits:.1f} ({capped} at the limit) |" if fits is not None else "– |")
        )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
