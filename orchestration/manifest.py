"""Prepare the dbt manifest (``dbt parse``) before dagster-dbt loads it; no dagster import here.

``sql/target/`` is written only here, and only by ``rename(2)``: dbt parses into a private folder and
its ``manifest.json`` and ``partial_parse.msgpack`` replace the old ones whole, so a process killed
while dbt writes can never leave a short or empty manifest behind. Runs give dbt their own target
folder (see :mod:`orchestration.dbt`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from assets.files import s3_endpoint
from assets.lake import LakeAddress, extension_dir, install_extensions
from assets.warehouse import DEFAULT_WAREHOUSE, Store

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
TARGET = SQL_DIR / "target"
MANIFEST = TARGET / "manifest.json"
PARTIAL_PARSE = TARGET / "partial_parse.msgpack"
ARTEFACTS = ("partial_parse.msgpack", "manifest.json")  # the manifest last: its mtime says both are current
_SOURCES = ("dbt_project.yml", "profiles.yml", "models", "seeds", "macros", "tests")


def dbt_executable() -> str:
    """The dbt of this environment, whether or not its ``bin`` folder is on PATH."""
    return str(Path(sys.executable).with_name("dbt"))


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in _SOURCES:
        path = SQL_DIR / name
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        newest = max([newest, *(p.stat().st_mtime for p in files)])
    return newest


def _loadable() -> bool:
    try:
        with open(MANIFEST, "rb") as fh:
            json.load(fh)
    except (OSError, ValueError):
        return False
    return PARTIAL_PARSE.is_file()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def profile_env(candidate: LakeAddress) -> dict[str, str]:
    """The variables dbt's profile (``sql/profiles.yml``) reads: the candidate lake, the extensions' folder
    (its extensions installed there from their wheels) and the S3 server of the lake's data."""
    install_extensions((*candidate.extensions, "httpfs"))
    endpoint = os.environ.get("SAFETYWASH_S3_ENDPOINT", "")
    host, tls = s3_endpoint(endpoint)
    return {
        "SAFETYWASH_CANDIDATE_CATALOG": candidate.catalog,
        "SAFETYWASH_CANDIDATE_DATA": candidate.data_path,
        "SAFETYWASH_CANDIDATE_SCHEMA": candidate.metadata_schema or "main",
        "SAFETYWASH_DUCKDB_EXTENSIONS": str(extension_dir()),
        "SAFETYWASH_DBT_S3_ENDPOINT": host or "s3.amazonaws.com",
        "SAFETYWASH_DBT_S3_URL_STYLE": "path" if endpoint else "vhost",
        "SAFETYWASH_DBT_S3_SSL": "true" if tls else "false",
    }


def ensure_manifest(force: bool = False) -> Path:
    """Run ``dbt parse`` when the manifest is missing, unreadable or older than a file of the project."""
    for scratch in SQL_DIR.glob(".target-*.tmp"):  # left by a killed parse; another may be running
        pid = scratch.name.removeprefix(".target-").removesuffix(".tmp")
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(scratch, ignore_errors=True)
    if not force and _loadable() and MANIFEST.stat().st_mtime >= _newest_source_mtime():
        return MANIFEST
    scratch = SQL_DIR / f".target-{os.getpid()}.tmp"
    candidate = Store(DEFAULT_WAREHOUSE, catalog=f"sqlite:{DEFAULT_WAREHOUSE}/lake/catalog.sqlite").candidate_address()
    env = {
        **os.environ,
        **profile_env(candidate),  # the profile a build renders: dbt reparses whole if its hash differs
        "DBT_TARGET_PATH": str(scratch),
        "DBT_LOG_PATH": str(scratch),
    }
    try:
        subprocess.run(
            [dbt_executable(), "parse", "--quiet", "--project-dir", str(SQL_DIR), "--profiles-dir", str(SQL_DIR)],
            cwd=SQL_DIR,
            env=env,
            check=True,
        )
        TARGET.mkdir(exist_ok=True)
        for name in ARTEFACTS:
            os.replace(scratch / name, TARGET / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return MANIFEST
