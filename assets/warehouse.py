"""The warehouse on disk: published versions, the candidate a refresh builds, the raw store, the lock.

The one home of the write path, shared by the assets, the CLI and the tests. No dagster import, so the
CLI can take the lock and answer readers before the heavy imports.

Layout of a warehouse folder::

    safetywash.duckdb -> current/safetywash.duckdb    fixed links: what users and notebooks open
    parquet           -> current/parquet
    current           -> versions/<id>                 the pointer, replaced atomically by a publish
    versions/<id>/    safetywash.duckdb, parquet/, version.json   (read-only once published)
    candidate/        the refresh being built: a copy of the current version, then the run's writes
    raw/<source>/<sha256><suffix>                      append-only, content-addressed, fsynced
    dbt_state/        dbt's partial-parse cache of this warehouse
    .refresh.lock     one writer at a time (flock)

A refresh writes only into ``candidate/``. Publishing checkpoints it, turns it into ``versions/<id>``
with one rename and swings ``current`` to it with a second (``rename(2)`` of a link): readers see the
old version or the new one, whole, and never wait for a writer, because no published file is written
again. A run that stops anywhere leaves ``current`` untouched; the next run discards the leftovers.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WAREHOUSE = PROJECT_ROOT / "warehouse"
DUCKDB_FILE = "safetywash.duckdb"
PARQUET_DIR = "parquet"
VERSION_FILE = "version.json"
RUN_FILE = "run.json"
LOCK_FILE = ".refresh.lock"
DISCARDED_DIR = ".discarded"  # one empty file per run whose candidate a later run discarded (the newest kept)
TOMBSTONE_DAYS = 30
TOMBSTONE_KEEP = 100  # and at most this many, the newest
DEFAULT_KEEP_VERSIONS = 5
# the Dagster concurrency pool of every step that writes the warehouse (limit 1 in dagster.yaml)
WRITER_POOL = "safetywash_warehouse"
# dbt leaves these behind when it dies between building a table and swapping it in
DBT_LEFTOVER_SUFFIXES = ("__dbt_tmp", "__dbt_backup")
# DuckDB settings of every reader connection; `lock_configuration` keeps a query from turning them back
SANDBOX = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "lock_configuration": True,
}


class WarehouseError(RuntimeError):
    """An expected failure of the warehouse (busy, unusable folder, nothing published, bad raw file).

    The message is complete for the user: what is wrong and what to do, no traceback needed.
    """


class WarehouseBusy(WarehouseError):
    """Another process holds the writer lock."""


def warehouse_dir(configured: str | os.PathLike = "") -> Path:
    """The warehouse folder: ``configured``, else ``$SAFETYWASH_WAREHOUSE``, else ``<project>/warehouse``."""
    chosen = str(configured) or os.environ.get("SAFETYWASH_WAREHOUSE") or DEFAULT_WAREHOUSE
    return Path(chosen).expanduser().absolute()


def query_frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    """Run ``sql`` and return the result as a polars frame (through Arrow)."""
    relation = con.sql(sql, params=params)
    return pl.DataFrame() if relation is None else pl.from_arrow(relation.to_arrow_table())


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Everything inside commits together, or not at all."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def write_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, comment: str | None = None) -> None:
    """Create or replace ``schema.table`` with ``frame``, described by ``comment``."""
    con.execute(f"create schema if not exists {table.split('.')[0]}")
    con.register("frame_to_write", frame.to_arrow())
    con.execute(f"create or replace table {table} as select * from frame_to_write")
    con.unregister("frame_to_write")
    if comment:
        con.execute(f"comment on table {table} is '{comment.replace(chr(39), chr(39) * 2)}'")


def replace_tables(con: duckdb.DuckDBPyConnection, tables: Mapping[str, tuple[pl.DataFrame, str | None]]) -> None:
    """Replace every ``schema.table`` of ``tables`` with its frame, and its comment, in one transaction."""
    with transaction(con):
        for table, (frame, comment) in tables.items():
            write_table(con, table, frame, comment)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _write_atomically(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` whole or not at all (fsynced temporary file, then ``rename(2)``)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if mode is not None:
        tmp.chmod(mode)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _link_atomically(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` (relative) in one ``rename(2)``: never absent, never half-made."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


# ---------------------------------------------------------------------------------------------- lock

_held = threading.local()


@contextmanager
def writer_lock(root: Path, *, wait: bool, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold ``<root>/.refresh.lock`` (flock): one writer at a time on every path (CLI, UI, schedule).

    Re-entrant within a thread, so the CLI can take it before its imports and the run's resource can
    take it again. ``wait=False`` raises :class:`WarehouseBusy` naming the holder; ``wait=True`` calls
    ``on_wait(holder)`` once and blocks until the holder is done.
    """
    held: dict[Path, int] = _held.__dict__.setdefault("paths", {})
    if held.get(root):
        held[root] += 1
        try:
            yield
        finally:
            held[root] -= 1
        return
    try:
        root.mkdir(parents=True, exist_ok=True)
        fh = open(root / LOCK_FILE, "a+")
    except OSError as exc:
        raise WarehouseError(f"cannot use the warehouse folder {root}: {exc.strerror or exc}") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            if not wait:
                raise WarehouseBusy(
                    f"another refresh ({holder}) is writing the warehouse {root}; "
                    "wait for it, or run again with --wait"
                ) from None
            if on_wait:
                on_wait(holder)
            fcntl.flock(fh, fcntl.LOCK_EX)
        _note_holder(fh.fileno(), f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S%z')}")
        held[root] = 1
        try:
            yield
        finally:
            held.pop(root, None)
            _note_holder(fh.fileno(), "")
            fcntl.flock(fh, fcntl.LOCK_UN)


def _note_holder(fd: int, text: str) -> None:
    """Who holds the lock, for the waiting message: a courtesy, so a full disk does not stop the writer."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)
    except OSError:
        pass


# ----------------------------------------------------------------------------------------- candidate


@dataclass(frozen=True)
class Candidate:
    """The warehouse a refresh builds: a private copy of the current version plus the run's writes."""

    root: Path
    run_key: str

    @property
    def duckdb_path(self) -> Path:
        return self.root / DUCKDB_FILE

    @property
    def parquet_dir(self) -> Path:
        return self.root / PARQUET_DIR

    @property
    def work_dir(self) -> Path:
        """Scratch space of the run (bootstrap replicates, dbt target); removed before publishing."""
        return self.root / "work"

    @contextmanager
    def connect(self, read_only: bool = False, timeout_seconds: float = 600.0) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the candidate. Steps of one run may run in parallel processes: a step that
        finds the file locked by a sibling retries until ``timeout_seconds``."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                con = duckdb.connect(str(self.duckdb_path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        try:
            yield con
        finally:
            con.close()


# --------------------------------------------------------------------------------------------- store


class Store:
    """A warehouse folder: read its published versions, build and publish a candidate, keep raw files."""

    def __init__(self, root: Path | str = "", keep_versions: int = DEFAULT_KEEP_VERSIONS):
        self.root = warehouse_dir(root)
        self.keep_versions = keep_versions

    # ---- paths

    @property
    def versions_dir(self) -> Path:
        return self.root / "versions"

    @property
    def candidate_dir(self) -> Path:
        return self.root / "candidate"

    @property
    def dbt_state_dir(self) -> Path:
        return self.root / "dbt_state"

    @property
    def duckdb_path(self) -> Path:
        """The fixed path of the current published DuckDB file (a link)."""
        return self.root / DUCKDB_FILE

    @property
    def parquet_dir(self) -> Path:
        return self.root / PARQUET_DIR

    def lock(self, wait: bool, on_wait: Callable[[str], None] | None = None):
        return writer_lock(self.root, wait=wait, on_wait=on_wait)

    def check_folder(self) -> None:
        """Refuse a warehouse path that names something other than a folder."""
        if self.root.exists() and not self.root.is_dir():
            raise WarehouseError(f"the warehouse path {self.root} is a file, not a folder: pass --warehouse (or "
                                 "SAFETYWASH_WAREHOUSE) a folder, or move the file")

    def check_usable(self) -> None:
        """Refuse, in one line, a warehouse folder that cannot be created or written."""
        self.check_folder()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink(missing_ok=True)  # a cleaning writer may have taken it already
        except OSError as exc:
            raise WarehouseError(f"cannot use the warehouse folder {self.root}: {exc.strerror or exc}") from None

    # ---- published versions

    def current_version(self) -> str | None:
        link = self.root / "current"
        return os.readlink(link).rsplit("/", 1)[-1] if link.is_symlink() else None

    def versions(self) -> list[dict]:
        """Every kept published version, newest first, as recorded in its ``version.json``."""
        self.check_folder()
        out = []
        if self.versions_dir.is_dir():
            for path in sorted(self.versions_dir.iterdir(), reverse=True):
                if (path / VERSION_FILE).is_file() and not path.name.startswith("."):
                    out.append(json.loads((path / VERSION_FILE).read_text()))
        return out

    def version_db(self, version: str | None = None) -> Path:
        """The DuckDB file of ``version`` (default: the current one), resolved once."""
        self.check_folder()
        chosen = version or self.current_version()
        if chosen is None:
            raise WarehouseError(f"nothing is published in {self.root} yet; run `safetywash refresh` first")
        path = self.versions_dir / chosen / DUCKDB_FILE
        if not path.is_file():
            raise WarehouseError(f"no version {chosen!r} in {self.root}; `safetywash versions` lists the kept ones")
        return path

    @contextmanager
    def read(self, version: str | None = None, *, allow_files: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to a published version (default: the current one).

        Sandboxed unless ``allow_files``: no file reads or writes outside the database (``copy``,
        ``read_csv``, ``attach``), no extension install or load, settings locked.
        """
        config = dict(SANDBOX)
        if allow_files:
            del config["enable_external_access"]
        con = duckdb.connect(str(self.version_db(version)), read_only=True, config=config)
        try:
            yield con
        finally:
            con.close()

    # ---- raw store

    def store_raw(self, source: str, data: bytes, suffix: str) -> tuple[str, str]:
        """Store ``data`` once under ``raw/<source>/<sha256><suffix>`` (fsynced, read-only, never
        rewritten); return its sha256 and its path relative to the warehouse."""
        sha256 = hashlib.sha256(data).hexdigest()
        relpath = f"raw/{source}/{sha256}{suffix}"
        path = self.root / relpath
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, data, mode=0o444)
        return sha256, relpath

    def read_raw(self, relpath: str, sha256: str) -> bytes:
        """The bytes of a stored raw file, re-verified against the sha256 it was stored under."""
        path = self.root / relpath
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise WarehouseError(f"raw file {path} cannot be read: {exc.strerror or exc}") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise WarehouseError(
                f"raw file {path} is damaged: its sha256 is {digest}, it was stored as {sha256}; "
                "delete it and refresh to fetch it again"
            )
        return data

    # ---- candidate

    def candidate(self, run_key: str) -> Candidate:
        """The candidate of run ``run_key`` (a Dagster root run id), made on first use.

        Re-executions of a run share its root id and so continue its candidate. Any other candidate,
        and every leftover of a run that was killed, is discarded first; a run whose candidate was
        discarded by another cannot start a new one half-way (its earlier steps' work is gone). Call it
        holding the lock.
        """
        run_file = self.candidate_dir / RUN_FILE
        if run_file.is_file() and json.loads(run_file.read_text()).get("run_key") == run_key:
            return Candidate(self.candidate_dir, run_key)
        if (self.root / DISCARDED_DIR / run_key).exists():
            raise WarehouseError(
                f"the candidate of run {run_key} in {self.root} was discarded when another refresh started; "
                "launch a new run (re-executing this one cannot publish)"
            )
        self.clean()
        self.adopt_unversioned()
        building = self.root / ".candidate.tmp"
        building.mkdir(parents=True)
        current = self.current_version()
        if current:
            shutil.copyfile(self.version_db(current), building / DUCKDB_FILE)
        started = datetime.now(timezone.utc).isoformat()
        (building / RUN_FILE).write_text(json.dumps({"run_key": run_key, "base_version": current, "started_at": started}))
        os.rename(building, self.candidate_dir)
        return Candidate(self.candidate_dir, run_key)

    def clean(self) -> None:
        """Remove what a stopped run can leave: the candidate, half-written files and links."""
        run_file = self.candidate_dir / RUN_FILE
        if run_file.is_file():  # remembered, so that the run it belonged to cannot continue on a new one
            tombstones = self.root / DISCARDED_DIR
            tombstones.mkdir(exist_ok=True)
            (tombstones / json.loads(run_file.read_text())["run_key"]).touch()
            newest_first = sorted(((p.stat().st_mtime, p) for p in tombstones.iterdir()), reverse=True)
            for rank, (mtime, old) in enumerate(newest_first):
                if rank >= TOMBSTONE_KEEP or time.time() - mtime > TOMBSTONE_DAYS * 86400:
                    old.unlink()
        for path in (self.candidate_dir, self.root / ".candidate.tmp"):
            if path.exists():
                shutil.rmtree(path)
        patterns = (".*.tmp", "raw/*/.*.tmp", "landed/*/*/.*.tmp", "versions/.*", "dbt_state/.*.tmp", ".probe.*")
        for pattern in patterns:
            for path in self.root.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()

    def adopt_unversioned(self) -> str | None:
        """Turn a warehouse written before versioning (a plain ``safetywash.duckdb`` file and
        ``parquet/`` folder) into its first published version, so that nothing is lost."""
        if not self.duckdb_path.is_file() or self.duckdb_path.is_symlink():
            return None
        stamp = datetime.fromtimestamp(self.duckdb_path.stat().st_mtime, timezone.utc)
        version = stamp.strftime("%Y%m%dT%H%M%SZ") + "-unversioned"
        target = self.versions_dir / version
        target.mkdir(parents=True)
        os.replace(self.duckdb_path, target / DUCKDB_FILE)
        if self.parquet_dir.is_dir() and not self.parquet_dir.is_symlink():
            os.replace(self.parquet_dir, target / PARQUET_DIR)
        info = {"version": version, "published_at": stamp.isoformat(), "run_id": None,
                "note": "adopted from a warehouse written before versioning"}
        (target / VERSION_FILE).write_text(json.dumps(info, indent=1))
        self._point_at(version)
        return version

    # ---- publish

    def publish(self, candidate: Candidate, run_id: str, details: Mapping[str, object]) -> dict:
        """Make ``candidate`` the current version in one atomic step; return its ``version.json``.

        The candidate is checkpointed and fsynced, renamed to ``versions/<id>``, and ``current`` is
        swung to it. Older versions beyond ``keep_versions`` are removed (never the current one).
        """
        published_at = datetime.now(timezone.utc)
        version = published_at.strftime("%Y%m%dT%H%M%S.%fZ") + "-" + run_id[:8]
        with candidate.connect() as con:
            leftovers = [
                f"{s}.{t}" for s, t in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()
                if t.endswith(DBT_LEFTOVER_SUFFIXES)
            ]
            if leftovers:
                raise WarehouseError(f"the candidate holds dbt's temporary tables {leftovers}; refusing to publish it")
            con.execute("create schema if not exists meta")
            con.execute("create or replace table meta.version as select ? as version, ? as published_at, ? as run_id",
                        [version, published_at, run_id])
            con.execute("comment on table meta.version is 'The published version this database file is.'")
            con.execute("checkpoint")
        shutil.rmtree(candidate.work_dir, ignore_errors=True)
        run = json.loads((candidate.root / RUN_FILE).read_text())
        (candidate.root / RUN_FILE).unlink()
        info = {"version": version, "published_at": published_at.isoformat(), "run_id": run_id,
                "building_started_at": run["started_at"], "base_version": run["base_version"], **details}
        (candidate.root / VERSION_FILE).write_text(json.dumps(info, indent=1, default=str))
        files = [p for p in candidate.root.rglob("*") if p.is_file()]
        for path in files:
            _fsync_file(path)
            path.chmod(0o444)
        for path in [candidate.root, *(p for p in candidate.root.rglob("*") if p.is_dir())]:
            _fsync_dir(path)
        self.versions_dir.mkdir(exist_ok=True)
        os.rename(candidate.root, self.versions_dir / version)
        _fsync_dir(self.versions_dir)
        self._point_at(version)
        self._prune()
        return info

    def _point_at(self, version: str) -> None:
        _link_atomically(self.root / "current", f"versions/{version}")
        for name in (DUCKDB_FILE, PARQUET_DIR):
            link = self.root / name
            if not link.is_symlink():
                _link_atomically(link, f"current/{name}")
        _fsync_dir(self.root)

    def _prune(self) -> None:
        current = self.current_version()
        kept = [v["version"] for v in self.versions()]
        for version in kept[self.keep_versions:]:
            if version != current:
                shutil.rmtree(self.versions_dir / version)

    # ---- dbt partial-parse cache

    def save_dbt_state(self, target_dir: Path) -> None:
        """Keep dbt's partial-parse file of a successful build for the next run (replaced atomically)."""
        source = target_dir / "partial_parse.msgpack"
        if source.is_file():
            self.dbt_state_dir.mkdir(exist_ok=True)
            _write_atomically(self.dbt_state_dir / source.name, source.read_bytes())
