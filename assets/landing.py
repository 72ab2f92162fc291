"""Landing, without Dagster: a snapshot's files parsed into tables and kept in the landed store, by content.

A snapshot is one distinct content of a source: its files' sha256 decide its ``content_id``, so the
same bytes under two addresses (two commits, or a commit and ``main``) are one snapshot. The landed
store, ``landed/v<LANDED_FORMAT>/<source>/<content_id>/`` of the objects (the warehouse folder, or S3),
holds per snapshot the parsed tables as Parquet and a ``manifest.json`` (files, addresses, when first
seen, rows dropped). Like the raw store it is content-addressed and written once (manifest last), so the
partitioned backfill, the ``latest`` fetches and workers on other machines can write it without the
run's candidate; the land step copies it into the candidate's ``raw`` tables. No dagster import.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

import polars as pl

from .parsers import ParseError
from .parsers.epoch_hub import read_hub_archive
from .parsers.leaderboard import BENCHMARKS_SCHEMA, MODELS_SCHEMA, SCORES_SCHEMA, Leaderboard
from .parsers.safetywashing import (
    BENCHMARKS_SCHEMA as SW_BENCHMARKS_SCHEMA,
    MODELS_SCHEMA as SW_MODELS_SCHEMA,
    SCORES_SCHEMA as SW_SCORES_SCHEMA,
    parse_benchmark_info,
    parse_matrix,
)
from .files import Objects
from .registry import ADAPTERS, Registered, Snapshot, SourceFile

# bump when the landed tables change shape: every snapshot is then parsed again into a new folder
LANDED_FORMAT = 1
TABLES = ("scores", "models", "benchmarks")
FILE_COLUMNS = {"file": pl.String, "sha256": pl.String}
SCHEMAS: dict[str, dict[str, dict[str, pl.DataType]]] = {
    "safetywashing_csv": {
        "scores": {"model_set": pl.String, **SW_SCORES_SCHEMA, **FILE_COLUMNS},
        "models": {"model_set": pl.String, **SW_MODELS_SCHEMA, **FILE_COLUMNS},
        "benchmarks": {**SW_BENCHMARKS_SCHEMA, **FILE_COLUMNS},
    },
    **{
        fmt: {
            "scores": {**SCORES_SCHEMA, **FILE_COLUMNS},
            "models": {**MODELS_SCHEMA, **FILE_COLUMNS},
            "benchmarks": {**BENCHMARKS_SCHEMA, **FILE_COLUMNS},
        }
        for fmt in ADAPTERS
    },
}


def content_id(files: Mapping[str, str]) -> str:
    """The id of a snapshot's content: the sha256 of its one file, or a sha256 over (name, sha256) pairs."""
    if len(files) == 1:
        return next(iter(files.values()))
    return hashlib.sha256("".join(f"{name}\0{sha}\n" for name, sha in sorted(files.items())).encode()).hexdigest()


def pinned_content_id(snapshot: Snapshot) -> str:
    return content_id({f.name: f.sha256 for f in snapshot.files})


def partition_key(snapshot: Snapshot) -> str:
    """A pinned snapshot's Dagster partition key: its date and short id, so keys sort by date."""
    return f"{snapshot.date[:10]}_{snapshot.id[:12]}"


@dataclass(frozen=True)
class Parsed:
    tables: dict[str, pl.DataFrame]
    duplicate_lines: dict[str, list[int]]


def _with_file(frame: pl.DataFrame, file: str, sha256: str) -> pl.DataFrame:
    return frame.with_columns(pl.lit(file).alias("file"), pl.lit(sha256).alias("sha256"))


def _leaderboard_files(files: Sequence[tuple[SourceFile, bytes]], source: str) -> list[tuple[str, str, bytes]]:
    """(file name, sha256 of what was fetched, bytes) per file to parse; an Epoch hub archive is opened."""
    out = []
    for spec, data in files:
        sha = hashlib.sha256(data).hexdigest()
        if spec.suffix == ".zip":
            for name, member in sorted(read_hub_archive(data, source=source, file=spec.name).items()):
                out.append((f"{spec.name}/{name}", sha, member))
        else:
            out.append((spec.name, sha, data))
    return out


def parse_snapshot(fmt: str, source: str, files: Sequence[tuple[SourceFile, bytes]]) -> Parsed:
    """Parse the files of one snapshot into the landed tables of ``fmt`` (:data:`SCHEMAS`).

    Raises :class:`~assets.parsers.ParseError` naming the source, the file and the line.
    """
    parts: dict[str, list[pl.DataFrame]] = {t: [] for t in TABLES}
    dropped: dict[str, list[int]] = {}
    if fmt == "safetywashing_csv":
        for spec, data in files:
            sha = hashlib.sha256(data).hexdigest()
            if spec.role == "matrix":
                scores, models, dropped[spec.name] = parse_matrix(data, source=source, file=spec.name)
                tag = pl.lit(spec.model_set).alias("model_set")
                parts["scores"].append(_with_file(scores.with_columns(tag), spec.name, sha))
                parts["models"].append(_with_file(models.with_columns(tag), spec.name, sha))
            elif spec.role == "info":
                info, dropped[spec.name] = parse_benchmark_info(data, source=source, file=spec.name)
                parts["benchmarks"].append(_with_file(info, spec.name, sha))
            else:
                raise ParseError(
                    source,
                    spec.name,
                    None,
                    f"role {spec.role!r}: a Safetywashing file is a 'matrix' or the 'info' list",
                )
    else:
        parse = ADAPTERS[fmt]
        for name, sha, data in _leaderboard_files(files, source):
            board: Leaderboard = parse(data, source=source, file=name)
            dropped[name] = board.duplicate_lines
            for table in TABLES:
                parts[table].append(_with_file(getattr(board, table), name, sha))
    schemas = SCHEMAS[fmt]
    tables = {
        t: pl.concat(parts[t]).select(list(schemas[t])) if parts[t] else pl.DataFrame(schema=schemas[t]) for t in TABLES
    }
    return Parsed(tables, dropped)


class LandedStore:
    """``landed/v<LANDED_FORMAT>/<source>/<content_id>/`` of the objects: parsed snapshots, written once.

    A snapshot's tables are written first and its ``manifest.json`` last: a snapshot is landed when its
    manifest is there (a killed write leaves files no one reads, overwritten by the next landing).
    """

    def __init__(self, objects: Objects):
        self.objects = objects
        self.prefix = f"landed/v{LANDED_FORMAT}"

    @property
    def root(self) -> Path | None:
        """The folder of the landed snapshots on this host (None when they are on S3)."""
        return self.objects.local(self.prefix)

    def url(self, *parts: str) -> str:
        return self.objects.url("/".join([self.prefix, *parts]))

    def _key(self, *parts: str) -> str:
        return "/".join([self.prefix, *parts])

    def has(self, source: str, cid: str) -> bool:
        return self.objects.exists(self._key(source, cid, "manifest.json"))

    def write(self, source: str, cid: str, manifest: dict, parsed: Parsed) -> None:
        """Land one snapshot whole or not at all; a snapshot already landed is left as it is."""
        if self.has(source, cid):
            return
        for table, frame in parsed.tables.items():
            buffer = io.BytesIO()
            frame.write_parquet(buffer)
            self.objects.put(self._key(source, cid, f"{table}.parquet"), buffer.getvalue())
        rows = {table: frame.height for table, frame in parsed.tables.items()}
        body = {
            **manifest,
            "source": source,
            "content_id": cid,
            "landed_format": LANDED_FORMAT,
            "rows": rows,
            "duplicate_lines": parsed.duplicate_lines,
        }
        self.objects.put(self._key(source, cid, "manifest.json"), json.dumps(body, indent=1, sort_keys=True).encode())

    def manifest(self, source: str, cid: str) -> dict:
        return json.loads(self.objects.get(self._key(source, cid, "manifest.json")))

    def content_ids(self, source: str) -> list[str]:
        return [
            cid for cid in self.objects.names(self._key(source)) if not cid.endswith(".json") and self.has(source, cid)
        ]

    def read(self, source: str, cid: str, table: str) -> pl.DataFrame:
        key = self._key(source, cid, f"{table}.parquet")
        local = self.objects.local(key)
        return pl.read_parquet(local if local is not None else io.BytesIO(self.objects.get(key)))

    # ---- pinned snapshots that could not be landed, and why

    def failures(self, source: str) -> dict[str, dict]:
        """The last failure of each pinned snapshot of ``source`` not landed yet, by content id."""
        try:
            recorded = json.loads(self.objects.get(self._key(source, "failures.json")))
        except FileNotFoundError:
            recorded = {}
        return {cid: record for cid, record in recorded.items() if not self.has(source, cid)}

    def record_failures(self, source: str, tried: set[str], failed: Mapping[str, dict]) -> None:
        """Replace the failures of the snapshots ``tried`` by ``failed`` (the others tried landed)."""
        kept = {cid: r for cid, r in self.failures(source).items() if cid not in tried}
        self.objects.put(
            self._key(source, "failures.json"), json.dumps({**kept, **failed}, indent=1, sort_keys=True).encode()
        )

    # ---- the state of conditional requests to a source's latest addresses

    def latest_state(self, source: str) -> dict:
        try:
            return json.loads(self.objects.get(self._key(source, "latest.json")))
        except FileNotFoundError:
            return {}

    def save_latest_state(self, source: str, state: dict) -> None:
        self.objects.put(self._key(source, "latest.json"), json.dumps(state, indent=1, sort_keys=True).encode())


@dataclass(frozen=True)
class SnapshotRow:
    """One snapshot of a source as the warehouse records it."""

    source: str
    snapshot: str
    snapshot_date: str
    content_id: str
    pinned: bool
    manifest: dict


def resolve_snapshots(registered: Registered, landed: LandedStore) -> list[SnapshotRow]:
    """Every landed snapshot of a source, named: by its pinned snapshot when the registry pins the same
    content (the earliest, if several commits hold it), else as first seen at a ``latest`` address."""
    pinned: dict[str, Snapshot] = {}
    for snap in registered.snapshots:  # oldest first
        pinned.setdefault(pinned_content_id(snap), snap)
    rows = []
    for cid in landed.content_ids(registered.name):
        manifest = landed.manifest(registered.name, cid)
        if cid in pinned:
            snap = pinned[cid]
            rows.append(SnapshotRow(registered.name, snap.id, snap.date, cid, True, manifest))
        else:
            seen = manifest["first_seen"]
            rows.append(SnapshotRow(registered.name, seen["snapshot"], seen["date"], cid, False, manifest))
    return sorted(rows, key=lambda r: (datetime.fromisoformat(r.snapshot_date), r.snapshot))


def missing_pinned(registered: Registered, landed: LandedStore) -> list[Snapshot]:
    """The pinned snapshots whose content is not landed yet."""
    return [s for s in registered.snapshots if not landed.has(registered.name, pinned_content_id(s))]


def file_name(url: str) -> str:
    return PurePosixPath(url).name
