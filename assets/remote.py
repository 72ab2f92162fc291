"""The published warehouse on object storage (S3-compatible, through pyarrow), for readers on any host.

Layout under ``<uri>``: ``raw/<source>/<sha256><suffix>`` (the raw store, content-addressed, never rewritten),
``versions/<version>/parquet/<table>.parquet`` and ``versions/<version>/version.json`` (one folder per published
version), and ``current.json``, the pointer, written last: a version becomes visible in that one step, so a
reader sees the previous version or the new one, never a half-uploaded one. Readers register each table of
the current version as a pyarrow dataset in DuckDB (DuckDB's httpfs extension cannot be installed here).
No dagster import.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from .objectstore import read_bytes, write_bytes
from .warehouse import PARQUET_DIR, VERSION_FILE, Store, WarehouseError

POINTER = "current.json"


def upload_version(store: Store, version: str, fs: pafs.FileSystem, base: str) -> dict:
    """Copy the raw files the remote store lacks and ``version``'s Parquet and version.json, then move the
    pointer to it (last). Returns the pointer's content."""
    raw = store.root / "raw"
    remote_raw = {info.path for info in fs.get_file_info(pafs.FileSelector(f"{base}/raw", recursive=True,
                                                                          allow_not_found=True))}
    uploaded_raw = 0
    for path in sorted(raw.rglob("*")) if raw.is_dir() else []:
        key = f"{base}/raw/{path.relative_to(raw).as_posix()}"
        if path.is_file() and key not in remote_raw:
            write_bytes(fs, key, path.read_bytes())
            uploaded_raw += 1
    folder = store.versions_dir / version
    tables = {}
    for path in sorted((folder / PARQUET_DIR).glob("*.parquet")):
        key = f"{base}/versions/{version}/{PARQUET_DIR}/{path.name}"
        write_bytes(fs, key, path.read_bytes())
        tables[path.stem] = key.removeprefix(f"{base}/")
    write_bytes(fs, f"{base}/versions/{version}/{VERSION_FILE}", (folder / VERSION_FILE).read_bytes())
    pointer = {"version": version, "tables": tables, "raw_files_uploaded": uploaded_raw}
    write_bytes(fs, f"{base}/{POINTER}", json.dumps(pointer, indent=1).encode())
    return pointer


def current_pointer(fs: pafs.FileSystem, base: str) -> dict:
    try:
        return json.loads(read_bytes(fs, f"{base}/{POINTER}"))
    except FileNotFoundError:
        raise WarehouseError(f"nothing is published at {base} yet") from None


@contextmanager
def read_remote(fs: pafs.FileSystem, base: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection whose ``marts.<table>`` views read the current remote version."""
    pointer = current_pointer(fs, base)
    con = duckdb.connect()
    try:
        con.execute("create schema marts")
        for table, key in pointer["tables"].items():
            dataset = pads.dataset(f"{base}/{key}", filesystem=fs, format="parquet")
            con.register(f"_remote_{table}", dataset)
            con.execute(f'create view marts."{table}" as select * from "_remote_{table}"')
        con.execute("create schema meta")
        con.execute("create table meta.version (version varchar)")
        con.execute("insert into meta.version values (?)", [pointer["version"]])
        yield con
    finally:
        con.close()
