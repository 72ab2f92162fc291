"""DuckLake: where a lake's catalog and Parquet files are, and DuckDB connections to it.

A lake is a SQL catalog (a SQLite file on one host, a PostgreSQL database across hosts) plus a folder or
S3 prefix of Parquet files. DuckDB reaches it through its ``ducklake`` extension and the catalog's
(``sqlite``, ``postgres``) and storage's (``httpfs``) extensions. They come from the PyPI wheels
``duckdb-extension-<name>`` pinned in the lock (DuckDB's own signed binaries): each is installed from its
wheel into the environment's extension folder once, so nothing is ever downloaded at run time.

No dagster import: the CLI's readers use this before (or without) the heavy imports.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import os
import sqlite3
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .files import s3_endpoint

# every connection: known extensions never fetched or loaded behind our back
BASE_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
# the name DuckDB loads an extension by, for each wheel
EXTENSIONS = {"ducklake": "ducklake", "sqlite": "sqlite_scanner", "postgres": "postgres_scanner", "httpfs": "httpfs"}
_installed: set[str] = set()


class LakeError(RuntimeError):
    """The lake cannot be reached or opened; the message names the catalog and says what to do."""


class NoLake(LakeError):
    """The catalog holds no lake yet (nothing was ever published to it)."""


# DuckLake's words when a read-only attach finds a catalog it was not made in (a new PostgreSQL database)
_NOT_MADE = "creating a new DuckLake is explicitly disabled"


def extension_dir() -> Path:
    """Where this environment's DuckDB extensions are installed (inside the environment, not ``~``)."""
    return Path(sys.prefix) / "duckdb_extensions"


def _wheel_file(name: str) -> Path:
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise LakeError(
            f"the DuckDB extension {name} is not installed: run `uv sync --frozen` (it is the "
            f"locked wheel duckdb-extension-{name})"
        )
    found = sorted(
        Path(spec.submodule_search_locations[0]).glob(f"extensions/v{duckdb.__version__}/*.duckdb_extension")
    )
    if not found:
        raise LakeError(f"the wheel duckdb-extension-{name} holds no build for DuckDB {duckdb.__version__}")
    return found[0]


def _install(con: duckdb.DuckDBPyConnection, name: str) -> None:
    if name in _installed:
        return
    platform = con.execute("select platform from pragma_platform()").fetchone()[0]
    target = extension_dir() / f"v{duckdb.__version__}" / platform / f"{EXTENSIONS[name]}.duckdb_extension"
    if not target.is_file():
        con.execute(f"install '{_wheel_file(name)}'")
    _installed.add(name)


def install_extensions(names: tuple[str, ...]) -> None:
    """Install ``names`` from their wheels into :func:`extension_dir` (for another DuckDB, such as dbt's)."""
    if set(names) - _installed:
        with contextlib.closing(duckdb.connect(config=instance_config())) as con:
            for name in names:
                _install(con, name)


def load_extensions(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> None:
    """Install ``names`` from their wheels (once per environment) and load them into ``con``."""
    for name in names:
        _install(con, name)
        con.execute(f"load {EXTENSIONS[name]}")


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Everything inside commits together, or not at all."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal (single quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class LakeAddress:
    """Where a lake lives.

    ``catalog`` is DuckLake's metadata address: ``sqlite:/abs/catalog.sqlite``, ``postgres:dbname=sw
    host=db-host user=…``, or a DuckDB file ``/abs/catalog.ducklake`` (one process at a time: a run's candidate); ``data_path`` a folder (``/abs/data/``) or an S3 prefix (``s3://bucket/lake/``), or
    empty for the one the catalog recorded when it was made;
    ``metadata_schema`` the PostgreSQL schema of the catalog's tables (several lakes share one database).
    """

    catalog: str
    data_path: str
    metadata_schema: str = ""

    @property
    def kind(self) -> str:
        """``sqlite``, ``postgres`` or ``duckdb``: what holds the catalog."""
        prefix = self.catalog.split(":", 1)[0]
        return prefix if prefix in ("sqlite", "postgres") else "duckdb"

    @property
    def extensions(self) -> tuple[str, ...]:
        names = ["ducklake", *{"postgres": ["postgres"], "sqlite": ["sqlite"]}.get(self.kind, [])]
        if self.data_path.startswith("s3://") or self.kind == "postgres":
            names.append("httpfs")
        return tuple(names)

    @property
    def catalog_schema(self) -> str:
        """The schema of the catalog database that holds DuckLake's own tables."""
        return self.metadata_schema or ("public" if self.kind == "postgres" else "main")

    @property
    def sqlite_file(self) -> Path | None:
        """The catalog's file, for a SQLite catalog."""
        return Path(self.catalog.split(":", 1)[1]) if self.kind == "sqlite" else None

    @property
    def catalog_file(self) -> Path | None:
        """The catalog's file, for a SQLite or DuckDB catalog."""
        return self.sqlite_file or (Path(self.catalog) if self.kind == "duckdb" else None)

    @property
    def uri(self) -> str:
        """What a plain DuckDB client attaches: ``ATTACH '<uri>' AS sw (READ_ONLY)``."""
        return f"ducklake:{self.catalog}"

    def local_files(self) -> list[Path]:
        """The catalog file and data folder when they are on this host (what a sandboxed reader may open)."""
        out = [self.catalog_file] if self.catalog_file else []
        if self.data_path and not self.data_path.startswith("s3://"):
            out.append(Path(self.data_path))
        return out

    def attach(
        self,
        con: duckdb.DuckDBPyConnection,
        alias: str,
        *,
        read_only: bool = False,
        snapshot: int | None = None,
        create: bool = False,
    ) -> None:
        """Attach this lake to ``con`` as ``alias`` (``snapshot``: as it was at that DuckLake snapshot)."""
        load_extensions(con, self.extensions)
        if "httpfs" in self.extensions and os.environ.get("AWS_ACCESS_KEY_ID"):
            _s3_secret(con)
        options = []
        if self.data_path:  # the configured one wins over the one stored: a warehouse folder may move
            options += [f"data_path {sql_literal(self.data_path)}", "override_data_path true"]
        if self.metadata_schema:
            options.append(f"metadata_schema {sql_literal(self.metadata_schema)}")
        if read_only:
            options.append("read_only")
        if snapshot is not None:
            options.append(f"snapshot_version {int(snapshot)}")
        if create:
            for path in self.local_files():
                (path if path == Path(self.data_path) else path.parent).mkdir(parents=True, exist_ok=True)
            if self.sqlite_file:
                _wal(self.sqlite_file)
        elif self.catalog_file and not self.catalog_file.is_file():
            raise NoLake(f"no lake catalog at {self.catalog_file}")
        try:
            con.execute(
                f"attach {sql_literal(self.uri)} as {alias} ({', '.join(options)})"
                if options
                else f"attach {sql_literal(self.uri)} as {alias}"
            )
        except duckdb.Error as exc:
            if "No space left on device" in str(exc):  # DuckDB's words; a full disk reads as the OSError it is
                where = self.catalog_file or self.data_path
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where)) from None
            kind = NoLake if _NOT_MADE in str(exc) else LakeError
            raise kind(f"cannot open the lake {self.uri}: {str(exc).splitlines()[0]}") from None
        # where its catalog tables are, for the readers below that skip DuckDB's slower catalog views
        tables = f"__ducklake_metadata_{alias}.{_ident(self.catalog_schema)}"
        con.execute(
            f"set variable {_CATALOG_VARIABLE}{alias} = "
            f"{{'tables': {sql_literal(tables)}, 'snapshot': {'null' if snapshot is None else int(snapshot)}}}"
        )
        if create:
            _no_inlining(con, alias)


def inlines(con: duckdb.DuckDBPyConnection, alias: str) -> bool:
    """Whether the lake attached as ``alias`` may keep rows in its catalog (DuckLake's data inlining)."""
    row = con.execute(
        "select value from ducklake_options(?) where option_name = 'data_inlining_row_limit'", [alias]
    ).fetchone()
    return row is None or row[0] != "0"


def _no_inlining(con: duckdb.DuckDBPyConnection, alias: str) -> None:
    """Every row of the lake in a Parquet file, from now on and (rows a lake made before kept in its catalog
    are written out) before: inlined rows in a DuckDB catalog lose a double's last bits (2 of 9 values of a
    9-row table, measured 2026-12-07); every table a SQLite or PostgreSQL catalog inlines into gets a catalog
    table of its own, which makes each publish's commit slower; and a table whose rows are all in files is
    copied between lakes by linking them (:func:`copy_tables`)."""
    if not inlines(con, alias):
        return
    with transaction(con):
        con.execute(f"call {alias}.set_option('data_inlining_row_limit', 0)")
        con.execute("call ducklake_flush_inlined_data(?)", [alias])


def drop_catalog(address: LakeAddress) -> None:
    """Remove the catalog of a lake kept in a PostgreSQL schema of its own (its data files are the caller's)."""
    if address.kind != "postgres" or not address.metadata_schema:
        raise ValueError(f"only a lake in its own PostgreSQL schema can be dropped, not {address.uri}")
    with contextlib.closing(duckdb.connect(config=instance_config())) as con:
        load_extensions(con, ("postgres",))
        try:
            con.execute(f"attach {sql_literal(address.catalog.split(':', 1)[1])} as catalog_db (type postgres)")
            statement = f'drop schema if exists "{address.metadata_schema}" cascade'
            con.execute(f"call postgres_execute('catalog_db', {sql_literal(statement)})")
        except duckdb.Error as exc:
            raise LakeError(
                f"cannot drop the lake {address.uri} (schema {address.metadata_schema}): {str(exc).splitlines()[0]}"
            ) from None


def _wal(path: Path) -> None:
    """Put a new SQLite catalog in write-ahead-log mode (kept in the file): readers and the writer stop
    blocking each other, and a commit costs one fsync of the log instead of two of the database."""
    if path.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute("pragma journal_mode = wal")
    except sqlite3.Error as exc:  # SQLite's own words; a full disk reads as the OSError it is
        path.unlink(missing_ok=True)
        full = "full" in str(exc)
        raise OSError(
            errno.ENOSPC if full else errno.EIO, os.strerror(errno.ENOSPC) if full else str(exc), str(path)
        ) from None


def _s3_secret(con: duckdb.DuckDBPyConnection) -> None:
    """The S3 credentials of the data files, from the environment (``AWS_*``, ``SAFETYWASH_S3_ENDPOINT``)."""
    endpoint = os.environ.get("SAFETYWASH_S3_ENDPOINT", "")
    parts = {
        "type": "s3",
        "key_id": os.environ.get("AWS_ACCESS_KEY_ID", ""),
        "secret": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
        "region": os.environ.get("AWS_REGION", "us-east-1"),
    }
    if endpoint:
        host, tls = s3_endpoint(endpoint)
        parts.update(endpoint=host, url_style="path", use_ssl="true" if tls else "false")
    body = ", ".join(f"{k} {v if k in ('type', 'use_ssl') else sql_literal(v)}" for k, v in parts.items())
    con.execute(f"create or replace secret safetywash_s3 ({body})")


_shared: dict[str, object] = {}
_shared_lock = threading.Lock()


def _shared_instance() -> tuple[duckdb.DuckDBPyConnection, set[str]]:
    """This process's DuckDB instance for lake sessions and the aliases attached to it now. Loading the
    extensions costs ~0.1 s each per instance (their signatures are checked), so sessions share one."""
    with _shared_lock:
        if _shared.get("pid") != os.getpid():  # a forked child gets its own
            _shared.update(pid=os.getpid(), instance=duckdb.connect(config=instance_config()), aliases=set())
        return _shared["instance"], _shared["aliases"]


def instance_config(extra: Mapping[str, object] | None = None) -> dict:
    return {**BASE_CONFIG, "extension_directory": str(extension_dir()), **(extra or {})}


@contextlib.contextmanager
def session(
    *lakes: tuple[LakeAddress, str, Mapping[str, object]], use: str | None = None, private: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection with each ``(address, alias, attach options)`` attached; ``use`` makes one of
    them the default database, so ``marts.scores`` means ``<use>.marts.scores``.

    A cursor of the process's shared instance, the lakes detached again at the end; ``private`` (a
    sandboxed reader, whose settings are global to its instance) or an alias in use by another session
    of this process gives a connection of its own.
    """
    instance, attached = _shared_instance()
    aliases = {alias for _, alias, _ in lakes}
    with _shared_lock:
        private = private or bool(aliases & attached)
        if not private:
            attached |= aliases
    con = duckdb.connect(config=instance_config()) if private else instance.cursor()
    done: list[str] = []
    try:
        for address, alias, options in lakes:
            address.attach(con, alias, **options)
            done.append(alias)
        if use:
            con.execute(f"use {use}")
        yield con
    finally:
        if not private:
            with contextlib.suppress(duckdb.Error):
                con.execute("use memory")
            for alias in done:
                with contextlib.suppress(duckdb.Error):
                    con.execute(f"detach {alias}")
            with _shared_lock:
                attached -= aliases
        con.close()


# the DuckDB variable, set by LakeAddress.attach, naming where the catalog tables of a lake attached as <alias> are
_CATALOG_VARIABLE = "ducklake_catalog_"


@dataclass(frozen=True)
class _Catalog:
    """DuckLake's own tables for a lake attached by :meth:`LakeAddress.attach`: ``tables`` their schema
    (``"__ducklake_metadata_<alias>"."<schema>"``), ``snapshot`` the one attached (None: the current one)."""

    tables: str
    snapshot: int | None

    def live(self, row: str) -> str:
        """SQL: the catalog row ``row`` (an alias) describes the lake as attached."""
        if self.snapshot is None:
            return f"{row}.end_snapshot is null"
        return f"({row}.begin_snapshot <= {self.snapshot} and coalesce({row}.end_snapshot > {self.snapshot}, true))"


def _catalog(con: duckdb.DuckDBPyConnection, alias: str) -> _Catalog:
    """The catalog tables of the lake attached as ``alias`` by :meth:`LakeAddress.attach`."""
    value = con.execute("select getvariable(?)", [_CATALOG_VARIABLE + alias]).fetchone()[0]
    if not value:
        raise LakeError(f"{alias!r} was not attached by LakeAddress.attach: where its catalog tables are is unknown")
    return _Catalog(**value)


def lake_tables(con: duckdb.DuckDBPyConnection, alias: str) -> list[tuple[str, str, str | None]]:
    """``(schema, table, comment)`` of every committed base table of the lake attached as ``alias``.

    Read from DuckLake's catalog tables: ``duckdb_tables()`` asks every table of every attached lake for its
    size, which reads each one's statistics (150 ms for this warehouse's two lakes, measured 2026-12-07,
    against 3 ms).
    """
    c = _catalog(con, alias)
    return con.execute(f"""
        select s.schema_name, t.table_name, tag.value
        from {c.tables}.ducklake_table t
        join {c.tables}.ducklake_schema s on s.schema_id = t.schema_id and {c.live("s")}
        left join {c.tables}.ducklake_tag tag on tag.object_id = t.table_id and tag.key = 'comment' and {c.live("tag")}
        where {c.live("t")}
        order by 1, 2""").fetchall()


def _column_comments(con: duckdb.DuckDBPyConnection, alias: str) -> list[tuple[str, str, str, str]]:
    """``(schema, table, column, comment)`` of every commented top-level column of the lake attached as ``alias``."""
    c = _catalog(con, alias)
    return con.execute(f"""
        select s.schema_name, t.table_name, col.column_name, tag.value
        from {c.tables}.ducklake_column_tag tag
        join {c.tables}.ducklake_column col
          on col.table_id = tag.table_id and col.column_id = tag.column_id and {c.live("col")}
        join {c.tables}.ducklake_table t on t.table_id = tag.table_id and {c.live("t")}
        join {c.tables}.ducklake_schema s on s.schema_id = t.schema_id and {c.live("s")}
        where tag.key = 'comment' and {c.live("tag")} and col.parent_column is null""").fetchall()


def committed_as(con: duckdb.DuckDBPyConnection, alias: str, message: str) -> int | None:
    """The newest snapshot of ``alias`` whose commit message is ``message``."""
    return con.execute(
        f"select max(snapshot_id) from {_catalog(con, alias).tables}.ducklake_snapshot_changes "
        "where commit_message = ?",
        [message],
    ).fetchone()[0]


def snapshot_log(con: duckdb.DuckDBPyConnection, alias: str) -> list[tuple[int, str | None, str | None, str | None]]:
    """``(snapshot_id, author, commit_message, commit_extra_info)`` of every kept snapshot of ``alias``, newest
    first, whichever snapshot it was attached at, as ``snapshots()`` lists them (which also reads every change
    record)."""
    c = _catalog(con, alias)
    return con.execute(
        f"select s.snapshot_id, ch.author, ch.commit_message, ch.commit_extra_info "
        f"from {c.tables}.ducklake_snapshot s left join {c.tables}.ducklake_snapshot_changes ch "
        "using (snapshot_id) order by 1 desc"
    ).fetchall()


def latest_snapshot(con: duckdb.DuckDBPyConnection, alias: str) -> int:
    return con.execute(f"select max(snapshot_id) from {alias}.snapshots()").fetchone()[0]


def changed_since(con: duckdb.DuckDBPyConnection, alias: str, snapshot: int) -> set[tuple[str, str]]:
    """``(schema, table)`` of every table of ``alias`` created, altered, written or deleted from after
    ``snapshot`` (from the lake's own change record; tables it names by id are looked up)."""
    names, ids = set(), set()
    for (changes,) in con.execute(
        f"select changes from {alias}.snapshots() where snapshot_id > ?", [snapshot]
    ).fetchall():
        for value in _tables_touched(changes):
            (ids if value.isdigit() else names).add(value)
    if ids:
        names |= {f"{s}.{t}" for s, t, i in _current_tables(con, alias) if str(i) in ids}
    return {tuple(name.split(".", 1)) for name in names}


def _current_tables(con: duckdb.DuckDBPyConnection, alias: str) -> list[tuple[str, str, int]]:
    """``(schema, table, DuckLake table id)`` of the lake's tables, as attached."""
    c = _catalog(con, alias)
    return con.execute(f"""
        select s.schema_name, t.table_name, t.table_id
        from {c.tables}.ducklake_table t
        join {c.tables}.ducklake_schema s on s.schema_id = t.schema_id and {c.live("s")}
        where {c.live("t")}""").fetchall()


def last_change(con: duckdb.DuckDBPyConnection, alias: str, tables: tuple[str, ...]) -> tuple[int, object] | None:
    """``(snapshot_id, snapshot_time)`` of the newest snapshot of ``alias`` that created, altered, wrote or
    deleted from one of ``tables`` (``schema.table``), or None if none did."""
    history = con.execute(
        f"select snapshot_id, snapshot_time, changes from {alias}.snapshots() order by snapshot_id desc"
    ).fetchall()
    ids = {str(i) for s, t, i in _current_tables(con, alias) if f"{s}.{t}" in tables}
    wanted = set(tables) | ids
    for snapshot_id, snapshot_time, changes in history:
        if _tables_touched(changes) & wanted:
            return snapshot_id, snapshot_time
    return None


def _tables_touched(changes: Mapping[str, list]) -> set[str]:
    """The tables one snapshot's change record names (``schema.table`` where it names them, else table ids)."""
    return {str(value) for kind, values in changes.items() if "table" in kind or "inlined" in kind for value in values}


def copy_tables(
    con: duckdb.DuckDBPyConnection,
    source: str,
    target: str,
    tables: list[tuple[str, str, str | None]],
    *,
    data_path: str = "",
    inlined: bool = True,
) -> None:
    """``create or replace`` each ``(schema, table, comment)`` of ``source`` in ``target``, with its table
    and column comments (the caller holds the transaction).

    Given ``data_path``, the target's local data folder, a table whose rows are all in data files without
    deletes is copied without reading a row: its files are hard-linked under the target's folder for the
    table, each with a name of its own, and registered there (``ducklake_add_data_files``, which hands them to
    the target lake). The two lakes then share the bytes, and either may delete its own link. Any other table
    (rows inlined in the catalog, deletes, S3, another file system) is copied by a query. ``inlined=False``
    says the source lake keeps no rows in its catalog (see :func:`inlines`), which spares counting each
    table's rows.
    """
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, comment in _column_comments(con, source):
        columns.setdefault((schema, table), []).append((column, comment))
    for schema in sorted({s for s, _, _ in tables}):
        con.execute(f'create schema if not exists {target}."{schema}"')
    local = bool(data_path) and not data_path.startswith("s3://")
    for schema, table, comment in tables:
        name = f'{target}."{schema}"."{table}"'
        folder = Path(data_path) / schema / table
        if not (local and _link_table(con, source, target, schema, table, folder, inlined)):
            con.execute(f'create or replace table {name} as select * from {source}."{schema}"."{table}"')
        if comment:
            con.execute(f"comment on table {name} is {sql_literal(comment)}")
        for column, text in columns.get((schema, table), []):
            con.execute(f'comment on column {name}."{column}" is {sql_literal(text)}')


def _link_table(
    con: duckdb.DuckDBPyConnection, source: str, target: str, schema: str, table: str, folder: Path, inlined: bool
) -> bool:
    """Copy ``source.schema.table`` into ``target`` by linking its data files into ``folder``; False (and
    nothing done) when its rows are not all in local data files without deletes."""
    files = con.execute(
        "select data_file, delete_file from ducklake_list_files(?, ?, schema => ?)", [source, table, schema]
    ).fetchall()
    if any(deletes for _, deletes in files) or any("://" in path for path, _ in files):
        return False
    if inlined:
        rows = con.execute(f'select count(*) from {source}."{schema}"."{table}"').fetchone()[0]
        in_files = (
            con.execute(
                "select coalesce(sum(num_rows), 0) from parquet_file_metadata(?)", [[path for path, _ in files]]
            ).fetchone()[0]
            if files
            else 0
        )
        if rows != in_files:  # some rows are inlined in the catalog
            return False
    folder.mkdir(parents=True, exist_ok=True)
    linked: list[Path] = []
    try:
        for path, _ in files:
            linked.append(folder / f"ducklake-{uuid.uuid4()}.parquet")
            os.link(path, linked[-1])
    except OSError as exc:
        for path in linked:
            path.unlink(missing_ok=True)
        if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK):  # no hard link here: copy the rows instead
            return False
        raise
    con.execute(
        f'create or replace table {target}."{schema}"."{table}" as '
        f'select * from {source}."{schema}"."{table}" with no data'
    )
    if linked:
        con.execute(
            "call ducklake_add_data_files(?, ?, ?, schema => ?)", [target, table, [str(p) for p in linked], schema]
        )
    return True
