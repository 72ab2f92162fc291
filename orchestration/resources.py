"""Resources: where the warehouse lives and how files are fetched.

Both read their environment variable when a run starts (never at import time), so the same
definitions serve the CLI, ``dg dev`` and the tests; the Launchpad can override either field.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import duckdb
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WAREHOUSE = PROJECT_ROOT / "warehouse"
DUCKDB_FILE = "safetywash.duckdb"


def warehouse_dir(configured: str = "") -> Path:
    """The warehouse folder: ``configured``, else ``$SAFETYWASH_WAREHOUSE``, else ``<project>/warehouse``."""
    chosen = configured or os.environ.get("SAFETYWASH_WAREHOUSE") or DEFAULT_WAREHOUSE
    return Path(chosen).expanduser().resolve()


class FetchError(RuntimeError):
    """A file could not be fetched (after retries) or failed its pinned checksum."""


class Warehouse(dg.ConfigurableResource):
    """The DuckDB warehouse, its content-addressed raw files and its Parquet exports.

    ``directory`` empty means ``$SAFETYWASH_WAREHOUSE`` or the project's ``warehouse/``.
    """

    directory: str = ""

    @property
    def root(self) -> Path:
        return warehouse_dir(self.directory)

    @property
    def duckdb_path(self) -> Path:
        return self.root / DUCKDB_FILE

    @property
    def parquet_dir(self) -> Path:
        return self.root / "parquet"

    def raw_path(self, source: str, sha256: str, suffix: str) -> Path:
        return self.root / "raw" / source / f"{sha256}{suffix}"

    def store_raw(self, source: str, data: bytes, suffix: str) -> tuple[str, Path]:
        """Store ``data`` once under ``raw/<source>/<sha256><suffix>``; never rewrite an existing file."""
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.raw_path(source, sha256, suffix)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.chmod(0o444)
            os.replace(tmp, path)
        return sha256, path

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection, closed on exit. Writers must be alone; readers pass ``read_only``."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(self.duckdb_path), read_only=read_only)
        except duckdb.IOException as exc:
            raise RuntimeError(
                f"cannot open the warehouse {self.duckdb_path} "
                f"{'read-only' if read_only else 'for writing'}: another process holds it ({exc})"
            ) from exc
        try:
            yield con
        finally:
            con.close()


class Fetcher(dg.ConfigurableResource):
    """HTTP(S) fetching with timeouts and retries, or an offline mirror folder.

    With ``mirror`` (or ``$SAFETYWASH_MIRROR``) set to ``DIR``, a fetch of ``https://H/P`` reads
    ``DIR/H/P`` instead; everything downstream (checksums, storage, fetch log) is unchanged.
    """

    mirror: str = ""
    timeout_seconds: float = 30.0
    retries: int = 4
    backoff_seconds: float = 1.0

    @property
    def mirror_dir(self) -> Path | None:
        chosen = self.mirror or os.environ.get("SAFETYWASH_MIRROR", "")
        return Path(chosen).expanduser().resolve() if chosen else None

    def describe(self) -> str:
        return f"mirror {self.mirror_dir}" if self.mirror_dir else "https"

    def get(self, url: str) -> bytes:
        """Return the bytes served at ``url``; raise :class:`FetchError` naming the URL otherwise."""
        mirror = self.mirror_dir
        if mirror is not None:
            parts = urlsplit(url)
            path = mirror / parts.netloc / parts.path.lstrip("/")
            if not mirror.is_dir():
                raise FetchError(f"mirror folder {mirror} does not exist (SAFETYWASH_MIRROR)")
            if not path.is_file():
                raise FetchError(f"{url}: not in the mirror (looked for {path})")
            return path.read_bytes()
        retry = Retry(
            total=self.retries,
            backoff_factor=self.backoff_seconds,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=("GET",),
        )
        with requests.Session() as session:
            session.mount("https://", HTTPAdapter(max_retries=retry))
            session.mount("http://", HTTPAdapter(max_retries=retry))
            try:
                response = session.get(url, timeout=self.timeout_seconds)
                response.raise_for_status()
            except requests.RequestException as exc:
                raise FetchError(f"{url}: {exc}") from exc
            return response.content
