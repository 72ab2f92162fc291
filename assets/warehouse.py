"""The warehouse: its DuckLake of published versions, the candidate a refresh builds, the raw store, the lock.

The one home of the write path, shared by the assets, the CLI and the tests. No dagster import, so the
CLI can take the lock and answer readers before the heavy imports.

Layout of a warehouse folder on one host. With ``$SAFETYWASH_CATALOG``/``$SAFETYWASH_DATA_PATH`` the lake
(and the candidate, as schema ``candidate`` of the same database) lives in PostgreSQL and on S3, and with
``$SAFETYWASH_OBJECTS`` the raw files, landed snapshots and the candidate's run record and replicates are
objects on S3 (:mod:`assets.files`): the folder then keeps only this host's scratch::

    lake/catalog.sqlite, lake/data/    the published lake: DuckLake catalog + Parquet files
    candidate/                         the refresh being built: its own lake (catalog.ducklake, data/), a copy
                                       of the published tables plus the run's writes; run.json; work/
    raw/<source>/<sha256><suffix>      append-only, content-addressed, fsynced
    landed/                            parsed snapshots (Parquet), keyed by content
    .refresh.lock                      one writer at a time (flock)

A refresh writes only into ``candidate/``. Publishing copies its tables into the lake in ONE DuckLake
transaction whose commit message records the version: readers, pinned to a snapshot, see the old version
or the new one, whole, and never wait for a writer. A run that stops anywhere leaves the lake untouched;
the next run discards the leftovers. Versions are the lake's snapshots (time travel); older ones expire.
"""

from __future__ import annotations

import contextlib
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
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl

from . import lake
from .files import Objects, fsync_dir as _fsync_dir
from .columns import description as column_description
from .lake import LakeAddress, LakeError, NoLake, sql_literal, transaction

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WAREHOUSE = PROJECT_ROOT / "warehouse"
LAKE_DIR = "lake"
CATALOG_FILE = "catalog.sqlite"
CANDIDATE_CATALOG_FILE = "catalog.ducklake"
DATA_DIR = "data"
RUN_FILE = "run.json"
CANDIDATE_KEY = "candidate"  # the candidate's folder, and its key among the objects
RUN_RECORD = f"{CANDIDATE_KEY}/{RUN_FILE}"  # the candidate's record among the objects, written last
AUTHOR = "safetywash"  # the author of every publish commit in the lake
LEGACY_DIR = "legacy"  # where the published versions of a warehouse from before the lake are moved
LEGACY_NAMES = ("versions", "current", "safetywash.duckdb", "parquet")
LEGACY_DUCKDB = "2.0"
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


# statements a sandboxed reader may not run: they write files, and the sandbox lets a reader open the lake's
# own data folder (DuckLake reads its Parquet through it), which DuckDB does not split into read and write
WRITES_FILES = {"COPY", "EXPORT"}


def sandbox_refusal(query: str) -> str | None:
    """Why the sandbox refuses ``query`` (a statement that writes files), or None."""
    try:
        kinds = {statement.type.name for statement in duckdb.extract_statements(query)}
    except duckdb.Error:
        return None  # DuckDB's own parse error says it better
    if kinds & WRITES_FILES:
        return (
            f"{'/'.join(sorted(kinds & WRITES_FILES))} writes files: file system operations are disabled in the "
            "sandbox (run with --allow-files to write your own files)"
        )
    return None


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


def write_table(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame, comment: str | None = None) -> None:
    """Create or replace ``schema.table`` with ``frame``, described by ``comment`` and its columns by
    :mod:`assets.columns`."""
    con.execute(f"create schema if not exists {table.split('.')[0]}")
    con.register("frame_to_write", frame.to_arrow())
    con.execute(f"create or replace table {table} as select * from frame_to_write")
    con.unregister("frame_to_write")
    if comment:
        con.execute(f"comment on table {table} is {sql_literal(comment)}")
    for column in frame.columns:
        if text := column_description(table, column):
            con.execute(f'comment on column {table}."{column}" is {sql_literal(text)}')


def append_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Insert ``frame``'s rows into ``schema.table`` by column name, in one statement (DuckLake writes a data
    file per insert statement)."""
    con.register("frame_to_append", frame.to_arrow())
    con.execute(f"insert into {table} by name select * from frame_to_append")
    con.unregister("frame_to_append")


def append_once(con: duckdb.DuckDBPyConnection, frames: Mapping[str, pl.DataFrame], analysis: str) -> int:
    """Append ``frames`` (``schema.table`` -> rows of one analysis) in one transaction unless the tables hold
    rows of ``analysis`` already; return how many they held.

    A step whose output is deterministic and that failed after its commit finds its rows on re-execution and
    keeps them: it never deletes, which would conflict with the other steps' concurrent appends."""
    with transaction(con):
        held = sum(
            con.execute(f"select count(*) from {table} where analysis = ?", [analysis]).fetchone()[0]
            for table in frames
        )
        if not held:
            for table, frame in frames.items():
                if frame.height:
                    append_frame(con, table, frame)
    return held


def replace_tables(con: duckdb.DuckDBPyConnection, tables: Mapping[str, tuple[pl.DataFrame, str | None]]) -> None:
    """Replace every ``schema.table`` of ``tables`` with its frame, and its comment, in one transaction."""
    with transaction(con):
        for table, (frame, comment) in tables.items():
            write_table(con, table, frame, comment)


def keep_analyses(
    con: duckdb.DuckDBPyConnection, tables: Mapping[str, tuple[pl.DataFrame, str | None]], kept: list[str]
) -> None:
    """Every ``schema.table`` of ``tables`` (rows keyed by ``analysis``) keeps the rows of the analyses ``kept``
    only, in one transaction; one that does not exist yet, or keeps none, becomes its empty frame (and comment)."""
    existing = set()
    for table in tables:
        try:
            con.execute(f"select 1 from {table} limit 0")
            existing.add(table)
        except duckdb.CatalogException:
            pass
    with transaction(con):
        for table, (frame, comment) in tables.items():
            if kept and table in existing:
                con.execute(f"delete from {table} where not list_contains(?, analysis)", [kept])
            else:
                write_table(con, table, frame, comment)


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
                    f"another refresh ({holder}) is writing the warehouse {root}; wait for it, or run again with --wait"
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


def _published(log: list[tuple]) -> list[tuple[int, str]]:
    """``(snapshot_id, commit_extra_info)`` of the publishing snapshots of a :func:`lake.snapshot_log`, newest first."""
    return [
        (snapshot, extra)
        for snapshot, author, message, extra in log
        if author == AUTHOR and (message or "").startswith("publish ")
    ]


@dataclass(frozen=True)
class Candidate:
    """The lake a refresh builds: a private copy of the published tables plus the run's writes.

    Its own DuckLake, so that every step's SQL says ``marts.scores`` whether it runs against the
    candidate or a reader runs it against the published lake. Beside a SQLite published lake it is
    ``candidate/catalog.ducklake`` (a DuckDB catalog: only this run's steps, one process at a time, open it)
    + ``candidate/data/`` in the warehouse folder; beside a PostgreSQL one it
    is the schema ``candidate`` of the same database, its data under ``candidate/data/`` of the objects
    (S3), so that steps on any host build the same candidate.
    """

    address: LakeAddress
    run_key: str
    objects: Objects
    """the run's shared files (its record ``candidate/run.json``, the bootstrap's replicates)"""
    work_dir: Path
    """this host's scratch space of the run (dbt's target)"""

    def record(self) -> dict:
        return json.loads(self.objects.get(RUN_RECORD))

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection whose default database is the candidate lake (attached as ``candidate``)."""
        with lake.session((self.address, "candidate", {"read_only": read_only}), use="candidate") as con:
            yield con


# --------------------------------------------------------------------------------------------- store


class Store:
    """A warehouse folder: its lake's published versions, the candidate a refresh builds, raw files.

    The published lake's catalog and data default to ``<root>/lake/`` and may live elsewhere
    (``catalog``/``data_path``, or ``$SAFETYWASH_CATALOG``/``$SAFETYWASH_DATA_PATH``): PostgreSQL and S3
    for readers on other hosts.
    """

    def __init__(
        self,
        root: Path | str = "",
        keep_versions: int = DEFAULT_KEEP_VERSIONS,
        catalog: str = "",
        data_path: str = "",
        objects: str = "",
    ):
        self.root = warehouse_dir(root)
        self.keep_versions = keep_versions
        self._catalog = catalog
        self._data_path = data_path
        self._objects = objects

    # ---- paths

    @property
    def lake(self) -> LakeAddress:
        """The published lake: ``ATTACH '<lake.uri>' AS sw (READ_ONLY)`` reads it from any DuckDB."""
        catalog = self._catalog or os.environ.get("SAFETYWASH_CATALOG", "")
        data = self._data_path or os.environ.get("SAFETYWASH_DATA_PATH", "")
        if not catalog:  # the default: both in this folder, wherever it has moved
            catalog, data = f"sqlite:{self.root / LAKE_DIR / CATALOG_FILE}", f"{self.root / LAKE_DIR / DATA_DIR}"
        return LakeAddress(catalog, data if not data or data.endswith("/") else data + "/")

    @cached_property
    def objects(self) -> Objects:
        """Raw files, landed snapshots and the run's shared files: ``$SAFETYWASH_OBJECTS`` (a folder or an S3
        prefix every host reaches), else this warehouse folder."""
        return Objects(self._objects or os.environ.get("SAFETYWASH_OBJECTS", "") or self.root)

    @property
    def candidate_dir(self) -> Path:
        """This host's folder of the candidate: its whole lake beside a SQLite lake, else its scratch space."""
        return self.root / CANDIDATE_KEY

    def candidate_address(self) -> LakeAddress:
        if self.lake.kind == "sqlite":  # one process writes it at a time: a DuckDB catalog, the fastest
            return LakeAddress(str(self.candidate_dir / CANDIDATE_CATALOG_FILE), f"{self.candidate_dir / DATA_DIR}/")
        return LakeAddress(
            self.lake.catalog, self.objects.url(f"{CANDIDATE_KEY}/{DATA_DIR}") + "/", metadata_schema=CANDIDATE_KEY
        )

    def lock(self, wait: bool, on_wait: Callable[[str], None] | None = None):
        return writer_lock(self.root, wait=wait, on_wait=on_wait)

    def check_folder(self) -> None:
        """Refuse a warehouse path that names something other than a folder."""
        if self.root.exists() and not self.root.is_dir():
            raise WarehouseError(
                f"the warehouse path {self.root} is a file, not a folder: pass --warehouse (or "
                "SAFETYWASH_WAREHOUSE) a folder, or move the file"
            )

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

    @contextmanager
    def _catalog_connection(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """The published lake attached read-only as ``sw`` at its newest snapshot (None: no lake yet)."""
        self.check_folder()
        with contextlib.ExitStack() as stack:
            try:
                con = stack.enter_context(lake.session((self.lake, "sw", {"read_only": True})))
            except NoLake:
                con = None
            except LakeError as exc:
                raise WarehouseError(str(exc)) from None
            yield con

    def versions(self) -> list[dict]:
        """Every kept published version, newest first: its commit's record plus its snapshot id."""
        with self._catalog_connection() as con:
            if con is None:
                return []
            rows = _published(lake.snapshot_log(con, "sw"))
        return [{**json.loads(extra), "snapshot_id": snapshot} for snapshot, extra in rows]

    def current_version(self) -> str | None:
        kept = self.versions()
        return kept[0]["version"] if kept else None

    def version_info(self, version: str | int | None = None) -> dict:
        """The record of a kept version, named by its id or snapshot id (default: the current one)."""
        kept = self.versions()
        if not kept:
            raise WarehouseError(
                f"nothing is published in {self.root} yet; run `safetywash refresh` first" + self._legacy_hint()
            )
        if version in (None, ""):
            return kept[0]
        for info in kept:
            if str(version) in (info["version"], str(info["snapshot_id"])):
                return info
        raise WarehouseError(f"no version {version!r} in {self.root}; `safetywash versions` lists the kept ones")

    def _legacy_names(self) -> list[str]:
        """What of a warehouse from before the lake is here (``versions/``, the links, …)."""
        return [n for n in LEGACY_NAMES if (self.root / n).exists() or (self.root / n).is_symlink()]

    def _legacy_hint(self) -> str:
        if self._legacy_names():
            return (
                f" (its versions were written before the lake, as DuckDB {LEGACY_DUCKDB} files: `safetywash refresh` "
                f"moves them to {self.root / LEGACY_DIR} and rebuilds the lake from its raw files)"
            )
        legacy = self.root / LEGACY_DIR
        return (
            f" (the versions written before the lake are kept in {legacy}: DuckDB {LEGACY_DUCKDB} files)"
            if legacy.is_dir()
            else ""
        )

    @contextmanager
    def read(
        self, version: str | int | None = None, *, allow_files: bool = False
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection to a published version (default: the current one), pinned to its
        DuckLake snapshot: every query on it sees that version whole, whatever is published meanwhile.

        Sandboxed unless ``allow_files``: no file reads or writes beyond the lake's own data files
        (``copy``, ``read_csv``, ``attach``), no extension install or load, settings locked (in a DuckDB
        instance of its own, since those settings hold for a whole instance).
        """
        snapshot = self.version_info(version)["snapshot_id"]
        try:
            with lake.session(
                (self.lake, "sw", {"read_only": True, "snapshot": snapshot}), use="sw", private=not allow_files
            ) as con:
                if not allow_files:
                    data = (
                        self.lake.data_path
                        or con.execute("select value from sw.options() where option_name = 'data_path'").fetchone()[0]
                    )
                    con.execute(f"set allowed_directories = {[data]!r}")  # a folder or an S3 prefix
                    for setting, value in SANDBOX.items():
                        con.execute(f"set {setting} = {str(value).lower()}")
                yield con
        except LakeError as exc:
            raise WarehouseError(str(exc)) from None

    def open(self, version: str | int | None = None) -> duckdb.DuckDBPyConnection:
        """A notebook's connection to a published version (default: the current one): read-only, pinned to
        its snapshot, files allowed; ``marts.scores`` names the table. Close it when done."""
        snapshot = self.version_info(version)["snapshot_id"]
        con = duckdb.connect(config=lake.instance_config())
        try:
            self.lake.attach(con, "sw", read_only=True, snapshot=snapshot)
            con.execute("use sw")
        except LakeError as exc:
            con.close()
            raise WarehouseError(str(exc)) from None
        return con

    # ---- raw store

    def store_raw(self, source: str, data: bytes, suffix: str) -> tuple[str, str]:
        """Store ``data`` once under ``raw/<source>/<sha256><suffix>`` of the objects (fsynced, read-only,
        never rewritten); return its sha256 and its key."""
        sha256 = hashlib.sha256(data).hexdigest()
        relpath = f"raw/{source}/{sha256}{suffix}"
        objects = self.objects
        if not objects.exists(relpath):
            objects.put(relpath, data, read_only=True)
        return sha256, relpath

    def read_raw(self, relpath: str, sha256: str) -> bytes:
        """The bytes of a stored raw file, re-verified against the sha256 it was stored under."""
        objects = self.objects
        try:
            data = objects.get(relpath)
        except OSError as exc:
            raise WarehouseError(f"raw file {objects.url(relpath)} cannot be read: {exc.strerror or exc}") from None
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise WarehouseError(
                f"raw file {objects.url(relpath)} is damaged: its sha256 is {digest}, it was stored as {sha256}; "
                "delete it and refresh to fetch it again"
            )
        return data

    # ---- candidate

    def _run_record(self) -> dict | None:
        try:
            return json.loads(self.objects.get(RUN_RECORD))
        except FileNotFoundError:
            return None

    def _candidate(self, run_key: str) -> Candidate:
        return Candidate(self.candidate_address(), run_key, self.objects, self.candidate_dir / "work")

    def candidate(self, run_key: str) -> Candidate:
        """The candidate of run ``run_key`` (a Dagster root run id), made on first use.

        Re-executions of a run share its root id and so continue its candidate. Any other candidate,
        and every leftover of a run that was killed, is discarded first; a run whose candidate was
        discarded by another cannot start a new one half-way (its earlier steps' work is gone). Call it
        holding the lock. The candidate starts as a copy of the published tables; its record
        ``candidate/run.json``, written last, marks it whole.
        """
        record = self._run_record()
        if record is not None and record.get("run_key") == run_key:
            return self._candidate(run_key)
        if self.objects.exists(f"{DISCARDED_DIR}/{run_key}"):
            raise WarehouseError(
                f"the candidate of run {run_key} in {self.objects.url()} was discarded when another refresh started; "
                "launch a new run (re-executing this one cannot publish)"
            )
        self.clean()
        self.migrate_legacy()
        candidate = self._candidate(run_key)
        base = self.versions()[:1]
        sources = [(self.lake, "sw", {"read_only": True, "snapshot": base[0]["snapshot_id"]})] if base else []
        with lake.session((candidate.address, "candidate", {"create": True}), *sources) as con:
            if base:
                with transaction(con):
                    lake.copy_tables(
                        con,
                        "sw",
                        "candidate",
                        lake.lake_tables(con, "sw"),
                        data_path=candidate.address.data_path,
                        inlined=lake.inlines(con, "sw"),
                    )
            baseline = lake.latest_snapshot(con, "candidate")
        started = datetime.now(timezone.utc).isoformat()
        self.objects.put(
            RUN_RECORD,
            json.dumps(
                {
                    "run_key": run_key,
                    "base_version": base[0]["version"] if base else None,
                    "started_at": started,
                    "baseline_snapshot": baseline,
                }
            ).encode(),
        )
        return candidate

    def _drop_candidate(self) -> None:
        """Remove the candidate's lake and files (its record first: a half-removed candidate is no candidate)."""
        objects = self.objects
        objects.remove(RUN_RECORD)
        address = self.candidate_address()
        if address.kind == "postgres":
            lake.drop_catalog(address)
        objects.remove(CANDIDATE_KEY)
        if self.candidate_dir.exists():
            shutil.rmtree(self.candidate_dir)

    def clean(self) -> None:
        """Remove what a stopped run can leave: the candidate, half-written files."""
        record = self._run_record()
        objects = self.objects
        if record is not None:  # remembered, so that the run it belonged to cannot continue on a new one
            objects.put(f"{DISCARDED_DIR}/{record['run_key']}", b"")
            newest_first = sorted(((mtime, name) for name, mtime in objects.entries(DISCARDED_DIR)), reverse=True)
            for rank, (mtime, name) in enumerate(newest_first):
                if rank >= TOMBSTONE_KEEP or time.time() - mtime > TOMBSTONE_DAYS * 86400:
                    objects.remove(f"{DISCARDED_DIR}/{name}")
        self._drop_candidate()
        patterns = (
            ".*.tmp",
            "raw/*/.*.tmp",
            "landed/*/*/.*.tmp",
            "landed/*/*/*/.*.tmp",
            "dbt_state",  # dbt's partial-parse cache in earlier versions: builds now start from sql/target/
            ".probe.*",
            "candidate/.*.tmp",
        )
        for folder in {self.root, objects.local()} - {None}:
            for pattern in patterns:
                for path in folder.glob(pattern):
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    else:
                        path.unlink()

    def migrate_legacy(self) -> str | None:
        """Move a warehouse written before the lake out of the way, losing nothing; return where to.

        Its published versions are DuckDB 2.0 files (``versions/``, ``current``, ``safetywash.duckdb``,
        ``parquet/``), which the DuckDB of the lake (1.5) cannot open: they move, whole, to
        ``legacy/<time>/``. Its raw files and landed snapshots are the lake's inputs too, so they stay
        and the refresh that migrates rebuilds every version from them.
        """
        names = self._legacy_names()
        if not names:
            return None
        target = self.root / LEGACY_DIR / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target.mkdir(parents=True)
        for name in names:
            os.replace(self.root / name, target / name)
        (target / "README.txt").write_text(
            f"The published versions of {self.root} before it became a DuckLake (moved here "
            f"{datetime.now(timezone.utc).isoformat()}). They are DuckDB {LEGACY_DUCKDB} files: open them with "
            f"duckdb {LEGACY_DUCKDB} (`uv run --with 'duckdb>=2.0,<2.1' python`). The lake was rebuilt from the "
            "same raw files and landed snapshots.\n"
        )
        _fsync_dir(self.root)
        return str(target)

    # ---- publish

    def publish(
        self,
        candidate: Candidate,
        run_id: str,
        details: Mapping[str, object],
        describe: Callable[[duckdb.DuckDBPyConnection], Mapping[str, object]] | None = None,
    ) -> dict:
        """Make ``candidate`` the current version in one DuckLake transaction; return its record.

        Every base table the run changed replaces its published namesake (with its comments; the others
        are the published ones already): on one host, by hard-linking the candidate's Parquet files into the
        lake's folder and registering them (the candidate keeps no rows in its catalog), no row read or
        written; tables the candidate no longer has are dropped, and
        ``meta.version`` names the version: all in one commit whose message carries the record, so readers
        see the whole old version or the whole new one.
        Snapshots older than the ``keep_versions`` newest versions are then expired and their files
        deleted. ``describe``, given a connection to the candidate, adds to the record what it returns.
        """
        published_at = datetime.now(timezone.utc)
        version = published_at.strftime("%Y%m%dT%H%M%S.%fZ") + "-" + run_id[:8]
        run = candidate.record()
        info = {
            "version": version,
            "published_at": published_at.isoformat(),
            "run_id": run_id,
            "building_started_at": run["started_at"],
            "base_version": run["base_version"],
            **details,
        }
        with lake.session(
            (candidate.address, "candidate", {"read_only": True}), (self.lake, "sw", {"create": True}), use="candidate"
        ) as con:
            if describe is not None:
                info.update(describe(con))
            tables = lake.lake_tables(con, "candidate")
            leftovers = [f"{s}.{t}" for s, t, _ in tables if t.endswith(DBT_LEFTOVER_SUFFIXES)]
            if leftovers:
                raise WarehouseError(f"the candidate holds dbt's temporary tables {leftovers}; refusing to publish it")
            tables = [t for t in tables if t[0] != "meta"]
            kept = {(s, t) for s, t, _ in tables}
            changed = lake.changed_since(con, "candidate", run["baseline_snapshot"]) if run["base_version"] else kept
            with transaction(con):
                lake.copy_tables(
                    con,
                    "candidate",
                    "sw",
                    [t for t in tables if (t[0], t[1]) in changed],
                    data_path=self.lake.data_path,
                    inlined=False,
                )
                for schema, table, _ in lake.lake_tables(con, "sw"):
                    if (schema, table) not in kept and schema != "meta":
                        con.execute(f'drop table sw."{schema}"."{table}"')
                con.execute("create schema if not exists sw.meta")
                con.execute(
                    "create or replace table sw.meta.version as select ? as version, ? as published_at, ? as run_id",
                    [version, published_at, run_id],
                )
                con.execute("comment on table sw.meta.version is 'The published version this snapshot of the lake is.'")
                con.execute(
                    "call sw.set_commit_message(?, ?, extra_info => ?)",
                    [AUTHOR, f"publish {version}", json.dumps(info, default=str)],
                )
            info["snapshot_id"] = lake.committed_as(con, "sw", f"publish {version}")
            self._expire(con)
        self._drop_candidate()
        return info

    def _expire(self, con: duckdb.DuckDBPyConnection) -> None:
        """Expire the snapshots before the oldest kept version, then delete the files only they used and
        any file no snapshot names."""
        log = lake.snapshot_log(con, "sw")
        oldest = _published(log)[: self.keep_versions][-1][0]
        older = [snapshot for snapshot, *_ in log if snapshot < oldest]
        if older:
            con.execute(f"call ducklake_expire_snapshots('sw', versions => {older})")
            con.execute("call ducklake_cleanup_old_files('sw', cleanup_all => true)")
        # files a killed publish wrote but never committed (runs are serialized: no other writer is mid-way)
        con.execute("call ducklake_delete_orphaned_files('sw', cleanup_all => true)")
