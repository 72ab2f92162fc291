"""Prepare the dbt manifest (``dbt parse``) before dagster-dbt loads it; no dagster import here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"
MANIFEST = SQL_DIR / "target" / "manifest.json"
_SOURCES = ("dbt_project.yml", "profiles.yml", "models", "seeds", "macros", "tests")


def _newest_source_mtime() -> float:
    newest = 0.0
    for name in _SOURCES:
        path = SQL_DIR / name
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        newest = max([newest, *(p.stat().st_mtime for p in files)])
    return newest


def ensure_manifest(force: bool = False) -> Path:
    """Run ``dbt parse`` when the manifest is missing or older than any file of the dbt project."""
    if force or not MANIFEST.exists() or MANIFEST.stat().st_mtime < _newest_source_mtime():
        dbt = Path(sys.executable).with_name("dbt")
        subprocess.run(
            [str(dbt), "parse", "--quiet", "--project-dir", str(SQL_DIR), "--profiles-dir", str(SQL_DIR)],
            cwd=SQL_DIR,
            check=True,
        )
    return MANIFEST
