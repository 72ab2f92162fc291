"""Write, audit, publish: readers during refreshes, kills at every step, failed audits, the sandbox,
fast and short errors, versions. Refreshes run as the user runs them: `python -m orchestration`."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import shutil
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from assets.resources import Warehouse
from assets.warehouse import DBT_LEFTOVER_SUFFIXES, Store, query_frame
from conftest import LIGHT_CLI, MIRROR, PROJECT, heavy_imports, paper_score_cells
from orchestration.cli import app

pytestmark = pytest.mark.system

MART_TABLES = (
    "scores",
    "models",
    "benchmarks",
    "capabilities_scores",
    "capabilities_components",
    "benchmark_correlations",
)


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration", *args], capture_output=True, text=True, cwd=PROJECT, **kwargs
    )


def refresh_cli(root: Path, *extra: str) -> list[str]:
    """The arguments of `safetywash refresh` of the paper's source (the other sources' steps run, with nothing to
    fetch)."""
    return ["refresh", "--warehouse", str(root), "--mirror", str(MIRROR), "--source", "safetywashing", *extra]


def refresh_args(root: Path, *extra: str) -> list[str]:
    """:func:`refresh_cli` as a process's command line."""
    return [sys.executable, "-m", "orchestration", *refresh_cli(root, *extra)]


def published_marts(root: Path) -> dict[str, pl.DataFrame]:
    with Store(root).read() as con:
        return {t: query_frame(con, f"select * from marts.{t} order by all") for t in MART_TABLES}


def leftovers(root: Path) -> list[str]:
    """Everything a finished refresh should not leave behind."""
    found = [
        str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".probe")
    ]
    found += [p.name for p in (root / "candidate", root / ".candidate.tmp") if p.exists()]
    found += [str(p) for p in (PROJECT / "sql").glob(".target-*.tmp")]
    store = Store(root)
    with store.read() as con:
        found += [
            t
            for (t,) in con.execute("select table_name from duckdb_tables()").fetchall()
            if t.endswith(DBT_LEFTOVER_SUFFIXES)
        ]
    return found


def plain_client(root: Path) -> duckdb.DuckDBPyConnection:
    """The README's plain-DuckDB reader: the lake attached read-only and used, nothing of this project's."""
    from assets.lake import extension_dir

    con = duckdb.connect(config={"extension_directory": str(extension_dir())})
    # this warehouse is a copy: the catalog recorded the original's data folder, so the reader names its own
    con.execute(
        f"attach 'ducklake:sqlite:{root}/lake/catalog.sqlite' as sw "
        f"(read_only, data_path '{root}/lake/data/', override_data_path true)"
    )
    con.execute("use sw")
    return con


@pytest.fixture(scope="module")
def published_under_readers(refreshed, tmp_path_factory) -> dict:
    """A refresh (seed 1) of a copy of the refreshed warehouse while a Python reader and `safetywash sql` read it
    in a loop and a plain client holds it open, until each reader has read the new version: what each read saw,
    the refresh's result, and the seed each version published."""
    root = tmp_path_factory.mktemp("readers") / "warehouse"
    shutil.copytree(refreshed, root, symlinks=True)
    stop = threading.Event()
    python_reads, cli_reads, errors = [], [], []
    seeds = "select list(distinct bootstrap_seed) from marts.benchmark_correlations"
    query = (
        f"select (select version from meta.version) as version, ({seeds}) as seeds, "
        "(select count(*) from marts.scores) as n_scores"
    )
    first = Store(root).current_version()
    with Store(root).read(first) as con:
        seed_of = {first: con.execute(seeds).fetchone()[0]}
    held_open = plain_client(root)  # a notebook left open on the lake

    def python_reader():
        while not stop.is_set():
            try:
                with plain_client(root) as con:
                    python_reads.append(con.execute(query).fetchone())
            except Exception as exc:  # any failure is what this test counts
                errors.append(f"python: {exc}")
            time.sleep(4.0)  # each read attaches the lake (~0.2 s of CPU): at full speed they starved the refresh

    def cli_reader():
        while not stop.is_set():
            out = cli("sql", query, "--warehouse", str(root), "--format", "json")
            if out.returncode != 0:
                errors.append(f"cli: {out.stderr}")
            else:
                row = json.loads(out.stdout)[0]
                cli_reads.append((row["version"], row["seeds"], row["n_scores"]))
            time.sleep(12.0)  # each call is a process start (1-2 s of CPU)

    threads = [threading.Thread(target=python_reader), threading.Thread(target=cli_reader)]
    for t in threads:
        t.start()
    try:
        result = subprocess.run(
            refresh_args(root, "--quiet", "--resamples", "400", "--seed", "1"),
            capture_output=True,
            text=True,
        )
        deadline = time.monotonic() + 60
        while result.returncode == 0 and not errors and time.monotonic() < deadline:
            if all(reads and reads[-1][0] != first for reads in (python_reads, cli_reads)):
                break  # each reader has read the version that replaced the one it started on
            time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    held_open.close()
    for info in Store(root).versions():
        with Store(root).read(info["version"]) as con:
            seed_of[info["version"]] = con.execute(seeds).fetchone()[0]
    return {
        "root": root,
        "first": first,
        "result": result,
        "errors": errors,
        "reads": {"python": python_reads, "cli": cli_reads},
        "seed_of": seed_of,
    }


def test_readers_never_wait_fail_or_see_a_mix(published_under_readers):
    run = published_under_readers
    assert run["result"].returncode == 0, run["result"].stderr
    assert run["errors"] == []
    seed_of = run["seed_of"]
    assert [v["version"] for v in Store(run["root"]).versions()][1:] == [run["first"]]
    assert sorted(s[0] for s in seed_of.values()) == [0, 1]
    cells = paper_score_cells()
    for reads in run["reads"].values():
        assert {version for version, _, _ in reads} == set(seed_of)  # each reader read before and after the publish
        for version, seeds, n_scores in reads:  # every query saw one version, whole
            assert seeds == seed_of[version] and n_scores == cells


# (step, seconds after it starts): each kind of write a refresh makes, once. The landed store (shared by every run),
# the candidate lake (land while it copies the published tables into it, a source's land step while it appends,
# dbt while it writes), the step outputs a re-execution reuses (a bootstrap chunk), and publish inside its one lake
# transaction. Another step that writes the candidate as these do (an analysis's fit and summary append as a
# source's land step does; plan_capabilities, describe_analyses) adds a refresh's CPU (15-20 s, the steps before
# it) and no new case: the next run starts a new candidate.
KILL_POINTS = [
    (None, 0.3),  # start-up: the lock, the run's instance
    ("snapshots__safetywashing", 0.0),  # the backfill of the pinned snapshot (its landed copy removed each time)
    ("land", 0.6),
    ("land_safetywashing", 0.0),  # while it appends to the shared logs
    ("dbt_models", 3.5),  # while it writes (its first ~2 s are dbt's start and partial parse: nothing written)
    ("marts__benchmark_correlations.bootstrap_chunk[safetywashing_chat__0]", 0.0),
    ("warehouse__published", 0.16),  # inside its transaction: publish commits ~0.3 s after its start (2026-12-07)
]


FORK_SERVER = """
import json, os, sys, threading
import orchestration.definitions  # what every refresh imports before its first step, imported once
from orchestration.cli import main
assert threading.active_count() == 1  # nothing runs in this process that a fork could cut in half
for line in sys.stdin:
    args, log = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.setsid()  # its own process group, as `start_new_session`: the kill takes dbt with it
        out = os.open(log, os.O_WRONLY | os.O_APPEND)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        sys.argv = ["safetywash", *args]
        try:
            main()
        finally:
            os._exit(70)
    print(pid, flush=True)
    print(os.waitpid(pid, 0)[1], flush=True)
"""
"""Refreshes forked from one process that has imported the definitions (2.2 of the 4.5 CPU seconds of a refresh
that finds nothing new): each is a process of its own, in its own group, unbuffered, killed as any other."""


@pytest.fixture
def refresh_forks():
    server = subprocess.Popen(
        [sys.executable, "-c", FORK_SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    yield server
    server.stdin.close()
    assert server.wait(timeout=60) == 0


def kill_refresh_at(forks, root: Path, step: str | None, delay: float) -> tuple[str, str | None]:
    """Start a refresh (forked by ``forks``), SIGKILL its process group ``delay`` s after ``step`` starts (its
    STEP_START line, read from the run's log as it is written). Return the step and, from the rest of the log, the
    line that says it ended before the kill (None: the kill landed inside it)."""
    log = root.parent / "killed-refresh.log"
    log.write_text("")
    forks.stdin.write(
        json.dumps([refresh_cli(root, "--verbose", "--log-level", "debug", "--resamples", "400"), str(log)])
    )
    forks.stdin.write("\n")
    forks.stdin.flush()
    pid = int(forks.stdout.readline())
    last = "start"
    with open(log) as out:
        if step is None:
            time.sleep(delay)
        else:
            line = ""
            while True:
                line += out.readline()
                if not line.endswith("\n"):  # nothing new yet, or half a line
                    try:
                        os.kill(pid, 0)  # until the fork server has reaped it
                    except ProcessLookupError:
                        pytest.fail(f"the refresh ended before step {step} started: {line}{out.read()}")
                    time.sleep(0.05)
                    continue
                match = re.search(r" - ([^ ]+) - STEP_START - ", line)
                line = ""
                if match:
                    last = match.group(1)
                    if last == step:
                        time.sleep(delay)
                        break
        os.killpg(pid, signal.SIGKILL)
        status = int(forks.stdout.readline())
        rest = out.read()  # every line the run printed before it died (unbuffered)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    if step is None:
        ended = re.search(r" - [^ ]+ - STEP_START - ", rest)  # start-up had ended: a step began
    else:
        ended = re.search(rf" - {re.escape(step)} - STEP_(SUCCESS|FAILURE|SKIPPED) - ", rest)
    return last, ended and ended.group(0).strip()


def test_kill_at_any_step_keeps_the_published_version_and_the_next_run_recovers(warehouse_copy, refresh_forks):
    root = warehouse_copy
    version, marts = Store(root).current_version(), published_marts(root)
    shutil.rmtree(Warehouse(directory=str(root)).landed.root / "safetywashing")  # so the runs fetch and land it again
    killed_in = []
    for step, delay in KILL_POINTS:
        for _ in range(3):  # a kill that came after its step ended proves nothing about the step: again
            if step == "snapshots__safetywashing":  # so the run fetches and lands it again
                shutil.rmtree(Warehouse(directory=str(root)).landed.root / "safetywashing", ignore_errors=True)
            last, ended = kill_refresh_at(refresh_forks, root, step, delay)
            assert Store(root).current_version() == version
            assert all(frame.equals(marts[t]) for t, frame in published_marts(root).items())
            if ended is None:
                break
        else:
            pytest.fail(f"three kills meant for {step or 'start-up'} each came after it ended ({ended})")
        killed_in.append(last)
    assert len(killed_in) == len(KILL_POINTS) and {s.split(".")[0].split("[")[0] for s in killed_in} >= {
        "snapshots__safetywashing",
        "land",
        "land_safetywashing",
        "dbt_models",
        "marts__benchmark_correlations",
        "warehouse__published",
    }
    # the next run, in this process (it is not killed): one interpreter start fewer
    out = CliRunner().invoke(app, refresh_cli(root, "--quiet", "--resamples", "400", "--keep-versions", "1"))
    assert out.exit_code == 0, out.output
    (kept,) = Store(root).versions()  # the version the kills kept is pruned beyond --keep-versions now
    assert kept["version"] == Store(root).current_version() != version
    assert leftovers(root) == []
    gone = cli("sql", "select 1", "--warehouse", str(root), "--version", version)
    assert (
        gone.returncode == 2
        and gone.stderr == f"error: no version {version!r} in {root}; `safetywash versions` lists the kept ones\n"
    )


def test_kill_while_the_dbt_manifest_is_written_never_breaks_it():
    """`dbt parse` killed once it has started (its scratch folder made) and once it has written the manifest there,
    before the manifest replaces the project's: the project's manifest stays whole, and the next start removes the
    dead parse's folder."""
    from orchestration.manifest import MANIFEST, SQL_DIR

    before = MANIFEST.read_bytes()
    code = "from orchestration.manifest import ensure_manifest; ensure_manifest(force=True)"
    for landmark in (".", "manifest.json"):
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=PROJECT, start_new_session=True)
        scratch = SQL_DIR / f".target-{proc.pid}.tmp"  # the parse's folder, named by the process that runs it
        deadline = time.monotonic() + 120
        while not (scratch / landmark).exists():
            assert proc.poll() is None, f"ensure_manifest ended before {scratch / landmark} appeared"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert (scratch / landmark).exists()  # the kill landed inside: the manifest was not yet moved into place
        json.loads(MANIFEST.read_text())  # always whole
    out = subprocess.run(
        [sys.executable, "-c", "import orchestration.definitions"], cwd=PROJECT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr  # and loadable by the next import, with no manual step
    assert json.loads(MANIFEST.read_bytes())["nodes"].keys() == json.loads(before)["nodes"].keys()
    assert list((PROJECT / "sql").glob(".target-*.tmp")) == []


def test_sql_is_sandboxed_by_default(refreshed, tmp_path):
    with Store(refreshed).read(allow_files=True) as con:
        target = Path(
            con.sql("select data_file from ducklake_list_files('sw', 'scores', schema => 'marts')").fetchone()[0]
        )
    own = tmp_path / "mine.csv"
    own.write_text("model_id,note\nLlama-2-13b-chat-hf,mine\n")
    refused = {
        f"copy (select 1 as a) to '{target}'": "file system operations are disabled",  # a lake file
        f"copy (select 1 as a) to '{tmp_path / 'out.csv'}'": "file system operations are disabled",
        "select * from read_csv('/etc/passwd')": "file system operations are disabled",
        f"attach '{tmp_path / 'x.duckdb'}' as x": "file system operations are disabled",
        "install httpfs": "disabled",
        "load httpfs": "disabled",
        "set enable_external_access = true": "the configuration has been locked",
        "create table marts.x as select 1": "read-only mode",
    }
    before = target.read_bytes()
    runner = CliRunner()  # in this process: each query opens its own locked-down connection, as a new process does
    for query, message in refused.items():
        out = runner.invoke(app, ["sql", query, "--warehouse", str(refreshed)])
        assert out.exit_code == 1 and out.stderr.startswith("error: ") and message in out.stderr, (query, out.stderr)
        assert len(out.stderr.splitlines()) == 1
    assert (
        target.read_bytes() == before and not (tmp_path / "x.duckdb").exists() and not (tmp_path / "out.csv").exists()
    )
    joined = runner.invoke(
        app,
        [
            "sql",
            f"select s.model_id, note from marts.models s join read_csv('{own}') using (model_id) limit 1",
            "--warehouse",
            str(refreshed),
            "--allow-files",
            "-f",
            "csv",
        ],
    )
    assert joined.exit_code == 0 and joined.stdout == "model_id,note\nLlama-2-13b-chat-hf,mine\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--confidence-level", "1.5"], "error: --confidence-level: Input should be less than 1 (got 1.5)"),
        (["--resamples", "1"], "error: --resamples: Input should be greater than or equal to 2 (got 1)"),
        (["--resamples", "many"], "error: Invalid value for '--resamples'"),
        (["--ci-method", "normal"], "error: Invalid value for '--ci-method'"),
        (["--warehouse", "{tmp}/a-file/wh"], "error: cannot use the warehouse folder {tmp}/a-file/wh: Not a directory"),
        (
            ["--warehouse", "/sys/safetywash"],
            "error: cannot use the warehouse folder /sys/safetywash: ",
        ),  # read-only mount
    ],
)
def test_bad_settings_and_unusable_warehouses_fail_fast_in_two_lines(tmp_path, args, message):
    (tmp_path / "a-file").write_text("")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--warehouse" not in args:
        args += ["--warehouse", str(tmp_path / "wh")]
    out = subprocess.run(
        [sys.executable, "-c", LIGHT_CLI, "refresh", *args], capture_output=True, text=True, cwd=PROJECT
    )
    assert out.returncode == 2
    stderr, heavy = heavy_imports(out.stderr)
    assert stderr.startswith(message.replace("{tmp}", str(tmp_path))), stderr
    assert len(stderr.splitlines()) <= 2 and out.stdout == ""
    assert heavy == []  # refused before dagster, dbt, numba or sklearn is imported
    assert not (tmp_path / "wh").exists()  # refused before anything was made


def test_bad_launchpad_config_fails_before_any_step(tmp_path):
    from dagster import DagsterInvalidConfigError
    from dagster._core.errors import DagsterConfigMappingFunctionError

    from conftest import all_definitions

    job = all_definitions().resolve_job_def("refresh")
    resources = {"warehouse": {"config": {"directory": str(tmp_path)}}}
    with pytest.raises(DagsterConfigMappingFunctionError) as info:
        job.execute_in_process(
            run_config={
                "resources": resources,
                "ops": {"marts__benchmark_correlations": {"config": {"confidence_level": 1.5}}},
            }
        )
    assert str(info.value.user_exception) == (
        "marts__benchmark_correlations.confidence_level: Input should be less than 1 (got 1.5)"
    )
    with pytest.raises(DagsterInvalidConfigError, match="capabilities"):
        job.execute_in_process(
            run_config={"resources": resources, "ops": {"capabilities": {"config": {"method": "svd"}}}}
        )
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_versions_are_listed_kept_and_readable(published_under_readers):
    root, first = published_under_readers["root"], published_under_readers["first"]
    assert published_under_readers["result"].returncode == 0
    kept = Store(root).versions()
    assert [v["version"] for v in kept][1:] == [first] and kept[0]["version"] == Store(root).current_version()
    with Store(root).read(allow_files=True) as con:  # the expired snapshots' files are deleted, no orphan left
        named = {
            Path(p).name
            for (p,) in con.execute("select path from __ducklake_metadata_sw.ducklake_data_file").fetchall()
        }
        oldest = con.execute("select min(snapshot_id) from sw.snapshots()").fetchone()[0]
    on_disk = {p.name for p in (root / "lake" / "data").rglob("*.parquet")}
    assert on_disk and on_disk <= named and oldest > 0
    assert kept[0]["row_counts"]["scores"] == paper_score_cells() and {s["source"] for s in kept[0]["sources"]} == {
        "safetywashing"
    }
    listing = cli("versions", "--warehouse", str(root))
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert lines[0].startswith(f"* {kept[0]['version']}  snapshot {kept[0]['snapshot_id']}  published ")
    assert lines[1].startswith(f"  {kept[1]['version']}")
    with Store(root).read() as con:
        tables = [
            t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()
        ]
        total = sum(con.execute(f"select count(*) from marts.{t}").fetchone()[0] for t in tables)
    assert "safetywashing@ab48125dc86a" in lines[0] and f"{total} mart rows" in lines[0]
    old = cli(
        "sql",
        "select distinct bootstrap_seed from marts.benchmark_correlations",
        "--warehouse",
        str(root),
        "--version",
        kept[1]["version"],
        "-f",
        "csv",
    )
    assert old.stdout == "bootstrap_seed\n0\n"


def test_a_run_whose_candidate_was_discarded_cannot_continue_on_a_new_one(tmp_path):
    from assets.warehouse import WarehouseError

    store = Store(tmp_path)
    first = store.candidate("run-a")
    (first.work_dir / "bootstrap").mkdir(parents=True)
    assert store.candidate("run-a").work_dir.is_dir()  # a re-execution of run-a continues it
    store.candidate("run-b")  # another run starts: run-a's candidate is discarded
    assert not (first.work_dir / "bootstrap").exists()
    with pytest.raises(
        WarehouseError, match=r"the candidate of run run-a in .* was discarded when another refresh started"
    ):
        store.candidate("run-a")
    assert store.candidate("run-b").run_key == "run-b"


def test_doubles_keep_every_bit_through_the_candidate_and_publish(tmp_path):
    """A small table of doubles written into a candidate, published, and read back: the same bits (DuckLake's
    inlining of small tables into a DuckDB catalog rounded 2 of these 9 values: the candidate does not inline)."""
    import numpy as np

    from assets.warehouse import replace_tables

    values = [float(v) for v in np.random.default_rng(0).random(8)] + [1 - 602 / 795]
    store = Store(tmp_path)
    candidate = store.candidate("run-a")
    with candidate.connect() as con:
        con.execute("create schema if not exists marts")
        replace_tables(con, {"marts.small": (pl.DataFrame({"v": values}), "nine doubles")})
        assert [v for (v,) in con.execute("select v from marts.small").fetchall()] == values
    store.publish(candidate, "run-a", {})
    with store.read() as con:
        assert [v for (v,) in con.execute("select v from marts.small").fetchall()] == values


def test_a_table_in_parquet_is_copied_by_linking_its_files_and_any_other_by_a_query(tmp_path):
    """Between two lakes: a table whose rows are all in Parquet files gets the same files, hard-linked (one
    inode, no row read or written); one with rows inlined in its catalog, or with deleted rows, is copied by
    a query. Each reads back equal to its source."""
    from assets import lake

    source = lake.LakeAddress(f"sqlite:{tmp_path}/source.sqlite", f"{tmp_path}/source/")
    target = lake.LakeAddress(str(tmp_path / "target.ducklake"), f"{tmp_path}/target/")
    big = pl.DataFrame({"i": range(5000), "x": [i / 7 for i in range(5000)]})
    with lake.session((source, "s", {"create": True}), (target, "t", {"create": True})) as con:
        con.execute("call s.set_option('data_inlining_row_limit', 10)")  # a lake made with DuckLake's default
        con.execute("create schema s.marts")
        con.register("big", big.to_arrow())
        con.execute("create table s.marts.big as select * from big")
        con.execute("create table s.marts.trimmed as select * from big")
        con.execute("delete from s.marts.trimmed where i < 10")
        con.execute("create table s.marts.small as select 1 as i, 0.5 as x")  # a SQLite catalog inlines 1 row
        assert not con.execute("select * from ducklake_list_files('s', 'small', schema => 'marts')").fetchall()
        con.execute("begin")
        lake.copy_tables(con, "s", "t", lake.lake_tables(con, "s"), data_path=target.data_path)
        con.execute("commit")
        for table, rows in (("big", 5000), ("trimmed", 4990), ("small", 1)):
            copied = con.execute(f"select * from t.marts.{table} order by i").fetchall()
            assert copied == con.execute(f"select * from s.marts.{table} order by i").fetchall() and len(copied) == rows

        def links(alias, table):
            files = con.execute(
                f"select data_file from ducklake_list_files('{alias}', '{table}', schema => 'marts')"
            ).fetchall()
            return [(Path(f).stat().st_ino, Path(f).stat().st_nlink) for (f,) in files]

        assert links("t", "big") == links("s", "big") and {n for _, n in links("t", "big")} == {2}
        assert {n for _, n in links("t", "trimmed")} == {n for _, n in links("t", "small")} == {1}
        assert all(
            Path(f).is_relative_to(tmp_path / "target" / "marts" / "big")
            for (f,) in con.execute(
                "select data_file from ducklake_list_files('t', 'big', schema => 'marts')"
            ).fetchall()
        )


def test_a_lake_that_kept_rows_in_its_catalog_writes_them_out_when_opened_to_write(tmp_path):
    """A lake made with DuckLake's default inlining (small tables' rows in the catalog), opened to write,
    turns inlining off and writes those rows to Parquet files: the same rows, every one now in a file."""
    from assets import lake

    address = lake.LakeAddress(f"sqlite:{tmp_path}/old.sqlite", f"{tmp_path}/data/")
    values = [(i, i / 7 + 1e-13 * i) for i in range(3)]
    with lake.session((address, "s", {"create": True})) as con:
        con.execute("call s.set_option('data_inlining_row_limit', 10)")
        con.execute("create table s.small (i integer, x double)")
        con.executemany("insert into s.small values (?, ?)", values)
        assert lake.inlines(con, "s")
        assert not con.execute("select * from ducklake_list_files('s', 'small')").fetchall()
    with lake.session((address, "s", {"create": True})) as con:
        assert not lake.inlines(con, "s")
        files = [f for (f,) in con.execute("select data_file from ducklake_list_files('s', 'small')").fetchall()]
        assert con.execute("select sum(num_rows) from parquet_file_metadata(?)", [files]).fetchone()[0] == 3
        assert con.execute("select i, x from read_parquet(?) order by i", [files]).fetchall() == values
        assert con.execute("select i, x from s.small order by i").fetchall() == values


def test_the_catalog_readers_agree_with_duckdbs_views_now_and_at_an_older_snapshot(tmp_path):
    """lake_tables reads DuckLake's catalog tables (DuckDB's own views ask every table for its size): the same
    tables and comments as duckdb_tables(), for the lake as it is and as it was at an older snapshot, and
    the same column comments as duckdb_columns()."""
    from assets import lake

    address = lake.LakeAddress(f"sqlite:{tmp_path}/c.sqlite", f"{tmp_path}/data/")
    with lake.session((address, "s", {"create": True})) as con:
        con.execute("create schema s.marts")
        con.execute("create table s.marts.a as select 1 as i")
        con.execute("create table s.raw_a as select 1 as i")
        con.execute("comment on table s.marts.a is 'first a'")
        con.execute("comment on column s.marts.a.i is 'an i'")
        older = lake.latest_snapshot(con, "s")
        con.execute("drop table s.raw_a")
        con.execute("create table s.marts.b as select 2 as j")
        con.execute("comment on table s.marts.a is 'second a'")

    def views(con, alias):
        tables = con.execute(
            "select schema_name, table_name, comment from duckdb_tables() where database_name = ? order by 1, 2",
            [alias],
        ).fetchall()
        columns = con.execute(
            "select schema_name, table_name, column_name, comment from duckdb_columns() "
            "where database_name = ? and comment is not null",
            [alias],
        ).fetchall()
        return tables, sorted(columns)

    for options, expected in (
        ({}, [("marts", "a", "second a"), ("marts", "b", None)]),
        ({"snapshot": older}, [("main", "raw_a", None), ("marts", "a", "first a")]),
    ):
        with lake.session((address, "s", {"read_only": True, **options})) as con:
            tables, columns = views(con, "s")
            assert lake.lake_tables(con, "s") == tables == expected
            assert sorted(lake._column_comments(con, "s")) == columns == [("marts", "a", "i", "an i")]
            ids = {(s, t) for s, t, _ in lake._current_tables(con, "s")}
            assert ids == {(s, t) for s, t, _ in expected}
            assert [r[0] for r in lake.snapshot_log(con, "s")] == [
                r[0] for r in con.execute("select snapshot_id from s.snapshots() order by 1 desc").fetchall()
            ]
