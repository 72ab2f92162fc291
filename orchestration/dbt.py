"""The dbt project in ``sql/`` as Dagster assets: one asset per seed and model, dbt tests as checks.

dagster-dbt reads ``sql/target/manifest.json`` when this module is imported; the CLI, the tests and
``.ci/run`` prepare it first with :func:`ensure_manifest` (``dbt parse``), as does ``dg dev``.
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from importlib.metadata import version
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from packaging.version import Version

from .manifest import SQL_DIR
from .resources import Warehouse

dbt_project = DbtProject(project_dir=SQL_DIR, profiles_dir=SQL_DIR)
dbt_project.prepare_if_dev()


class SafetywashTranslator(DagsterDbtTranslator):
    """Seeds and models are keyed ``<schema>/<name>`` (``staging/...``, ``marts/...``, ``seeds/...``),
    matching the tables users query; sources keep ``<source>/<table>`` (``raw/...``)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed"):
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] in ("model", "seed"):
            return dbt_resource_props["schema"]
        return super().get_group_name(dbt_resource_props)


class DbtCoreCliResource(DbtCliResource):
    """``DbtCliResource`` that reads dbt's version from the installed dbt-core package.

    dagster-dbt 0.29 otherwise runs ``dbt --version`` in a subprocess on every invocation (2.8 s here,
    a sixth of a refresh). dbt-core is a pinned dependency of this project, so the two always agree.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(version("dbt-core"))


@contextmanager
def warehouse_environment(warehouse: Warehouse) -> Iterator[None]:
    """Point dbt's profile (``SAFETYWASH_WAREHOUSE``) at the run's warehouse for one invocation."""
    previous = os.environ.get("SAFETYWASH_WAREHOUSE")
    os.environ["SAFETYWASH_WAREHOUSE"] = str(warehouse.root)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SAFETYWASH_WAREHOUSE", None)
        else:
            os.environ["SAFETYWASH_WAREHOUSE"] = previous


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=SafetywashTranslator(),
    name="dbt_models",
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
    with warehouse_environment(warehouse):
        # Reuse the prepared target folder so dbt parses partially (seconds saved on every refresh).
        yield from dbt.cli(["build"], context=context, target_path=dbt_project.target_path).stream()
