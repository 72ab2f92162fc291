"""Files a run's steps share wherever they run: a folder on this host, or a prefix of an S3 bucket.

Raw fetched bytes, landed snapshots, the candidate's run record and the bootstrap's replicates live here.
On one host it is the warehouse folder itself; with ``SAFETYWASH_OBJECTS=s3://bucket/prefix`` (the
distributed profile) every host reads and writes the same bucket, and no folder is shared between hosts.

No dagster import (the CLI and :mod:`assets.warehouse` use it before the heavy imports).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow.fs as pafs


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` whole or not at all (fsynced temporary file, then ``rename(2)``)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if mode is not None:
        tmp.chmod(mode)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def s3_endpoint(endpoint: str) -> tuple[str, bool]:
    """``(host[:port], use TLS)`` of an S3 endpoint given as ``host:port`` or ``http(s)://host:port`` (empty:
    the client's default host, TLS)."""
    scheme, _, host = endpoint.rpartition("://")
    return host, scheme != "http"


def open_filesystem(
    uri: str, endpoint: str = "", access_key: str = "", secret_key: str = "", region: str = "us-east-1"
) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem of ``uri`` (a folder, ``file://…`` or ``s3://bucket/prefix``) and its base path."""
    if uri.startswith("s3://"):
        host, tls = s3_endpoint(endpoint)
        fs = pafs.S3FileSystem(
            access_key=access_key or None,
            secret_key=secret_key or None,
            region=region,
            endpoint_override=host or None,
            scheme="https" if tls else "http",
            allow_bucket_creation=True,
        )
        return fs, uri.removeprefix("s3://").rstrip("/")
    if not uri:
        raise ValueError("no object store configured (uri is empty)")
    path = Path(uri.removeprefix("file://")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return pafs.LocalFileSystem(), str(path)


class Objects:
    """A folder or an S3 prefix, addressed by ``/``-separated keys below it.

    A write appears whole or not at all (locally an fsynced rename; on S3 an object is whole once
    uploaded). S3 credentials and server are given, or else come from ``AWS_ACCESS_KEY_ID``/
    ``AWS_SECRET_ACCESS_KEY`` and ``SAFETYWASH_S3_ENDPOINT``, read when the store is first used.
    """

    def __init__(
        self,
        uri: str | os.PathLike,
        *,
        endpoint: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
    ):
        uri = str(uri)
        self.is_s3 = uri.startswith("s3://")
        self.uri = uri.rstrip("/")
        self._s3_settings = (endpoint, access_key, secret_key, region)
        self._fs: pafs.FileSystem | None = None
        self.root = None if self.is_s3 else Path(uri.removeprefix("file://")).expanduser().resolve()

    def __repr__(self) -> str:
        return f"Objects({self.uri!r})"

    def _s3(self, key: str) -> tuple[pafs.FileSystem, str]:
        """The S3 filesystem and the path of ``key`` in it."""
        if self._fs is None:
            names = ("SAFETYWASH_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")
            given = [
                os.environ.get(name, "") if value is None else value for name, value in zip(names, self._s3_settings)
            ]
            self._fs, self._base = open_filesystem(self.uri, *given[:3], given[3] or "us-east-1")
        return self._fs, f"{self._base}/{key}" if key else self._base

    def url(self, key: str = "") -> str:
        """Where ``key`` is, for a message or for DuckDB (``s3://…`` or an absolute path)."""
        if self.is_s3:
            return f"{self.uri}/{key}" if key else self.uri
        return str(self.root / key) if key else str(self.root)

    def local(self, key: str = "") -> Path | None:
        """The path of ``key`` on this host (None on S3)."""
        return None if self.root is None else self.root / key

    def put(self, key: str, data: bytes, *, read_only: bool = False) -> None:
        if self.root is not None:
            path = self.root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, data, mode=0o444 if read_only else None)
            return
        fs, path = self._s3(key)
        with fs.open_output_stream(path) as out:
            out.write(data)

    def get(self, key: str) -> bytes:
        """The bytes of ``key``; FileNotFoundError (naming it) when there are none."""
        if self.root is not None:
            return (self.root / key).read_bytes()
        fs, path = self._s3(key)
        try:
            with fs.open_input_stream(path) as src:
                return src.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.url(key)}: no such object") from None
        except OSError as exc:
            if "NoSuchKey" in str(exc) or "does not exist" in str(exc).lower():
                raise FileNotFoundError(f"{self.url(key)}: no such object") from None
            raise

    def exists(self, key: str) -> bool:
        if self.root is not None:
            return (self.root / key).exists()
        fs, path = self._s3(key)
        return fs.get_file_info(path).type != pafs.FileType.NotFound

    def entries(self, key: str) -> list[tuple[str, float]]:
        """``(name, modified time in seconds)`` of what is directly below ``key``, names sorted; hidden
        names (a leading dot: temporary files) left out."""
        if self.root is not None:
            folder = self.root / key
            if not folder.is_dir():
                return []
            found = [(p.name, p.stat().st_mtime) for p in folder.iterdir()]
        else:
            fs, path = self._s3(key)
            infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
            found = [(i.base_name, i.mtime.timestamp() if i.mtime else 0.0) for i in infos]
        return sorted((name, mtime) for name, mtime in found if not name.startswith("."))

    def names(self, key: str) -> list[str]:
        return [name for name, _ in self.entries(key)]

    def remove(self, key: str) -> None:
        """Remove ``key``, a file or everything below it (nothing there: nothing to do)."""
        if self.root is not None:
            path = self.root / key
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            return
        fs, path = self._s3(key)
        kind = fs.get_file_info(path).type
        if kind == pafs.FileType.File:
            fs.delete_file(path)
        elif kind == pafs.FileType.Directory:
            fs.delete_dir_contents(path, missing_dir_ok=True)
            try:  # a prefix is gone with its last object; some servers keep a marker for it
                fs.delete_dir(path)
            except FileNotFoundError:
                pass
