"""The IO manager: what steps hand each other, as JSON objects in the run's object store (folder or S3).

:class:`ObjectStoreSettings` says where (a run's config gives the keys as environment variables);
:class:`JsonIOManager` keeps the few values steps hand each other (the bootstrap plan's specs) as JSON objects
there, so steps on other hosts read them, and nothing is pickled.
"""

import json

import dagster as dg
from pydantic import BaseModel, Field

from .files import Objects


class ObjectStoreSettings(BaseModel):
    """Where shared objects live: ``uri`` is a folder path, ``file:///…`` or ``s3://bucket/prefix``."""

    uri: str = Field(default="", description="Folder or s3://bucket/prefix; empty: <warehouse>/objects.")
    endpoint: str = Field(default="", description="S3 endpoint (host:port or URL) of an S3-compatible server.")
    access_key: str = Field(default="", description="S3 access key (give it as {env: AWS_ACCESS_KEY_ID}).")
    secret_key: str = Field(default="", description="S3 secret key (give it as {env: AWS_SECRET_ACCESS_KEY}).")
    region: str = Field(default="us-east-1", description="S3 region (most S3-compatible servers ignore it).")


class JsonIOManager(dg.ConfigurableIOManager, ObjectStoreSettings):
    """Step outputs as JSON objects under ``<store>/io/<run id>/<step>/<output>[/<mapping key>].json``."""

    warehouse_dir: str = Field(default="", description="Default root of the store: <warehouse>/objects.")

    def _key(self, context: dg.OutputContext | dg.InputContext) -> tuple[Objects, str]:
        from .warehouse import warehouse_dir

        objects = Objects(
            self.uri or warehouse_dir(self.warehouse_dir) / "objects",
            endpoint=self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
        )
        return objects, f"io/{'/'.join(context.get_identifier())}.json"

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if obj is None:
            return
        objects, key = self._key(context)
        objects.put(key, json.dumps(obj, sort_keys=True).encode())

    def load_input(self, context: dg.InputContext) -> object:
        objects, key = self._key(context.upstream_output)
        return json.loads(objects.get(key))
