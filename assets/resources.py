"""Resources: the warehouse (its lock, candidate and published lake) and how files are fetched.

Both read their environment variable when a run starts (never at import time), so the same
definitions serve the CLI, ``dg dev`` and the tests; the Launchpad can override either field.
"""

from __future__ import annotations

import os
import threading
import time
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

from .landing import LandedStore
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
    """The warehouse: its lake of published versions, the run's candidate, the raw store.

    A run holds the warehouse's writer lock from start to end (in-process execution), waiting for a
    run that holds it, and checks its folder before any step starts.
    """

    directory: str = Field(
        default="", description="Warehouse folder; empty: $SAFETYWASH_WAREHOUSE or <project>/warehouse."
    )
    keep_versions: int = Field(
        default=DEFAULT_KEEP_VERSIONS, ge=1, description="Published versions kept for `--version`."
    )
    catalog: str = Field(
        default="",
        description="DuckLake catalog of the published lake (`sqlite:/path` or "
        "`postgres:dbname=… host=…`); empty: $SAFETYWASH_CATALOG, else <warehouse>/lake/catalog.sqlite.",
    )
    data_path: str = Field(
        default="",
        description="The lake's data files (a folder or s3://bucket/prefix/); empty: "
        "$SAFETYWASH_DATA_PATH, else <warehouse>/lake/data/ (or what the catalog recorded).",
    )
    objects: str = Field(
        default="",
        description="Raw files, landed snapshots and a run's shared files (a folder or "
        "s3://bucket/prefix/ every host reaches); empty: $SAFETYWASH_OBJECTS, else the warehouse folder.",
    )
    lock: bool = Field(
        default=True,
        description="Each step holds the warehouse's file lock. Off when steps run on "
        "Celery workers (several hosts): the run queue and the launching CLI's lock serialize runs.",
    )

    @property
    def store(self) -> Store:
        return Store(self.directory, self.keep_versions, self.catalog, self.data_path, self.objects)

    @property
    def landed(self) -> LandedStore:
        return LandedStore(self.store.objects)

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


UNREACHABLE_SECONDS = 300.0
"""How long a host that could not be reached is not asked again by this process."""
_unreachable: dict[str, tuple[float, str]] = {}
_unreachable_lock = threading.Lock()


def _host_down(host: str) -> str | None:
    with _unreachable_lock:
        since, reason = _unreachable.get(host, (0.0, ""))
        return reason if time.monotonic() - since < UNREACHABLE_SECONDS else None


def _mark_down(host: str, reason: str) -> None:
    with _unreachable_lock:
        _unreachable[host] = (time.monotonic(), reason)


class Fetcher(dg.ConfigurableResource):
    """HTTP(S) fetching with timeouts and retries, or an offline mirror folder.

    With ``mirror`` (or ``$SAFETYWASH_MIRROR``) set to ``DIR``, a fetch of ``https://H/P`` reads
    ``DIR/H/P`` instead; everything downstream (checksums, storage, fetch log) is unchanged.

    A server that answers 429 or 5xx is retried ``retries`` times with exponential backoff. A host that
    cannot be reached at all (no DNS, no route, connect timeout) is tried twice, then every other address
    on it fails at once for :data:`UNREACHABLE_SECONDS`, naming the way to a mirror: offline, a refresh
    fails in seconds rather than retrying each of its ~150 addresses.
    """

    mirror: str = ""
    timeout_seconds: float = 30.0
    connect_timeout_seconds: float = 5.0
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
        host = urlsplit(url).netloc
        if (reason := _host_down(host)) is not None:
            raise FetchError(
                f"{url}: not tried, {host} was unreachable moments ago ({reason}); offline, "
                "point --mirror or SAFETYWASH_MIRROR at a mirror folder"
            )
        retry = Retry(
            total=self.retries,
            connect=1,
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
                response = session.get(
                    url, timeout=(self.connect_timeout_seconds, self.timeout_seconds), headers=headers
                )
                if response.status_code == 304:
                    return Fetched(
                        None, response.headers.get("ETag", etag), response.headers.get("Last-Modified", last_modified)
                    )
                response.raise_for_status()
            except requests.ConnectionError as exc:
                if _unreached(exc):
                    reason = _cause(exc)
                    _mark_down(host, reason)
                    raise FetchError(
                        f"{url}: {host} cannot be reached ({reason}); no mirror is set: offline, point "
                        "--mirror or SAFETYWASH_MIRROR at a mirror folder"
                    ) from exc
                raise FetchError(f"{url}: {exc}") from exc
            except requests.RequestException as exc:
                raise FetchError(f"{url}: {exc}") from exc
            return Fetched(response.content, response.headers.get("ETag"), response.headers.get("Last-Modified"))


def _unreached(exc: requests.ConnectionError) -> bool:
    """Whether the connection itself failed (DNS, route, refused, connect timeout), not a read after it."""
    import urllib3.exceptions as u3

    seen, cause = set(), exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, (u3.NewConnectionError, u3.ConnectTimeoutError, requests.ConnectTimeout)):
            return True
        if isinstance(cause, u3.MaxRetryError):
            cause = cause.reason
            continue
        cause = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else cause.__cause__
    return False


def _cause(exc: BaseException) -> str:
    """The innermost reason of a connection error, in one short line (``Name or service not known``)."""
    text = str(exc)
    for marker in (
        "Failed to resolve",
        "Name or service not known",
        "Temporary failure in name resolution",
        "Connection refused",
        "Network is unreachable",
        "No route to host",
        "timed out",
    ):
        if marker in text:
            return marker.lower() if marker != "Failed to resolve" else "the name does not resolve"
    return " ".join(text.split())[:200]
