"""The distributed profile on real services (Redis, Postgres, SeaweedFS, two Celery workers on 127.0.0.1):
the same refresh as in-process, bit for bit, published into a lake whose catalog is in Postgres and whose data
is on S3, its steps on both workers at once, a reader that has only the lake's address, and a worker killed
mid-run."""

import os
import signal
import subprocess
import sys
import time

import dagster as dg
import pytest
from typer.testing import CliRunner

from orchestration import local_cluster as services
from orchestration.cli import app
from assets.files import open_filesystem
from assets.warehouse import Store, query_frame
from conftest import EVERY_SOURCE_B, MIRROR, PROJECT
from test_publish import leftovers, refresh_cli

pytestmark = pytest.mark.services

# set when a snapshot is parsed: the only column of the marts that names the moment of the run
RUN_TIME_COLUMNS = {"snapshots": ["parsed_at"], "analyses": ["computed_in_run"]}  # which run, when: not a result


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, every_source):  # the in-process reference first, in its own folder's lake
    with services.cluster(tmp_path_factory.mktemp("cluster"), workers=2) as made:
        with pytest.MonkeyPatch.context() as patch:  # this process reads the same lake as the workers
            for name, value in made.lake_env().items():
                patch.setenv(name, value)
            yield made


def refresh(cluster, root, *extra, wait=True, env=None):
    env = env or cluster.env()
    args = [
        sys.executable,
        "-m",
        "orchestration",
        "refresh",
        "--warehouse",
        str(root),
        "--mirror",
        str(MIRROR),
        "--resamples",
        str(EVERY_SOURCE_B),
        "--quiet",
        *extra,
    ]
    if wait:
        return subprocess.run(args, env=env, capture_output=True, text=True, cwd=PROJECT)
    return subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT, start_new_session=True
    )


def all_marts(root, store=None):
    """Every table of schema marts in the published version, sorted."""
    with (store or Store(root)).read() as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'marts' order by 1"
            ).fetchall()
        ]
        return {t: query_frame(con, f"select * from marts.{t} order by all") for t in tables}


def marts(root, store=None):
    return {t: f.drop(RUN_TIME_COLUMNS.get(t, [])) for t, f in all_marts(root, store).items()}


def differences(got, expected) -> dict:
    """The columns where two frames of one shape differ, with their first differing values."""
    if got.shape != expected.shape:
        return {"shape": (got.shape, expected.shape)}
    out = {}
    for column in expected.columns:
        pairs = [(a, b) for a, b in zip(got[column].to_list(), expected[column].to_list()) if a != b]
        if pairs:
            out[column] = pairs[:2]
    return out


def local(root):
    """The in-process reference warehouse's own lake (this process's environment names the cluster's)."""
    return Store(root, catalog=f"sqlite:{root}/lake/catalog.sqlite", data_path=f"{root}/lake/data/")


def run_logs(cluster, run_id):
    with dg.DagsterInstance.from_config(str(cluster.dagster_home)) as instance:
        return instance.all_logs(run_id)


@pytest.fixture(scope="module")
def killed(cluster, tmp_path_factory) -> dict:
    """The paper's source published alone, then a refresh of every source that loses both workers mid-run, and the
    worker that died whole started again: what the killed run printed, and the warehouse before and after it.

    While both workers run a step, the process running one worker's step dies (as under the OOM killer): Celery
    reports the worker lost and the pool replaces the process. The other worker dies whole (its host lost): no one
    answers for its step, and the CLI's watch fails the step after SAFETYWASH_WORKER_TIMEOUT."""
    root = tmp_path_factory.mktemp("distributed") / "warehouse"
    # the version readers keep: published by an in-process run (the local profile) into the same lake, as fast as
    # locally (on the workers, 35 steps of the paper's source alone took 54 s, in-process about 20); the CLI runs in
    # this process, as in test_end_to_end: one interpreter start fewer
    local = {**cluster.env(), "SAFETYWASH_PROFILE": "local"}
    first = CliRunner().invoke(app, refresh_cli(root, "--resamples", "20", "--quiet"), env=local)
    assert first.exit_code == 0, first.output
    version, before = Store(root).current_version(), marts(root)
    env = {**cluster.env(), "SAFETYWASH_WORKER_TIMEOUT": "8"}
    # the first moment both workers run a step that writes: two sources landing, two fits, or two bootstrap chunks
    # (B=2,000: arena_vs_epoch's bootstrap is 8 chunk steps of seconds each, so that moment comes)
    proc = refresh(cluster, root, "--resamples", "2000", wait=False, env=env)
    held = _tasks_running(cluster, ("land_", "fit_analysis", "bootstrap_chunk"), proc)
    assert len(held) == 2, "the two workers did not run a land, capabilities or bootstrap step at once: " + (
        proc.stdout.read() if proc.poll() is not None else str(held)
    )
    (_, pool_pid), (worker_killed, _) = sorted(held.items())
    lost = worker_killed.split("@")[0]
    os.kill(pool_pid, signal.SIGKILL)
    os.killpg(cluster.workers[lost].pid, signal.SIGKILL)
    output = proc.stdout.read()
    code = proc.wait(timeout=300)
    after = {"version": Store(root).current_version(), "marts": marts(root)}
    cluster.start_worker(lost)
    return {
        "root": root,
        "version": version,
        "before": before,
        "after": after,
        "code": code,
        "output": output,
        "worker_killed": worker_killed,
    }


@pytest.fixture(scope="module")
def distributed(killed, cluster):
    """The refresh after the killed one, on both workers: it publishes every source."""
    root = killed["root"]
    out = refresh(cluster, root)
    assert out.returncode == 0, out.stdout + out.stderr
    return root


def test_a_refresh_on_celery_workers_equals_the_in_process_one_bit_for_bit(distributed, every_source, cluster):
    root = distributed
    reference = marts(every_source["root"], local(every_source["root"]))
    got = marts(root)
    assert len(got) == 15 and got.keys() == reference.keys() and got["scores"].height > 100_000
    for table, frame in reference.items():
        assert got[table].equals(frame), (table, differences(got[table], frame))
    assert leftovers(root) == []
    # the run is in the Postgres instance the workers share, its step values on the S3 server as JSON
    run_id = Store(root).versions()[0]["run_id"]
    fs, base = open_filesystem(cluster.objects, cluster.s3_endpoint, services.S3_KEY, services.S3_SECRET)
    specs = [info.path for info in fs.get_file_info(dg_selector(base, run_id)) if info.path.endswith(".json")]
    assert any("plan_bootstrap" in path for path in specs)
    # no folder is shared: the raw files and landed snapshots are on S3, the launching CLI's folder holds its lock,
    # log and report, each worker's folder its own scratch (dbt's target folder, the report it drew)
    objects = Store(root, objects=cluster.objects).objects
    assert objects.is_s3 and {"raw", "landed", "report"} <= set(objects.names(""))
    assert objects.names("landed/v1/safetywashing") and objects.names("raw/safetywashing")
    assert {p.name for p in root.iterdir()} <= {".refresh.lock", "logs", "report"} and (
        root / "report" / "report.html"
    ).is_file()
    for folder in cluster.warehouses:
        assert {p.name for p in folder.iterdir()} <= {"candidate", "report"}, folder
        assert (
            {p.name for p in (folder / "candidate").iterdir()} <= {"work"} if (folder / "candidate").exists() else True
        )
    # the lake: catalog in Postgres, data files on S3
    assert Store(root).lake.uri.startswith("ducklake:postgres:") and not (root / "lake").exists()
    with Store(root).read() as con:
        files = con.sql("select data_file from ducklake_list_files('sw', 'scores', schema => 'marts')").fetchall()
    assert files and all(f.startswith("s3://safetywash/lake/") for (f,) in files)


def dg_selector(base, run_id):
    import pyarrow.fs as pafs

    return pafs.FileSelector(f"{base}/io/{run_id}", recursive=True)


def test_steps_run_on_both_workers_at_once(distributed, cluster):
    root = distributed
    run_id = Store(root).versions()[0]["run_id"]
    logs = run_logs(cluster, run_id)
    worker_of = {}
    for entry in logs:
        event = entry.dagster_event
        if event and event.is_engine_event and "Celery worker" in (event.engine_event_data.metadata or {}):
            worker_of[event.step_key] = event.engine_event_data.metadata["Celery worker"].value
    assert {w.split("@")[0] for w in worker_of.values()} == {"w1", "w2"}
    spans = {}
    for entry in logs:
        event = entry.dagster_event
        if event and event.step_key in worker_of and event.event_type_value in ("STEP_START", "STEP_SUCCESS"):
            spans.setdefault(event.step_key, {})[event.event_type_value] = entry.timestamp
    overlapping = [
        (a, b)
        for a in spans
        for b in spans
        if worker_of[a] < worker_of[b]
        and spans[a]["STEP_START"] < spans[b]["STEP_SUCCESS"]
        and spans[b]["STEP_START"] < spans[a]["STEP_SUCCESS"]
    ]
    assert overlapping, {k: (worker_of[k], v) for k, v in spans.items()}
    # the candidate's writers too: two sources landing at once, two analyses fitted at once (concurrent appends)
    lands = [(a, b) for a, b in overlapping if a.startswith("land_") and b.startswith("land_")]
    fits = [
        (a, b)
        for a, b in overlapping
        if a.startswith("capabilities.fit_analysis[") and b.startswith("capabilities.fit_analysis[")
    ]
    assert lands and all(a != b for a, b in lands), {
        k: (worker_of[k], v) for k, v in spans.items() if k.startswith("land")
    }
    assert fits, {k: (worker_of[k], v) for k, v in spans.items() if k.startswith("capabilities")}


def test_a_worker_killed_mid_run_fails_the_run_cleanly_and_a_rerun_completes(killed, distributed):
    """Two kills in one run (see ``killed``): the run fails and publishes nothing, and the readers keep the version
    before it; the next refresh completes and publishes."""
    output = killed["output"]
    assert killed["code"] == 1, output
    assert "nothing was published" in output, output
    assert "Worker exited prematurely: signal 9 (SIGKILL)" in output, output  # Celery's own report
    assert f"Celery worker {killed['worker_killed']} has not been heard from for 8 s" in output, output  # the watch's
    assert killed["after"]["version"] == killed["version"]
    assert all(frame.equals(killed["before"][t]) for t, frame in killed["after"]["marts"].items())
    assert killed["after"]["marts"].keys() == killed["before"].keys()
    assert Store(distributed).current_version() not in (None, killed["version"]) and leftovers(distributed) == []


def _tasks_running(cluster, steps, proc) -> dict[str, int]:
    """{worker: pool pid} of a task running a step whose key contains one of ``steps`` on every worker at the
    same moment (Celery's own view of its active tasks); fewer workers if that moment did not come
    while the run lasted."""
    from celery import Celery

    app = Celery("dagster", broker=cluster.broker, backend=cluster.broker)
    deadline = time.monotonic() + 240
    busy = {}
    while time.monotonic() < deadline and proc.poll() is None:
        busy = {}
        for worker, tasks in (app.control.inspect(timeout=0.3).active() or {}).items():
            for task in tasks:
                # the task's own steps (its arguments also name every step before it, in the run's known state)
                own = ((task.get("kwargs") or {}).get("execute_step_args_packed") or {}).get("step_keys_to_execute")
                if any(step in key for key in own or [] for step in steps):
                    busy[worker] = task["worker_pid"]
        if len(busy) == len(cluster.workers):
            return busy
        time.sleep(0.2)  # each inspection is a broadcast every worker answers: not in a busy loop
    return busy


def test_a_reader_with_only_the_lake_address_reads_the_current_and_an_older_version(
    killed, distributed, cluster, tmp_path
):
    """The lake holds the paper's first version and the every-source one published after the killed run."""
    root = distributed
    current, older = [v["version"] for v in Store(root).versions()[:2]]
    assert older == killed["version"]
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        **cluster.lake_env(),
        "SAFETYWASH_WAREHOUSE": str(tmp_path / "elsewhere"),
    }  # another host: no warehouse folder, no Dagster

    def sql(*args):
        out = subprocess.run(
            [sys.executable, "-m", "orchestration", "sql", "-f", "csv", *args],
            env=env,
            capture_output=True,
            text=True,
            cwd=PROJECT,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    query = "select version from meta.version"
    assert sql(query) == f"version\n{current}\n"
    assert sql(query, "--version", older) == f"version\n{older}\n"  # time travel
    assert sql("select count(*) n from marts.scores") == f"n\n{all_marts(root)['scores'].height}\n"
    assert not (tmp_path / "elsewhere").exists()
