"""Refresh benchmark: the `refresh` job in one process on a warm warehouse of every source, rebuilt (forced)
and with nothing new, and what writing a candidate and publishing it cost.

Run: uv run python benchmarks/refresh.py   (reads the mirror at $SAFETYWASH_MIRROR or ../shared/data/mirror)
Prints one line per figure; times are medians of RUNS runs of each job, alternated.
"""

import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from assets.warehouse import Store  # noqa: E402
from orchestration.manifest import ensure_manifest  # noqa: E402

RUNS = 3
MIRROR = Path(os.environ.get("SAFETYWASH_MIRROR") or PROJECT.parent / "shared" / "data" / "mirror").resolve()


def step_ms(result, step_key: str) -> float:
    return next(
        e.event_specific_data.duration_ms for e in result.all_events if e.is_step_success and e.step_key == step_key
    )


def main() -> None:
    ensure_manifest()
    from orchestration.definitions import defs

    from assets.resources import Fetcher, Warehouse
    from orchestration.runs import refresh_in_process

    root = Path(tempfile.mkdtemp(prefix="safetywash-bench-"))
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    run_config = {
        "resources": {
            "warehouse": {"config": {"directory": str(root)}},
            "fetcher": {"config": {"mirror": str(MIRROR)}},
        },
        **quiet,
    }
    forced = {**run_config, "ops": {"land": {"config": {"force": True}}}}
    job = defs.resolve_job_def("refresh")
    runs = {"rebuilt": forced, "nothing_new": run_config}
    seconds = {name: [] for name in runs}
    publish = []
    with contextlib.redirect_stdout(io.StringIO()):  # dbt's log
        warm = refresh_in_process(defs, Warehouse(directory=str(root)), Fetcher(mirror=str(MIRROR)), quiet, quiet=True)
        assert warm.published  # every source landed, a version exists
        for _ in range(RUNS):
            for name, config in runs.items():
                started = time.perf_counter()
                result = job.execute_in_process(run_config=config)
                seconds[name].append(time.perf_counter() - started)
                assert result.success
                if name == "rebuilt":
                    publish.append(step_ms(result, "warehouse__published"))
    store = Store(root)
    copies = []
    for _ in range(RUNS):
        started = time.perf_counter()
        store.candidate(f"bench-{len(copies)}")
        copies.append((time.perf_counter() - started) * 1000)
    store.clean()
    lake_mib = sum(f.stat().st_size for f in (root / "lake").rglob("*") if f.is_file()) / 2**20
    shutil.rmtree(root)
    refresh_s = statistics.median(seconds["rebuilt"])
    publish_ms = statistics.median(publish)
    overhead_ms = publish_ms + statistics.median(copies)
    for name in runs:
        print(
            f"refresh_{name}: median_s={statistics.median(seconds[name]):.2f} runs_s={[round(s, 2) for s in seconds[name]]} "
            f"executor={job.executor_def.name}"
        )
    print(
        f"publish: publish_step_ms={publish_ms:.0f} candidate_copy_ms={statistics.median(copies):.0f} "
        f"lake_mib={lake_mib:.1f} publish_share={publish_ms / 1000 / refresh_s:.1%} "
        f"with_candidate_copy_share={overhead_ms / 1000 / refresh_s:.1%}"
    )


if __name__ == "__main__":
    main()
