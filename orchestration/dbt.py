"""The dbt project in ``sql/`` as Dagster assets: one asset per seed and model, dbt tests as checks.

dagster-dbt reads ``sql/target/manifest.json`` when this module is imported; :func:`ensure_manifest`
prepares it (atomically) first, with the partial-parse file every build starts from. A build writes only
the run's candidate database, and its artefacts go to the candidate's ``work/dbt/``: nothing a
later run or import reads is ever half-written.
"""

import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from importlib.metadata import version
from typing import Any

import dagster as dg
from packaging.version import Version

from assets.resources import Warehouse
from assets.warehouse import WRITER_POOL, Candidate

from .manifest import PARTIAL_PARSE, SQL_DIR, dbt_executable, ensure_manifest, profile_env


def _import_dagster_dbt():
    """dagster-dbt, imported as where dbt-core is not in this process (as beside dbt Fusion).

    Importing dagster-dbt otherwise imports dbt-core for its types (0.9 s of every process that loads the
    definitions, measured 2026-12-07, two thirds of it dbt's serialisers compiling). Without it, dagster-dbt
    reads the asset graph and a run's subset selection from the manifest alone, and still runs dbt-core's
    CLI in a subprocess, as it always does; only its dbt adapter handle needs dbt-core in the process, and
    this project uses none of what that serves (column metadata, row counts): see
    :meth:`DbtCoreCliResource._initialize_dbt_core_adapter`.
    """
    hidden = sys.modules.get("dbt.version", _MISSING)
    if hidden is _MISSING:
        sys.modules["dbt.version"] = None  # an import of it raises ImportError
    try:
        import dagster_dbt
    finally:
        if hidden is _MISSING:
            del sys.modules["dbt.version"]
    return dagster_dbt


_MISSING = object()
_dagster_dbt = _import_dagster_dbt()
DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets = (
    _dagster_dbt.DagsterDbtTranslator,
    _dagster_dbt.DbtCliResource,
    _dagster_dbt.DbtProject,
    _dagster_dbt.dbt_assets,
)

ensure_manifest()
dbt_project = DbtProject(project_dir=SQL_DIR, profiles_dir=SQL_DIR)


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

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        """A dbt test as a check, described by what it asserts when the test has no description of its own."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=describe_test(manifest["nodes"][unique_id], asset_spec.key.to_user_string()))


def describe_test(node: Mapping[str, Any], table: str) -> str:
    """``not_null`` on ``marts/scores.value`` -> "dbt test: marts/scores.value is never null", and so on."""
    meta = node.get("test_metadata") or {}
    name, kwargs = meta.get("name", node.get("name", "test")), dict(meta.get("kwargs") or {})
    column = kwargs.pop("column_name", None) or node.get("column_name")
    kwargs.pop("model", None)
    target = f"{table}.{column}" if column else table
    plain = {
        "not_null": f"{target} is never null",
        "unique": f"{target} is unique",
        "accepted_values": f"{target} takes only the values {kwargs.get('values')}",
        "relationships": f"every {target} exists in {kwargs.get('to', '').strip()}.{kwargs.get('field')}",
    }
    if name in plain:
        return f"dbt test: {plain[name]}"
    args = ", ".join(f"{k}={v}" for k, v in kwargs.items() if v is not None)
    return f"dbt test {name} on {target}" + (f" ({args})" if args else "")


class DbtCoreCliResource(DbtCliResource):
    """``DbtCliResource`` for this project's environment.

    It reads dbt's version from the installed dbt-core package: dagster-dbt 0.29 otherwise runs
    ``dbt --version`` in a subprocess on every invocation (2.8 s here, a sixth of a refresh). dbt-core
    is a pinned dependency, so the two always agree.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        """No dbt adapter in this process: nothing here reads column metadata or row counts through one."""
        return None


def dbt_resource() -> DbtCoreCliResource:
    """The dbt resource of this project, running this environment's dbt whether or not it is on PATH."""
    return DbtCoreCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


@contextmanager
def dbt_target(candidate: Candidate) -> Iterator[Path]:
    """A private dbt target folder in the candidate, started from the project's partial-parse file, with
    dbt's profile (``SAFETYWASH_CANDIDATE_*``) pointed at the candidate lake.

    The profile keeps the candidate's address out of what dbt hashes for its partial-parse check (see
    ``sql/profiles.yml``), so the file :func:`ensure_manifest` wrote serves every warehouse."""
    target = candidate.work_dir / "dbt"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copyfile(PARTIAL_PARSE, target / PARTIAL_PARSE.name)
    settings = profile_env(candidate.address)
    previous = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield target
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


BUILD = ["build", "--log-level-file", "none"]
"""A refresh's dbt command. dbt's debug log file (2 MB a build, every statement it ran) is not written: writing it
was 1.4 s of a build's 9.9 s of CPU (measured 2026-12-08). Its info events still reach the run's log through
dagster-dbt, and the SQL of each model and test stays in the candidate's ``work/dbt/compiled`` and ``run``."""


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=SafetywashTranslator(),
    name="dbt_models",
    pool=WRITER_POOL,
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse):
    with dbt_target(warehouse.candidate(context)) as target:
        yield from dbt.cli(BUILD, context=context, target_path=target).stream()
