"""Shared fixtures: the offline mirror, a prepared dbt manifest and one refreshed warehouse."""

import fcntl
import json
import os
import shutil
from pathlib import Path

import pytest

from orchestration.manifest import ensure_manifest

PROJECT = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("SAFETYWASH_MIRROR") or PROJECT.parent / "shared" / "data" / "mirror").resolve()
SW_DATA = (
    MIRROR / "raw.githubusercontent.com/centerforaisafety/safetywashing/ab48125dc86a14d691279618df74badaf9a17279/data"
)

ensure_manifest()


def paper_score_cells() -> int:
    """Every score cell of the paper's two model × benchmark files, counted with the csv module: rows times
    columns, less the ``model`` column and the four model attributes the files carry beside the benchmarks."""
    import csv

    attributes = {"model", "model_size", "FLOP", "name", "type"}
    total = 0
    for model_set in ("base", "chat"):
        with open(SW_DATA / f"benchmarks_{model_set}_models.csv", newline="", encoding="utf-8") as fh:
            header, *rows = list(csv.reader(fh))
        assert attributes <= set(header)
        total += len(rows) * len(set(header) - attributes)
    return total


ONE_THREAD = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
"""Every process the tests start computes on one thread: the xdist workers already keep both cores busy, and
their refreshes' thread pools (numba's OpenMP, BLAS) fought over them (two concurrent refreshes of every source:
85 s each, 51 s on one thread). Results do not depend on the thread count; a test checks it on two."""


_BEFORE = pytest.StashKey[dict]()


def pytest_configure(config):
    if not SW_DATA.is_dir():
        raise pytest.UsageError(f"the offline mirror is missing at {MIRROR} (set SAFETYWASH_MIRROR)")
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # the controller, before any worker or refresh starts
        config.stash[_BEFORE] = {name: os.environ.get(name) for name in ONE_THREAD}
        os.environ.update(ONE_THREAD)
        from assets.stats.kernels import compile_kernels

        compile_kernels()  # once, rather than in each process that reaches a kernel first


def pytest_unconfigure(config):
    for name, value in config.stash.get(_BEFORE, {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


LIGHT_CLI = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('heavy imports:', sorted(m for m in ('dagster', 'dbt', 'numba', 'sklearn') "
    "if m in sys.modules), file=sys.stderr))\n"
    "from orchestration.cli import main\nsys.argv = ['safetywash', *sys.argv[1:]]\nmain()"
)
"""The CLI in a subprocess that says, last on stderr, which heavy packages it imported (a refusal imports none)."""


def heavy_imports(stderr: str) -> tuple[str, list[str]]:
    """(stderr without the last line, the heavy packages it names) of a :data:`LIGHT_CLI` run."""
    import ast

    *rest, last = stderr.rstrip("\n").split("\n")
    assert last.startswith("heavy imports: "), stderr
    return "".join(line + "\n" for line in rest), ast.literal_eval(last.removeprefix("heavy imports: "))


def all_definitions():
    from orchestration.definitions import defs

    return defs


PAPER = ("safetywashing",)


def materialize_all(
    warehouse_dir: Path, mirror: Path = MIRROR, run_config: dict | None = None, sources: tuple[str, ...] | None = PAPER
):
    """Refresh ``warehouse_dir`` as ``safetywash refresh`` does (backfills of the pinned snapshots, then the
    refresh job) and return the refresh job's result; by default only the paper's source is fetched."""
    return refresh(warehouse_dir, mirror, run_config, sources).job


def refresh(
    warehouse_dir: Path,
    mirror: Path = MIRROR,
    run_config: dict | None = None,
    sources: tuple[str, ...] | None = PAPER,
    instance=None,
):
    from assets.resources import Fetcher, Warehouse
    from orchestration.definitions import defs
    from orchestration.runs import refresh_in_process

    return refresh_in_process(
        defs,
        Warehouse(directory=str(warehouse_dir)),
        Fetcher(mirror=str(mirror)),
        run_config,
        sources=sources,
        instance=instance,
    )


def land_as_own_snapshot(warehouse_dir: Path, mirror: Path, source: str = "safetywashing", snapshot: str = "edited"):
    """Land the files of ``source``'s newest pinned snapshot as ``mirror`` serves them (edited by a test)
    as a snapshot of their own, through the snapshot asset; ``materialize_all(..., sources=())`` then
    builds the warehouse from it without fetching anything else."""
    import dataclasses
    import hashlib

    import dagster as dg

    from assets.registry import Snapshot
    from assets.resources import Fetcher, Warehouse
    from assets.landing import partition_key
    from assets.sources import REGISTRY, build_snapshot_asset

    registered = REGISTRY[source]
    pinned = registered.snapshots[-1]
    fetcher = Fetcher(mirror=str(mirror))
    files = tuple(dataclasses.replace(f, sha256=hashlib.sha256(fetcher.get(f.url)).hexdigest()) for f in pinned.files)
    edited = dataclasses.replace(registered, snapshots=(Snapshot(snapshot, pinned.date, files),))
    return dg.materialize(
        [build_snapshot_asset(edited)],
        partition_key=partition_key(edited.snapshots[0]),
        resources={"warehouse": Warehouse(directory=str(warehouse_dir)), "fetcher": fetcher},
        raise_on_error=False,
    )


def backfill(warehouse_dir: Path, source: str, mirror: Path = MIRROR):
    """Land every pinned snapshot of ``source``: its backfill job over all its partitions, in one run."""
    from assets.landing import partition_key
    from assets.sources import REGISTRY
    from orchestration.definitions import defs
    from orchestration.schedules import RANGE_END, RANGE_START

    keys = [partition_key(s) for s in REGISTRY[source].snapshots]
    run_config = {
        "resources": {
            "warehouse": {"config": {"directory": str(warehouse_dir)}},
            "fetcher": {"config": {"mirror": str(mirror)}},
        }
    }
    return defs.resolve_job_def(f"snapshots_{source}").execute_in_process(
        run_config=run_config, tags={RANGE_START: keys[0], RANGE_END: keys[-1]}
    )


def built_once(tmp_path_factory, name: str, build) -> tuple[Path, dict]:
    """``build(folder)`` once per test session, by whichever xdist worker asks first while the others wait for it:
    (the folder, the JSON summary ``build`` returned). What it builds is shared: tests read it, or copy it."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above each worker's own
    folder, summary = base / name, base / f"{name}.json"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the worker dies
        if not summary.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            summary.write_text(json.dumps(build(folder)))
    return folder, json.loads(summary.read_text())


def _refreshed(folder: Path) -> dict:
    import dagster as dg

    (folder / "dagster").mkdir()
    with dg.DagsterInstance.from_config(str(folder / "dagster")) as instance:
        result = refresh(folder / "warehouse", instance=instance).job
        assert result.success, [e.message for e in result.all_events if e.is_failure]
    return {"run_id": result.run_id}


@pytest.fixture(scope="session")
def refreshed_run(tmp_path_factory) -> tuple[Path, Path]:
    """A warehouse built once from the mirror by materializing every asset (do not modify it), and the Dagster
    home that recorded the run: (warehouse, home)."""
    folder, _ = built_once(tmp_path_factory, "refreshed", _refreshed)
    return folder / "warehouse", folder / "dagster"


@pytest.fixture(scope="session")
def refreshed(refreshed_run) -> Path:
    return refreshed_run[0]


def paper_only_analyses(path: Path, resamples: int | None = None) -> Path:
    """The shipped analyses file cut to the paper's two analyses (a third of a refresh's analysis time), each
    asking for ``resamples`` bootstrap resamples if given (a run with the default B, as the UI's "Materialize
    all" launches, then draws that many)."""
    from assets.analyses import ANALYSES_FILE, load_analyses

    shipped, marker = ANALYSES_FILE.read_text(), '\n[[analyses]]\nname = "obsscaling_paper"'
    assert marker in shipped
    text = shipped.split(marker)[0]
    if resamples is not None:
        text = text.replace("[[analyses]]\n", f"[[analyses]]\nresamples = {resamples}\n")
    path.write_text(text)
    if resamples is not None:
        assert [a.resamples for a in load_analyses(path)] == [resamples, resamples]
    return path


EVERY_SOURCE_B = 200  # every analysis, this many resamples (fewer than any asks for): the figures, not their precision
EVERY_SOURCE_CONFIG = {"ops": {"marts__benchmark_correlations": {"config": {"n_resamples": EVERY_SOURCE_B}}}}


def _every_source(folder: Path) -> dict:
    done = refresh(folder / "warehouse", MIRROR, EVERY_SOURCE_CONFIG, sources=None)
    return {"success": done.success, "published": done.published, "failed_sources": done.failed_sources}


@pytest.fixture(scope="session")
def every_source(tmp_path_factory) -> dict:
    """One cold refresh of every source and every analysis from the mirror, as published (do not modify it):
    the reference of the sources tests, the report's browser test and the distributed run. ``summary``: the
    refresh's success, published version and failed sources."""
    folder, summary = built_once(tmp_path_factory, "every_source", _every_source)
    return {"root": folder / "warehouse", "summary": summary}


@pytest.fixture
def warehouse_copy(refreshed, tmp_path) -> Path:
    """A private copy of the refreshed warehouse that a test may damage."""
    dest = tmp_path / "warehouse"
    shutil.copytree(refreshed, dest, symlinks=True)
    return dest


CHROMIUM = "/usr/bin/chromium"  # Debian's package; `.ci/run` installs it
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


TIERS = ("unit", "integration", "system", "services")
LONGEST_FIRST = (
    "test_sources_refresh.py",  # builds the every-source warehouse test_distributed.py reads
    "test_run_paths.py",  # waits on `safetywash ui`'s runs and the backfill daemon's 30 s ticks
    "test_publish.py",  # builds the session's paper-only warehouse
    "test_distributed.py",  # on the first worker free, by then the every-source warehouse is (nearly) built
    "test_end_to_end.py",
)
"""The files that take minutes, in the order the xdist workers take them (`--no-loadscope-reorder`): one each on the
three workers first, the fourth on the first worker free; the others follow in collection order and fill the
workers' tails."""


def pytest_collection_modifyitems(config, items):
    """Every test belongs to a tier (module's ``pytestmark``; a Chromium test inside another tier adds ``system``),
    so that ``-m`` selects whole tiers: ``-m unit`` runs in seconds. The long files run first."""
    untiered = [item.nodeid for item in items if not any(item.get_closest_marker(t) for t in TIERS)]
    if untiered:
        raise pytest.UsageError(f"tests without a tier marker ({', '.join(TIERS)}): {', '.join(untiered)}")
    rank = {name: at for at, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
