"""Cold refresh of every source in the mirror, per source: snapshots, rows, models, benchmarks, ingest time.

Run: uv run python benchmarks/sources.py   (reads the mirror at $SAFETYWASH_MIRROR or ../shared/data/mirror)

A fresh warehouse is refreshed as `safetywash refresh` does it (B=10,000 bootstrap for the paper's data),
then refreshed again with nothing new. "ingest" is the source's backfill run (fetch, check, parse and land
its pinned snapshots) plus its `fetch/<source>` step. Peak memory is the largest resident set of this
process and of any child (dbt). Prints a Markdown table and one line per figure.
"""

import contextlib
import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from orchestration.manifest import ensure_manifest  # noqa: E402

MIRROR = Path(os.environ.get("SAFETYWASH_MIRROR") or PROJECT.parent / "shared" / "data" / "mirror").resolve()


def main() -> None:
    ensure_manifest()
    import logging

    from assets.resources import Fetcher, Warehouse
    from assets.warehouse import Store, query_frame
    from orchestration.definitions import defs
    from orchestration.runs import refresh_in_process

    logging.getLogger("dagster").setLevel(logging.ERROR)
    root = Path(tempfile.mkdtemp(prefix="safetywash-sources-"))
    warehouse, fetcher = Warehouse(directory=str(root)), Fetcher(mirror=str(MIRROR))
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    with contextlib.redirect_stdout(io.StringIO()):
        started = time.perf_counter()
        cold = refresh_in_process(defs, warehouse, fetcher, quiet, quiet=True)
        cold_seconds = time.perf_counter() - started
        started = time.perf_counter()
        again = refresh_in_process(defs, warehouse, fetcher, quiet, quiet=True)
        again_seconds = time.perf_counter() - started
    assert cold.success and cold.published and again.success and not again.published
    ingest = {}
    for result in cold.backfills:
        step = next(e for e in result.all_events if e.is_step_success)
        ingest[step.step_key.removeprefix("snapshots__")] = step.event_specific_data.duration_ms / 1000
    steps = {e.step_key: e.event_specific_data.duration_ms / 1000 for e in cold.job.all_events if e.is_step_success}
    for key, seconds in steps.items():
        if key.startswith("fetch__"):
            ingest[key.removeprefix("fetch__")] = ingest.get(key.removeprefix("fetch__"), 0.0) + seconds
    with Store(root).read() as con:
        per_source = query_frame(
            con,
            """
            select s.source, s.snapshots, coalesce(c.rows, 0) as score_rows, coalesce(m.models, 0) as models,
                   coalesce(c.benchmarks, 0) as benchmarks
            from (select source, count(*) as snapshots from marts.snapshots group by source) s
            left join (select source, count(*) as rows, count(distinct benchmark) as benchmarks
                       from marts.scores group by source) c using (source)
            left join (select source, count(distinct model_id) as models from marts.models group by source) m using (source)
            order by source""",
        )
    print("| source | snapshots | score rows | models | benchmarks | ingest (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in per_source.iter_rows(named=True):
        print(
            f"| {row['source']} | {row['snapshots']} | {row['score_rows']:,} | {row['models']:,} | "
            f"{row['benchmarks']} | {ingest.get(row['source'], 0.0):.2f} |"
        )
    print(f"cold refresh of every source (B=10,000): {cold_seconds:.1f} s")
    groups = {
        "land (decide, one per source, log)": ("land", "raw__snapshots"),
        "dbt build": ("dbt_models",),
        "capabilities (plan, one per analysis, describe)": ("capabilities.",),
        "bootstrap and correlations": ("marts__benchmark_correlations.",),
        "publish": ("warehouse__published",),
    }
    for label, prefixes in groups.items():
        seconds = sum(
            v
            for k, v in steps.items()
            if any(k == p or (p.endswith(("_", ".")) and k.startswith(p)) or k.startswith(p + "_") for p in prefixes)
        )
        print(f"  steps {label}: {seconds:.2f} s (sum of step durations)")
    print(f"second refresh, nothing new (work after imports): {again_seconds:.2f} s")
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak resident memory: {peak_self:.0f} MiB (this process), {peak_child:.0f} MiB (largest child: dbt)")


if __name__ == "__main__":
    main()
