"""Resources: the warehouse (its lock, candidate and published versions) and how files are fetched.

Both read their environment variable when a run starts (never at import time), so the same
definitions serve the CLI, ``dg dev`` and the tests; the Launchpad can override either field.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import requests
from pydantic import Field
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .snapshots import LandedStore
from .warehouse import DEFAULT_KEEP_VERSIONS, Candidate, Store, WarehouseError


class FetchError(RuntimeError):
    """A file could not be fetched (after retries) or failed its pinned checksum."""


class NotMirrored(FetchError):
    """The offline mirror does not hold this address (a mirror is a partial copy of the internet)."""


@dataclass(frozen=True)
class Fetched:
    """The answer to a (conditional) request: ``data`` is None when the server said "not modified"."""

    data: bytes | None
    etag: str | None
    last_modified: str | None


class Warehouse(dg.ConfigurableResource):
    """The warehouse folder: published versions, the run's candidate, the raw store.

    A run holds the warehouse's writer lock from start to end (in-process execution), waiting for a
    run that holds it, and checks its folder before any step starts.
    """

    directory: str = Field(default="", description="Warehouse folder; empty: $SAFETYWASH_WAREHOUSE or <project>/warehouse.")
    keep_versions: int = Field(default=DEFAULT_KEEP_VERSIONS, ge=1, description="Published versions kept for `--version`.")
    lock: bool = Field(default=True, description="Each step holds the warehouse's file lock. Off when steps run on "
                       "Celery workers (several hosts): the run queue and the launching CLI's lock serialize runs.")

    @property
    def store(self) -> Store:
        return Store(self.directory, self.keep_versions)

    @property
    def landed(self) -> LandedStore:
        return LandedStore(self.store.root)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["Warehouse"]:
        store = self.store
        try:
            store.check_usable()
        except WarehouseError as exc:
            raise dg.Failure(str(exc)) from None

        def waiting(holder: str) -> None:
            context.log.info(f"waiting for the warehouse {store.root}: {holder} is writing it")

        if not self.lock:
            yield self
            return
        with store.lock(wait=True, on_wait=waiting):
            yield self

    def candidate(self, context: dg.OpExecutionContext) -> Candidate:
        """The candidate this run writes (shared with its re-executions, which keep its root run id)."""
        return self.store.candidate(context.run.root_run_id or context.run.run_id)


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
        data = self.fetch(url).data
        assert data is not None
        return data

    def fetch(self, url: str, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """A conditional GET: with ``etag``/``last_modified`` from an earlier answer, a server (or the
        mirror, from the file's size and mtime) that has nothing new answers without a body."""
        mirror = self.mirror_dir
        if mirror is not None:
            parts = urlsplit(url)
            path = mirror / parts.netloc / parts.path.lstrip("/")
            if not mirror.is_dir():
                raise FetchError(f"mirror folder {mirror} does not exist (SAFETYWASH_MIRROR)")
            if not path.is_file():
                raise NotMirrored(f"{url}: not in the mirror (looked for {path})")
            stat = path.stat()
            tag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
            modified = formatdate(stat.st_mtime, usegmt=True)
            if etag is not None and etag == tag:
                return Fetched(None, tag, modified)
            return Fetched(path.read_bytes(), tag, modified)
        retry = Retry(
            total=self.retries,
            backoff_factor=self.backoff_seconds,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=("GET",),
        )
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        with requests.Session() as session:
            session.mount("https://", HTTPAdapter(max_retries=retry))
            session.mount("http://", HTTPAdapter(max_retries=retry))
            try:
                response = session.get(url, timeout=self.timeout_seconds, headers=headers)
                if response.status_code == 304:
                    return Fetched(None, response.headers.get("ETag", etag), response.headers.get("Last-Modified", last_modified))
                response.raise_for_status()
            except requests.RequestException as exc:
                raise FetchError(f"{url}: {exc}") from exc
            return Fetched(response.content, response.headers.get("ETag"), response.headers.get("Last-Modified"))
