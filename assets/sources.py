"""The source registry and, for each source, a fetch asset and a land asset.

Fetch: download every file of the source (or read it from the mirror), refuse a pinned file whose
sha256 differs, store each file once under ``raw/<source>/<sha256><suffix>`` and log it in
``raw.fetch_log``. Land: parse the logged files and replace the source's ``raw.<source>__*`` tables
in one transaction. Each source is its own pair of steps, so executors can run sources apart.
"""

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import dagster as dg
import polars as pl

from .metadata import markdown_table
from .parsers import ParseError
from .parsers.safetywashing import parse_benchmark_info, parse_matrix
from .registry import Source, SourceFile, load_registry
from .resources import Fetcher, FetchError, Warehouse
from .warehouse import WRITER_POOL, WarehouseError, transaction, write_table


# the formats the refresh ingests today; the registry holds every source, with an adapter for each
WIRED_FORMATS = ("safetywashing_csv",)
SOURCES: tuple[Source, ...] = tuple(r.source() for r in load_registry().values() if r.format in WIRED_FORMATS)

RAW_TABLES = ("scores", "models", "benchmarks")

FETCH_LOG_DDL = """
create schema if not exists raw;
create table if not exists raw.fetch_log (
    fetch_id varchar not null,
    source varchar not null,
    file varchar not null,
    url varchar not null,
    snapshot varchar not null,
    sha256 varchar not null,
    bytes bigint not null,
    fetched_at timestamptz not null,
    via varchar not null,
    stored_path varchar not null
);
create table if not exists raw.parse_log (
    fetch_id varchar not null,
    source varchar not null,
    file varchar not null,
    sha256 varchar not null,
    duplicate_rows_dropped integer not null,
    duplicate_lines integer[] not null,
    parsed_at timestamptz not null
);
comment on table raw.fetch_log is 'Every file fetched: source, file, URL, snapshot, sha256, bytes, when, how (https or mirror) and where it is stored (relative to the warehouse folder).';
comment on table raw.parse_log is 'Every file landed: rows dropped because they repeat an earlier row exactly, and their lines.';
"""


@dataclass(frozen=True)
class Landed:
    """What a lander makes of a source's files: its raw tables, and the lines it dropped per file."""

    tables: dict[str, pl.DataFrame]
    duplicate_lines: dict[str, list[int]]


def _land_safetywashing(source: Source, files: dict[str, tuple[SourceFile, bytes, str]]) -> Landed:
    scores, models, benchmarks, dropped = [], [], [], {}
    for spec, data, sha256 in files.values():
        prov = {"source": source.name, "snapshot": source.snapshot, "file": spec.name, "sha256": sha256}
        if spec.role == "matrix":
            s, m, dropped[spec.name] = parse_matrix(data, source=source.name, file=spec.name)
            scores.append(s.with_columns(pl.lit(spec.model_set).alias("model_set"), **{k: pl.lit(v) for k, v in prov.items()}))
            models.append(m.with_columns(pl.lit(spec.model_set).alias("model_set"), **{k: pl.lit(v) for k, v in prov.items()}))
        elif spec.role == "info":
            b, dropped[spec.name] = parse_benchmark_info(data, source=source.name, file=spec.name)
            benchmarks.append(b.with_columns(**{k: pl.lit(v) for k, v in prov.items()}))
    return Landed(
        {"scores": pl.concat(scores), "models": pl.concat(models), "benchmarks": pl.concat(benchmarks)}, dropped
    )


LANDERS: dict[str, Callable[[Source, dict[str, tuple[SourceFile, bytes, str]]], Landed]] = {
    "safetywashing_csv": _land_safetywashing,
}


def fetch_key(source: Source) -> dg.AssetKey:
    return dg.AssetKey(["fetch", source.name])


def raw_key(source: Source, table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", f"{source.name}__{table}"])


def fetch_files(source: Source, fetcher: Fetcher) -> list[tuple[SourceFile, bytes]]:
    """Fetch every file of ``source`` and check pinned checksums, before anything is written."""
    fetched = []
    for spec in source.files:
        try:
            data = fetcher.get(spec.url)
        except FetchError as exc:
            raise dg.Failure(f"source {source.name!r}, file {spec.name!r}: fetch failed: {exc}") from exc
        digest = hashlib.sha256(data).hexdigest()
        if spec.sha256 and digest != spec.sha256:
            raise dg.Failure(
                f"source {source.name!r}, file {spec.name!r}: sha256 {digest} ({len(data)} bytes) differs from "
                f"the pinned {spec.sha256} for {spec.url}; refusing a corrupted or changed file. "
                "The warehouse was not changed.",
                metadata={"url": spec.url, "sha256": digest, "expected_sha256": spec.sha256, "bytes": len(data)},
            )
        fetched.append((spec, data))
    return fetched


def build_source_assets(source: Source) -> list[dg.AssetsDefinition]:
    """The fetch asset and the land multi-asset of one source."""

    @dg.asset(
        key=fetch_key(source),
        group_name="sources",
        kinds={"python", "file"},
        pool=WRITER_POOL,
        description=f"Fetch the files of `{source.name}` into the content-addressed raw store and log them "
        f"in `raw.fetch_log`. {source.description}",
        metadata={"snapshot": source.snapshot, "licence": source.licence, "urls": [f.url for f in source.files]},
    )
    def fetch(context: dg.AssetExecutionContext, warehouse: Warehouse, fetcher: Fetcher) -> dg.MaterializeResult:
        fetched = fetch_files(source, fetcher)
        candidate = warehouse.candidate(context)
        fetch_id = str(uuid.uuid4())
        now = datetime.now(timezone.utc)
        rows = []
        for spec, data in fetched:
            sha256, relpath = warehouse.store.store_raw(source.name, data, spec.suffix)
            rows.append((fetch_id, source.name, spec.name, spec.url, source.snapshot, sha256, len(data), now, fetcher.describe(), relpath))
            context.log.info(f"{source.name}/{spec.name}: {len(data)} bytes, sha256 {sha256}")
        with candidate.connect() as con:
            con.execute(FETCH_LOG_DDL)
            con.executemany("insert into raw.fetch_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return dg.MaterializeResult(
            metadata={
                "fetch_id": fetch_id,
                "snapshot": source.snapshot,
                "via": fetcher.describe(),
                "files": dg.MetadataValue.md(
                    "| file | bytes | sha256 |\n|---|---|---|\n"
                    + "\n".join(f"| {r[2]} | {r[6]} | `{r[5]}` |" for r in rows)
                ),
                **{f"sha256/{r[2]}": r[5] for r in rows},
            }
        )

    @dg.multi_asset(
        name=f"land_{source.name}",
        group_name="sources",
        pool=WRITER_POOL,
        specs=[
            dg.AssetSpec(
                raw_key(source, table),
                deps=[fetch_key(source)],
                kinds={"duckdb"},
                description=f"`raw.{source.name}__{table}`: the {table} of `{source.name}` as parsed from the "
                "fetched files, one row per cell/entity, with file, line and sha256.",
            )
            for table in RAW_TABLES
        ],
    )
    def land(context: dg.AssetExecutionContext, warehouse: Warehouse):
        candidate = warehouse.candidate(context)
        with candidate.connect(read_only=True) as con:
            logged = con.execute(
                """
                select fetch_id, file, sha256, stored_path from raw.fetch_log
                where fetch_id = (select fetch_id from raw.fetch_log where source = ? order by fetched_at desc limit 1)
                """,
                [source.name],
            ).fetchall()
        by_name = {spec.name: spec for spec in source.files}
        files = {}
        try:
            for _, name, sha256, stored_path in logged:
                files[name] = (by_name[name], warehouse.store.read_raw(stored_path, sha256), sha256)
            landed = LANDERS[source.format](source, files)
        except (ParseError, WarehouseError) as exc:
            raise dg.Failure(f"{exc}. Nothing was published.") from exc
        now = datetime.now(timezone.utc)
        parse_log = [(logged[0][0], source.name, name, sha, len(landed.duplicate_lines[name]), landed.duplicate_lines[name], now)
                     for name, (_, _, sha) in files.items()]
        with candidate.connect() as con:
            con.execute(FETCH_LOG_DDL)
            with transaction(con):
                for table, frame in landed.tables.items():
                    write_table(con, f"raw.{source.name}__{table}", frame)
                con.executemany("insert into raw.parse_log values (?, ?, ?, ?, ?, ?, ?)", parse_log)
        dropped = {name: len(lines) for name, lines in landed.duplicate_lines.items()}
        for table, frame in landed.tables.items():
            extra = {}
            if "value" in frame.columns:
                extra["n_missing_values"] = frame["value"].null_count()
            yield dg.MaterializeResult(
                asset_key=raw_key(source, table),
                metadata={
                    "dagster/row_count": frame.height,
                    "snapshot": source.snapshot,
                    "files": ", ".join(f"{n} ({sha[:12]})" for n, (_, _, sha) in files.items()),
                    "duplicate_rows_dropped": dg.MetadataValue.json(dropped),
                    "preview": markdown_table(frame.head(5)),
                    **extra,
                },
            )

    return [fetch, land]


source_assets: list[dg.AssetsDefinition] = [a for s in SOURCES for a in build_source_assets(s)]
