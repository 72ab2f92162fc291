"""Object storage for the distributed profile: a local folder or an S3-compatible bucket, through pyarrow.

:class:`ObjectStoreSettings` says where (a run's config gives the keys as environment variables);
:class:`JsonIOManager` keeps the few values steps hand each other (the bootstrap plan's specs) as JSON objects
there, so steps on other hosts read them, and nothing is pickled.
"""


import json
from pathlib import Path

import dagster as dg
import pyarrow.fs as pafs
from pydantic import BaseModel, Field

from .files import open_filesystem


class ObjectStoreSettings(BaseModel):
    """Where shared objects live: ``uri`` is a folder path, ``file:///…`` or ``s3://bucket/prefix``."""

    uri: str = Field(default="", description="Folder or s3://bucket/prefix; empty: <warehouse>/objects.")
    endpoint: str = Field(default="", description="S3 endpoint (host:port or URL) of an S3-compatible server.")
    access_key: str = Field(default="", description="S3 access key (give it as {env: AWS_ACCESS_KEY_ID}).")
    secret_key: str = Field(default="", description="S3 secret key (give it as {env: AWS_SECRET_ACCESS_KEY}).")
    region: str = Field(default="us-east-1", description="S3 region (most S3-compatible servers ignore it).")

    def filesystem(self, default_root: "Path | None" = None) -> "tuple[pafs.FileSystem, str]":
        """The pyarrow filesystem and the base path in it."""
        return open_filesystem(self.uri or str(default_root or ""), self.endpoint, self.access_key, self.secret_key,
                               self.region)


def write_bytes(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write ``path`` whole: on S3 an object appears complete or not at all; locally via a rename."""
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):
        tmp = f"{path}.tmp"
        with fs.open_output_stream(tmp) as out:
            out.write(data)
        fs.move(tmp, path)
        return
    with fs.open_output_stream(path) as out:
        out.write(data)


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as src:
        return src.read()


class JsonIOManager(dg.ConfigurableIOManager, ObjectStoreSettings):
    """Step outputs as JSON objects under ``<store>/io/<run id>/<step>/<output>[/<mapping key>].json``."""

    warehouse_dir: str = Field(default="", description="Default root of the store: <warehouse>/objects.")

    def _path(self, context: dg.OutputContext | dg.InputContext) -> tuple[pafs.FileSystem, str]:
        from .warehouse import warehouse_dir

        fs, base = self.filesystem(warehouse_dir(self.warehouse_dir) / "objects")
        return fs, f"{base}/io/{'/'.join(context.get_identifier())}.json"

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        fs, path = self._path(context)
        write_bytes(fs, path, json.dumps(obj, sort_keys=True).encode())

    def load_input(self, context: dg.InputContext) -> object:
        fs, path = self._path(context.upstream_output)
        return json.loads(read_bytes(fs, path))
