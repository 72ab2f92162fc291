"""One source changed: a refresh that recomputes only the analysis reading it, against a forced refresh that
recomputes every analysis, on the same warm warehouse of every source (the default B=10,000).

Run: uv run python benchmarks/recompute.py   (reads the mirror at $SAFETYWASH_MIRROR or ../shared/data/mirror)

A tree of links to the mirror serves Chatbot Arena's latest file with one score changed (new content, same
shape), so each "one new Arena snapshot" run lands one snapshot more. Runs alternate with the forced ones;
prints the medians of RUNS runs of each and which analyses each computed.
"""

import contextlib
import csv
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

from orchestration.manifest import ensure_manifest  # noqa: E402

RUNS = 3
MIRROR = Path(os.environ.get("SAFETYWASH_MIRROR") or PROJECT.parent / "shared" / "data" / "mirror").resolve()


def changed_arena(mirror: Path, url: str, bump: int) -> None:
    """Arena's latest file in ``mirror`` with its first model's score raised by ``bump``."""
    path = mirror / url.removeprefix("https://")
    rows = list(csv.reader(io.StringIO((MIRROR / url.removeprefix("https://")).read_text("utf-8"), newline="")))
    col = rows[0].index("arena_score") if "arena_score" in rows[0] else rows[0].index("arena_elo")
    rows[1][col] = str(float(rows[1][col]) + bump)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.unlink()
    path.write_text(out.getvalue(), "utf-8")


def main() -> None:
    ensure_manifest()
    from assets.resources import Fetcher, Warehouse
    from assets.sources import REGISTRY
    from orchestration.definitions import defs
    from orchestration.runs import refresh_in_process

    tmp = Path(tempfile.mkdtemp(prefix="safetywash-recompute-"))
    mirror, root = tmp / "mirror", tmp / "warehouse"
    shutil.copytree(MIRROR, mirror, copy_function=os.symlink)
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    warehouse, fetcher = Warehouse(directory=str(root)), Fetcher(mirror=str(mirror))
    seconds: dict[str, list[float]] = {"one_new_arena_snapshot": [], "forced": []}
    computed: dict[str, set[str]] = {name: set() for name in seconds}
    with contextlib.redirect_stdout(io.StringIO()):  # dbt's log
        assert refresh_in_process(defs, warehouse, fetcher, quiet, quiet=True).published
        for i in range(RUNS):
            changed_arena(mirror, REGISTRY["arena"].latest[0], i + 1)
            for name, force in (("one_new_arena_snapshot", False), ("forced", True)):
                config = {**quiet, "ops": {"land": {"config": {"force": force}}}}
                started = time.perf_counter()
                result = refresh_in_process(defs, warehouse, fetcher, config, quiet=True)
                seconds[name].append(time.perf_counter() - started)
                assert result.published
                computed[name] |= {
                    e.step_key.split("[")[1].rstrip("]")
                    for e in result.job.all_events
                    if e.is_step_start and "fit_analysis[" in e.step_key
                }
    shutil.rmtree(tmp)
    for name, values in seconds.items():
        print(
            f"refresh_{name}: median_s={statistics.median(values):.1f} runs_s={[round(s, 1) for s in values]} "
            f"analyses_computed={sorted(computed[name])}"
        )
    ratio = statistics.median(seconds["one_new_arena_snapshot"]) / statistics.median(seconds["forced"])
    print(f"ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
