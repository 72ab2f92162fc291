"""A one-host cluster of the distributed profile's services on 127.0.0.1: Redis, PostgreSQL (a throw-away cluster),
SeaweedFS (S3) and Celery workers, each started as a process and stopped by its PID. The tests and
`benchmarks/scale.py` run the distributed refresh on it; it needs Debian's `redis-server` and `postgresql`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
S3_KEY, S3_SECRET = "safetywash-test", "safetywash-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, ready, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{what} did not start (exit {proc.poll()}):\n{tail}")
        time.sleep(0.2)


@contextmanager
def _process(args: list[str], log: Path, env: dict | None = None, stop=signal.SIGTERM, cwd: Path | None = None):
    with log.open("w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, stop)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def redis(tmp: Path):
    port = free_port()
    with _process(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
        ],
        tmp / "redis.log",
    ) as proc:
        _wait("redis-server", lambda: _port_open(port), proc, tmp / "redis.log")
        yield f"redis://127.0.0.1:{port}", proc


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian package `postgresql`)")
    return str(found[-1])


@contextmanager
def postgres():
    """A throw-away cluster in a temporary folder, owned by the `postgres` user when run as root."""
    import psycopg2

    folder = Path(tempfile.mkdtemp(prefix="safetywash-pg-"))
    port = free_port()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    try:
        subprocess.run(
            [*as_user, _pg_bin("initdb"), "-D", str(folder / "data"), "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True,
            capture_output=True,
        )
        log = folder / "postgres.log"
        if as_user:
            log.touch()
            shutil.chown(log, "postgres")
        with _process(
            [
                *as_user,
                _pg_bin("postgres"),
                "-D",
                str(folder / "data"),
                "-p",
                str(port),
                "-k",
                str(folder),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            folder / "postgres.log",
            stop=signal.SIGINT,
        ) as proc:

            def ready() -> bool:
                try:
                    psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres").close()
                    return True
                except psycopg2.OperationalError:
                    return False

            _wait("postgres", ready, proc, folder / "postgres.log")
            con = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
            con.autocommit = True
            con.cursor().execute("create database dagster")
            con.cursor().execute("create database lake")  # the published lake's DuckLake catalog
            con.close()
            yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/dagster", proc
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def seaweedfs(tmp: Path):
    """`weed mini` (S3 API) with one identity; yields the S3 endpoint it reports."""
    folder = tmp / "seaweedfs"
    folder.mkdir()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET}
    log = tmp / "seaweedfs.log"
    with _process(
        [str(BIN / "weed"), "mini", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false", f"-dir={folder}"],
        log,
        env=env,
        cwd=folder,
    ) as proc:
        endpoint: list[str] = []

        def ready() -> bool:
            found = re.search(r"S3 Endpoint:\s+(http://127\.0\.0\.1:(\d+))", log.read_text(errors="replace"))
            if found and _port_open(int(found.group(2))):
                endpoint.append(found.group(1))
                return True
            return False

        _wait("weed mini", ready, proc, log, timeout=90)
        yield endpoint[0], proc


@dataclass
class Cluster:
    broker: str
    dagster_home: Path
    objects: str
    s3_endpoint: str
    catalog: str = ""
    data_path: str = ""
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)  # by worker name: w1, w2, ...
    logs: dict[str, Path] = field(default_factory=dict)
    warehouses: list[Path] = field(default_factory=list)  # each worker's own warehouse folder
    _start: Callable[[str], subprocess.Popen] | None = field(default=None, repr=False)

    def start_worker(self, name: str) -> subprocess.Popen:
        """Start Celery worker ``name`` again after it died (as a host's service manager would): the same name and
        warehouse folder, a new log."""
        return self._start(name)

    def env(self) -> dict[str, str]:
        """The environment of `safetywash refresh` with SAFETYWASH_PROFILE=distributed on this cluster."""
        return {
            **os.environ,
            "SAFETYWASH_PROFILE": "distributed",
            "DAGSTER_HOME": str(self.dagster_home),
            "SAFETYWASH_CELERY_BROKER": self.broker,
            "SAFETYWASH_OBJECTS": self.objects,
            "SAFETYWASH_S3_ENDPOINT": self.s3_endpoint,
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "PYTHONUNBUFFERED": "1",
            **self.lake_env(),
        }

    def lake_env(self) -> dict[str, str]:
        """All a reader on another host needs: the lake's catalog address and its S3 data and keys."""
        return {
            "SAFETYWASH_CATALOG": self.catalog,
            "SAFETYWASH_DATA_PATH": self.data_path,
            "SAFETYWASH_S3_ENDPOINT": self.s3_endpoint,
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
        }


INSTANCE_YAML = """storage:
  postgres:
    postgres_url: "{url}"
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
telemetry:
  enabled: false
"""


def start_worker(
    cluster: Cluster,
    stack: ExitStack,
    name: str,
    config_dir: Path,
    tmp: Path,
    env: dict | None = None,
    pythonpath: list[Path] = (),
) -> subprocess.Popen:
    env = {**cluster.env(), **(env or {}), "PYTHONPATH": os.pathsep.join(map(str, [config_dir, *pythonpath]))}
    log = tmp / f"worker-{name}.log"
    if name in cluster.logs:  # started again: the dead worker's log stays beside
        log = log.with_name(f"worker-{name}-{sum(1 for _ in tmp.glob(f'worker-{name}*.log')) + 1}.log")
    proc = stack.enter_context(
        _process(
            [
                str(BIN / "celery"),
                "-A",
                "dagster_celery.app",
                "worker",
                "-E",
                "--prefetch-multiplier=1",
                "--concurrency=1",
                "-Q",
                "dagster",
                "-n",
                f"{name}@%h",
                "--loglevel",
                "INFO",
            ],
            log,
            env=env,
            cwd=PROJECT,
        )
    )
    _wait(f"celery worker {name}", lambda: "ready." in log.read_text(errors="replace"), proc, log, timeout=120)
    cluster.workers[name], cluster.logs[name] = proc, log
    return proc


@contextmanager
def cluster(tmp: Path, workers: int = 2, env: dict | None = None, pythonpath: list[Path] = ()):
    """Redis, Postgres, SeaweedFS and ``workers`` Celery workers (with ``env`` and ``pythonpath`` added, each with
    its own warehouse folder ``<tmp>/warehouse-w<i>``), stopped (by PID) on exit."""
    tmp.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        broker, _ = stack.enter_context(redis(tmp))
        pg_url, _ = stack.enter_context(postgres())
        s3, _ = stack.enter_context(seaweedfs(tmp))
        home = tmp / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(INSTANCE_YAML.format(url=pg_url))
        config_dir = tmp / "celery_config"
        config_dir.mkdir()
        (config_dir / "dagster_celery_config.py").write_text(f"broker_url = {broker!r}\nresult_backend = {broker!r}\n")
        port = pg_url.rsplit(":", 1)[1].split("/")[0]
        made = Cluster(
            broker,
            home,
            "s3://safetywash/objects",
            s3,
            catalog=f"postgres:dbname=lake host=127.0.0.1 port={port} user=postgres",
            data_path="s3://safetywash/lake/",
        )

        def start(name: str) -> subprocess.Popen:  # each worker in a warehouse folder of its own: none is shared
            folder = tmp / f"warehouse-{name}"
            if folder not in made.warehouses:
                made.warehouses.append(folder)
            own = {**(env or {}), "SAFETYWASH_WAREHOUSE": str(folder)}
            return start_worker(made, stack, name, config_dir, tmp, own, pythonpath)

        made._start = start
        for i in range(workers):
            start(f"w{i + 1}")
        yield made
