"""Sources as Dagster assets: the pinned snapshots (partitioned), the latest addresses, and the land step.

- ``snapshots/<source>``: partitioned by the source's pinned snapshots (registry). A partition fetches
  its commit-addressed files, refuses a sha256 that differs from the pin, stores them in the raw store
  and lands the parsed tables in the landed store. Backfilling Arena's snapshots is a Dagster backfill
  of this asset (one run over the range, or one run per partition on a distributed executor).
- ``fetch/<source>``: for a source with ``latest`` addresses, a conditional request per address. New
  content becomes a snapshot (named by its sha256, dated by Last-Modified or the fetch); unchanged
  content is answered by the server (304) or the mirror (size and mtime) without a body. A source that
  cannot be fetched or parsed keeps its last good snapshot: the step succeeds, its ``fetched`` check
  fails and names the error, and ``safetywash refresh`` says so in its summary and exit code.
- ``land``: decides. When the set of landed snapshots equals the published version's it materializes
  nothing, so every step downstream (the sources' land steps, dbt, capabilities, bootstrap, export,
  publish) is skipped; except in a backfill (the UI's "Materialize all"), which rebuilds as a forced refresh
  would, so that every asset it asks for is materialized (analyses whose inputs did not change keep their rows). Otherwise it makes the run's candidate, writes ``raw.snapshots_missing`` and does
  the few deletes the logs need.
- ``land_<source>``: one step per source copies its new landed snapshots into its own ``raw`` tables and
  appends to the shared logs. Appends to one DuckLake table commit concurrently, so on a distributed
  executor the sources land at once.
- ``raw/snapshots``: once every source has landed, the log's counts as metadata.
"""

import hashlib
import json
import warnings
from collections import Counter
from datetime import datetime, timedelta, timezone

import dagster as dg
import polars as pl
from pydantic import Field

from .metadata import table_metadata
from .parsers import ParseError
from .registry import Registered, Snapshot, SourceFile, load_registry
from .resources import Fetcher, FetchError, NotMirrored, Warehouse
from .settings import LAND_OP
from .landing import (
    LANDED_FORMAT,
    SCHEMAS,
    TABLES,
    LandedStore,
    SnapshotRow,
    content_id,
    file_name,
    missing_pinned,
    parse_snapshot,
    partition_key,
    pinned_content_id,
    resolve_snapshots,
)
from .warehouse import WRITER_POOL, WarehouseError, append_frame, query_frame, transaction, write_table
from .keys import MISSING_KEY, SNAPSHOTS_KEY, fetch_key, raw_key, snapshots_key

# single-run backfills of the pinned snapshots are what the asset is for; Dagster flags the parameter as beta
warnings.filterwarnings("ignore", message=".*`backfill_policy`.*", category=dg.BetaWarning)
BACKFILL_TAG = "dagster/backfill"

REGISTRY: dict[str, Registered] = load_registry()
FETCH_STATUSES = ("new", "known", "unchanged", "not_mirrored", "failed")

LOG_DDL = """
create schema if not exists raw;
create or replace table raw.fetch_log (
    fetch_id varchar not null, source varchar not null, file varchar not null, url varchar not null,
    snapshot varchar not null, sha256 varchar not null, bytes bigint not null, fetched_at timestamptz not null,
    via varchar not null, stored_path varchar not null
);
create or replace table raw.parse_log (
    fetch_id varchar not null, source varchar not null, file varchar not null, sha256 varchar not null,
    duplicate_rows_dropped integer not null, duplicate_lines integer[] not null, parsed_at timestamptz not null
);
"""
LOG_COMMENTS = {
    "raw.fetch_log": "Every file of every snapshot: source, file, URL, snapshot, sha256, bytes, when it was first "
    "fetched, how (https or mirror) and where it is stored (relative to the warehouse folder).",
    "raw.parse_log": "Every file landed: rows dropped because they repeat an earlier row exactly, and their lines.",
    "raw.snapshots_missing": "Every pinned snapshot that is not landed: failed (with file, line and reason) or not "
    "fetched yet. A source with a missing snapshot still publishes its others.",
    "raw.snapshots": "Every distinct snapshot of every source (identical bytes under two addresses are one): its "
    "name, date, content id, whether the registry pins it, where it was first seen, its rows.",
}


def _utc(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(timezone.utc)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def land_files(
    registered: Registered, warehouse: Warehouse, fetched: list[tuple[SourceFile, bytes]], first_seen: dict, via: str
) -> tuple[str, bool]:
    """Store fetched files in the raw store and land their parsed tables; return (content id, new?)."""
    landed = warehouse.landed
    stored = []
    for spec, data in fetched:
        sha, relpath = warehouse.store.store_raw(registered.name, data, spec.suffix)
        stored.append({"name": spec.name, "url": spec.url, "sha256": sha, "bytes": len(data), "stored_path": relpath})
    cid = content_id({f["name"]: f["sha256"] for f in stored})
    if landed.has(registered.name, cid):
        return cid, False
    parsed = parse_snapshot(registered.format, registered.name, fetched)
    landed.write(
        registered.name, cid, {"files": stored, "first_seen": first_seen, "via": via, "parsed_at": _now()}, parsed
    )
    return cid, True


class SnapshotFailure(Exception):
    """One pinned snapshot could not be fetched, verified or parsed; ``record`` says which file, line and why."""

    def __init__(self, record: dict):
        self.record = record
        super().__init__(describe_failure(record))


def describe_failure(record: dict) -> str:
    """One line: the snapshot, its file and line, and the reason."""
    where = f", line {record['line']}" if record.get("line") is not None else ""
    return (
        f"source {record['source']!r}, snapshot {record['snapshot']} ({record['date'][:10]}), "
        f"file {record['file']!r}{where}: {record['reason']}"
    )


def land_pinned(registered: Registered, snap: Snapshot, warehouse: Warehouse, fetcher: Fetcher) -> tuple[str, bool]:
    """Fetch, verify and land one pinned snapshot; raise :class:`SnapshotFailure` naming the file and line."""
    base = {"source": registered.name, "snapshot": snap.id, "date": snap.date, "failed_at": _now()}
    fetched = []
    for spec in snap.files:
        try:
            data = fetcher.get(spec.url)
        except FetchError as exc:
            raise SnapshotFailure(
                {**base, "file": spec.name, "line": None, "url": spec.url, "reason": f"fetch failed: {exc}"}
            ) from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != spec.sha256:
            raise SnapshotFailure(
                {
                    **base,
                    "file": spec.name,
                    "line": None,
                    "url": spec.url,
                    "reason": f"sha256 {digest} ({len(data)} bytes) differs from the pinned "
                    f"{spec.sha256}: a corrupted or changed file, refused",
                }
            )
        fetched.append((spec, data))
    first_seen = {"snapshot": snap.id, "date": snap.date, "urls": [f.url for f in snap.files]}
    try:
        return land_files(registered, warehouse, fetched, first_seen, fetcher.describe())
    except ParseError as exc:
        spec = next((f for f in snap.files if exc.file.split("/")[0] == f.name), snap.files[0])
        raise SnapshotFailure(
            {**base, "file": exc.file, "line": exc.line, "url": spec.url, "reason": exc.reason}
        ) from exc


def build_snapshot_asset(registered: Registered) -> dg.AssetsDefinition:
    """``snapshots/<source>``: the source's pinned snapshots, one partition each."""
    by_key = {partition_key(s): s for s in registered.snapshots}

    @dg.asset(
        key=snapshots_key(registered.name),
        group_name="snapshots",
        kinds={"python", "parquet"},
        partitions_def=dg.StaticPartitionsDefinition(list(by_key)),
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=f"The pinned snapshots of `{registered.name}` (one partition per commit, keyed by date and "
        f"commit): fetched, checked against their sha256 and landed as Parquet. {registered.description}",
        metadata={"licence": registered.licence, "format": registered.format},
    )
    def snapshot_asset(context: dg.AssetExecutionContext, warehouse: Warehouse, fetcher: Fetcher):
        rows, failures = [], {}
        for key in context.partition_keys:
            snap = by_key[key]
            cid = pinned_content_id(snap)
            if warehouse.landed.has(registered.name, cid):
                rows.append({"partition": key, "content_id": cid[:12], "status": "already landed"})
                continue
            try:
                cid, new = land_pinned(registered, snap, warehouse, fetcher)
            except SnapshotFailure as exc:
                failures[cid] = {"partition": key, **exc.record}
                rows.append({"partition": key, "content_id": cid[:12], "status": "FAILED"})
                context.log.error(f"{registered.name} {key}: {exc}")
                continue
            rows.append(
                {"partition": key, "content_id": cid[:12], "status": "landed" if new else "same content as another"}
            )
            context.log.info(f"{registered.name} {key}: {rows[-1]['status']} ({cid[:12]})")
        tried = {pinned_content_id(by_key[k]) for k in context.partition_keys}
        warehouse.landed.record_failures(registered.name, tried, failures)
        metadata = {
            "partitions": len(rows),
            "landed": sum(r["status"] == "landed" for r in rows),
            "failed": len(failures),
            "snapshots": table_metadata(pl.DataFrame(rows).head(100)),
            "via": fetcher.describe(),
        }
        if failures:
            # the others are landed and recorded as materialized, partition by partition; the step fails so that
            # the run, the backfill and `safetywash refresh` say which snapshots are missing and why
            for row in rows:
                if row["status"] != "FAILED":
                    yield dg.AssetMaterialization(
                        asset_key=context.asset_key,
                        partition=row["partition"],
                        metadata={"content_id": row["content_id"], "status": row["status"]},
                    )
            raise dg.Failure(
                f"source {registered.name!r}: {len(failures)} of {len(rows)} pinned snapshot(s) could not be landed "
                f"(the other {len(rows) - len(failures)} are): "
                + "; ".join(describe_failure(f) for f in failures.values()),
                metadata={**metadata, "failed_snapshots": dg.MetadataValue.json(list(failures.values()))},
            )
        yield dg.MaterializeResult(metadata=metadata)

    return snapshot_asset


def build_fetch_asset(registered: Registered) -> dg.AssetsDefinition:
    """``fetch/<source>``: a conditional request to each ``latest`` address of the source."""
    key = fetch_key(registered.name)

    @dg.asset(
        key=key,
        group_name="fetch",
        # the schedule fetches daily at 06:00 UTC: a source not fetched for a day warns, for two days fails
        freshness_policy=dg.FreshnessPolicy.time_window(
            fail_window=timedelta(hours=48), warn_window=timedelta(hours=26)
        ),
        kinds={"python", "file"},
        pool=WRITER_POOL,
        check_specs=[
            dg.AssetCheckSpec(
                "fetched",
                asset=key,
                description="The latest addresses answered and parsed; "
                "when not, the source keeps its last good snapshot. An address the "
                "mirror does not hold (`not_mirrored`) passes, and is listed.",
            )
        ],
        description=f"The latest addresses of `{registered.name}`, fetched with conditional requests; new content "
        f"becomes a snapshot. Data version: the sha256 of the content. {registered.description}",
        metadata={"licence": registered.licence, "urls": list(registered.latest)},
    )
    def fetch(context: dg.AssetExecutionContext, warehouse: Warehouse, fetcher: Fetcher):
        landed = warehouse.landed
        state = landed.latest_state(registered.name)
        outcomes = []
        for url in registered.latest:
            before = state.get(url, {})
            outcome = {"url": url, "status": "", "content_id": before.get("content_id"), "error": None}
            try:
                answer = fetcher.fetch(url, etag=before.get("etag"), last_modified=before.get("last_modified"))
                if (
                    answer.data is None
                    and before.get("content_id")
                    and landed.has(registered.name, before["content_id"])
                ):
                    outcome["status"] = "unchanged"
                else:
                    data = answer.data if answer.data is not None else fetcher.get(url)
                    sha = hashlib.sha256(data).hexdigest()
                    date = (
                        datetime.strptime(answer.last_modified, "%a, %d %b %Y %H:%M:%S %Z")
                        .replace(tzinfo=timezone.utc)
                        .isoformat()
                        if answer.last_modified
                        else _now()
                    )
                    first_seen = {"snapshot": f"{date[:10]}_{sha[:12]}", "date": date, "urls": [url]}
                    spec = SourceFile(file_name(url), url, "data")
                    cid, new = land_files(registered, warehouse, [(spec, data)], first_seen, fetcher.describe())
                    outcome.update(status="new" if new else "known", content_id=cid)
                state[url] = {
                    "etag": answer.etag,
                    "last_modified": answer.last_modified,
                    "content_id": outcome["content_id"],
                    "checked_at": _now(),
                }
            except NotMirrored as exc:
                outcome.update(status="not_mirrored", error=str(exc))
            except (FetchError, ParseError, WarehouseError) as exc:
                outcome.update(status="failed", error=str(exc))
            outcomes.append(outcome)
            context.log.log(
                40 if outcome["status"] == "failed" else 20,
                f"{registered.name} {url}: {outcome['status']}" + (f": {outcome['error']}" if outcome["error"] else ""),
            )
        landed.save_latest_state(registered.name, state)
        failed = [o for o in outcomes if o["status"] == "failed"]
        unmirrored = [o for o in outcomes if o["status"] == "not_mirrored"]
        version = content_id({o["url"]: o["content_id"] or "none" for o in outcomes})
        yield dg.MaterializeResult(
            data_version=dg.DataVersion(version),
            metadata={
                "status": ",".join(sorted({o["status"] for o in outcomes})),
                "via": fetcher.describe(),
                "outcomes": dg.MetadataValue.json(outcomes),
                **{f"content_id/{file_name(o['url'])}": o["content_id"] or "" for o in outcomes},
            },
        )
        # an address the mirror does not hold is the CLI's neutral `not_mirrored`: the source keeps its pinned
        # snapshots, recorded here, and the check passes; only a fetch or parse that failed fails it
        yield dg.AssetCheckResult(
            check_name="fetched",
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"failed": dg.MetadataValue.json(failed), "not_mirrored": dg.MetadataValue.json(unmirrored)},
            description="; ".join(o["error"] for o in failed + unmirrored) or None,
        )

    return fetch


class LandConfig(dg.Config):
    force: bool = Field(
        default=False,
        description="Rebuild every source's raw tables and everything downstream, "
        "even when no snapshot changed (after a change of the dbt models or the analyses).",
    )


def _source_tables(registered: Registered, landed: LandedStore, rows: list[SnapshotRow]) -> dict[str, pl.DataFrame]:
    schemas = SCHEMAS[registered.format]
    out = {}
    for table in TABLES:
        frames = [
            landed.read(registered.name, r.content_id, table).with_columns(
                pl.lit(r.source).alias("source"),
                pl.lit(r.snapshot).alias("snapshot"),
                pl.lit(_utc(r.snapshot_date)).alias("snapshot_at"),
                pl.lit(r.content_id).alias("content_id"),
            )
            for r in rows
        ]
        empty = pl.DataFrame(
            schema={
                "source": pl.String,
                "snapshot": pl.String,
                "snapshot_at": pl.Datetime("us", "UTC"),
                "content_id": pl.String,
                **schemas[table],
            }
        )
        out[table] = pl.concat([empty, *frames], how="diagonal_relaxed").select(empty.columns)
    return out


SNAPSHOT_SCHEMA = {
    "source": pl.String,
    "snapshot": pl.String,
    "snapshot_at": pl.Datetime("us", "UTC"),
    "content_id": pl.String,
    "pinned": pl.Boolean,
    "landing": pl.String,
    "first_seen_as": pl.String,
    "first_seen_urls": pl.String,
    "files": pl.String,
    "via": pl.String,
    "parsed_at": pl.Datetime("us", "UTC"),
    "n_scores": pl.Int64,
    "n_models": pl.Int64,
    "n_benchmarks": pl.Int64,
    "duplicate_rows_dropped": pl.Int64,
}

FETCH_LOG_SCHEMA = {
    "fetch_id": pl.String,
    "source": pl.String,
    "file": pl.String,
    "url": pl.String,
    "snapshot": pl.String,
    "sha256": pl.String,
    "bytes": pl.Int64,
    "fetched_at": pl.Datetime("us", "UTC"),
    "via": pl.String,
    "stored_path": pl.String,
}
PARSE_LOG_SCHEMA = {
    "fetch_id": pl.String,
    "source": pl.String,
    "file": pl.String,
    "sha256": pl.String,
    "duplicate_rows_dropped": pl.Int32,
    "duplicate_lines": pl.List(pl.Int32),
    "parsed_at": pl.Datetime("us", "UTC"),
}


def _log_rows(rows: list[SnapshotRow]) -> tuple[list[tuple], list[tuple], list[dict]]:
    fetch_log, parse_log, snapshots = [], [], []
    for r in rows:
        m = r.manifest
        for f in m["files"]:
            fetch_log.append(
                (
                    r.content_id,
                    r.source,
                    f["name"],
                    f["url"],
                    r.snapshot,
                    f["sha256"],
                    f["bytes"],
                    _utc(m["parsed_at"]),
                    m["via"],
                    f["stored_path"],
                )
            )
        for file, lines in m["duplicate_lines"].items():
            sha = next((f["sha256"] for f in m["files"] if file.split("/")[0] == f["name"]), "")
            parse_log.append((r.content_id, r.source, file, sha, len(lines), lines, _utc(m["parsed_at"])))
        snapshots.append(
            {
                "source": r.source,
                "snapshot": r.snapshot,
                "snapshot_at": _utc(r.snapshot_date),
                "content_id": r.content_id,
                "pinned": r.pinned,
                "landing": f"landed/v{LANDED_FORMAT}/{r.source}/{r.content_id}",
                "first_seen_as": m["first_seen"]["snapshot"],
                "first_seen_urls": json.dumps(m["first_seen"]["urls"]),
                "files": json.dumps(m["files"]),
                "via": m["via"],
                "parsed_at": _utc(m["parsed_at"]),
                "n_scores": m["rows"]["scores"],
                "n_models": m["rows"]["models"],
                "n_benchmarks": m["rows"]["benchmarks"],
                "duplicate_rows_dropped": sum(len(v) for v in m["duplicate_lines"].values()),
            }
        )
    return fetch_log, parse_log, snapshots


def build_land_asset(sources: list[Registered]) -> dg.AssetsDefinition:
    """``land``: decides whether the run rebuilds anything, and prepares the candidate for the sources' land steps."""
    upstream = [snapshots_key(r.name) for r in sources] + [fetch_key(r.name) for r in sources if r.latest]

    @dg.multi_asset(
        name=LAND_OP,
        group_name="raw",
        pool=WRITER_POOL,
        specs=[
            dg.AssetSpec(
                MISSING_KEY,
                kinds={"duckdb"},
                skippable=True,
                deps=upstream,
                description=LOG_COMMENTS["raw.snapshots_missing"],
            )
        ],
    )
    def land(context: dg.AssetExecutionContext, config: LandConfig, warehouse: Warehouse):
        landed = warehouse.landed
        resolved = {reg.name: resolve_snapshots(reg, landed) for reg in sources}
        for reg in sources:
            if missing := missing_pinned(reg, landed):
                failed = landed.failures(reg.name)
                why = (
                    f"{len(failed)} failed: {'; '.join(describe_failure(f) for f in failed.values())}"
                    if failed
                    else "not fetched yet"
                )
                context.log.warning(
                    f"{reg.name}: {len(missing)} pinned snapshot(s) not landed ({why}); backfill "
                    f"snapshots/{reg.name} (`safetywash refresh` does it) to add them"
                )
        held = _published_snapshots(warehouse)
        changed = sorted(
            name
            for name, rows in resolved.items()
            if any((r.snapshot, r.content_id) not in held.get(name, set()) for r in rows)
        )
        # a backfill is the UI's "Materialize all" (or of a selection): what it asks for is materialized, as forced
        backfill = context.run.tags.get(BACKFILL_TAG)
        if not changed and not config.force and not backfill:
            context.log.info("no source has a new snapshot since the published version: nothing to rebuild")
            warehouse.store.clean()  # what an earlier failed run left (its candidate) goes at the next start
            return
        candidate = warehouse.candidate(context)
        with candidate.connect() as con:
            with transaction(con):
                prepare_raw(con, landed, resolved)
                not_landed = query_frame(
                    con, "select source, status, count(*) as n from raw.snapshots_missing group by all order by all"
                )
        context.log.info(
            f"sources with new snapshots: {', '.join(changed) or 'none'}"
            + (" (forced rebuild)" if config.force else f" (rebuilt for backfill {backfill})" if backfill else "")
        )
        yield dg.MaterializeResult(
            asset_key=MISSING_KEY,
            metadata={
                "dagster/row_count": int(not_landed["n"].sum()),
                "changed_sources": ", ".join(changed),
                "missing": table_metadata(not_landed),
            },
        )

    return land


def build_source_land_asset(reg: Registered) -> dg.AssetsDefinition:
    """``land_<source>``: the source's new snapshots into its raw tables and the shared logs (appends only, so the
    sources' steps can write the candidate at once)."""
    upstream = [MISSING_KEY, snapshots_key(reg.name)] + ([fetch_key(reg.name)] if reg.latest else [])
    specs = [
        dg.AssetSpec(
            raw_key(reg.name, table),
            deps=upstream,
            kinds={"duckdb"},
            description=f"`raw.{reg.name}__{table}`: the {table} of every snapshot of `{reg.name}`, "
            "as parsed, with source, snapshot, snapshot_at, content_id, file, line and sha256.",
        )
        for table in TABLES
    ]

    @dg.multi_asset(name=f"land_{reg.name}", group_name="raw", pool=WRITER_POOL, specs=specs)
    def land_source(context: dg.AssetExecutionContext, warehouse: Warehouse):
        landed = warehouse.landed
        candidate = warehouse.candidate(context)
        with candidate.connect() as con:
            with transaction(con):
                new = write_source(con, reg, landed, resolve_snapshots(reg, landed))
            pairs = con.execute(
                "select snapshot, content_id, snapshot_at from raw.snapshots where source = ? order by all", [reg.name]
            ).fetchall()
        version = hashlib.sha256(json.dumps(sorted([s, c] for s, c, _ in pairs)).encode()).hexdigest()
        newest = max(pairs, key=lambda p: p[2], default=("", "", ""))
        meta = {
            "new_snapshots": len(new),
            "snapshots": len(pairs),
            "newest_snapshot": newest[0],
            "newest_snapshot_at": str(newest[2]),
        }
        if new:
            meta["new"] = ", ".join(r.snapshot[:19] for r in new[-10:])
        context.log.info(f"{reg.name}: {len(new)} new snapshot(s), {len(pairs)} in all")
        for table in TABLES:
            yield dg.MaterializeResult(
                asset_key=raw_key(reg.name, table), data_version=dg.DataVersion(version), metadata=meta
            )

    return land_source


def build_snapshot_log_asset(sources: list[Registered]) -> dg.AssetsDefinition:
    """``raw/snapshots``: the log the sources' land steps appended to, once all of them have."""

    @dg.asset(
        key=SNAPSHOTS_KEY,
        group_name="raw",
        kinds={"duckdb"},
        pool=WRITER_POOL,
        deps=[raw_key(reg.name, table) for reg in sources for table in TABLES],
        description=LOG_COMMENTS["raw.snapshots"],
    )
    def snapshot_log(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        held = _published_snapshots(warehouse)
        with warehouse.candidate(context).connect(read_only=True) as con:
            rows = con.execute("select source, snapshot, content_id from raw.snapshots order by all").fetchall()
        counts = dict(Counter(source for source, _, _ in rows))
        added = sorted({s for s, snap, cid in rows if (snap, cid) not in held.get(s, set())})
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(rows),
                "changed_sources": ", ".join(added),
                "snapshots_per_source": dg.MetadataValue.json(counts),
            }
        )

    return snapshot_log


def prepare_raw(con, landed: LandedStore, resolved: dict[str, list[SnapshotRow]]) -> None:
    """Make the candidate ready for the sources' land steps, which only append to the shared logs (DuckLake
    commits concurrent appends to one table, not an append beside a delete or an alter): the log and source
    tables created where missing, the log rows of snapshots that will be landed again removed, the missing
    snapshots and the tables' comments written.

    A snapshot landed again (a new landed format, or renamed by a new pin) replaces its rows. A database
    without ``raw.snapshots`` (new, or from before snapshots) is rebuilt from the landed store. Every
    registered source gets its tables, empty until it has a snapshot, so dbt always has its inputs.
    """
    raw_tables = _raw_tables(con)
    fresh = "snapshots" not in raw_tables
    if fresh:
        con.execute(LOG_DDL)
        write_table(con, "raw.snapshots", pl.DataFrame(schema=SNAPSHOT_SCHEMA))
    held = set(con.execute("select source, snapshot, content_id from raw.snapshots").fetchall())
    for reg in REGISTRY.values():
        if fresh or f"{reg.name}__scores" not in raw_tables:
            for table, frame in _source_tables(reg, landed, []).items():
                write_table(con, f"raw.{reg.name}__{table}", frame)
        cids = [r.content_id for r in resolved.get(reg.name, []) if (r.source, r.snapshot, r.content_id) not in held]
        if cids:
            for table in ("fetch_log", "parse_log"):
                con.execute(
                    f"delete from raw.{table} where source = ? and fetch_id in (select unnest(?))", [reg.name, cids]
                )
            con.execute(
                "delete from raw.snapshots where source = ? and content_id in (select unnest(?))", [reg.name, cids]
            )
    write_table(con, "raw.snapshots_missing", missing_snapshots(landed))
    for table, comment in LOG_COMMENTS.items():
        con.execute(f"comment on table {table} is '{comment}'")


def write_source(con, reg: Registered, landed: LandedStore, rows: list[SnapshotRow]) -> list[SnapshotRow]:
    """Add the snapshots of ``rows`` that ``raw.snapshots`` does not hold yet to the source's raw tables, and
    append them to the fetch and parse logs and ``raw.snapshots`` (after :func:`prepare_raw`); return them.

    History only grows: a snapshot the database holds stays even if its landed files are gone.
    """
    held = set(con.execute("select snapshot, content_id from raw.snapshots where source = ?", [reg.name]).fetchall())
    new = [r for r in rows if (r.snapshot, r.content_id) not in held]
    if not new:
        return []
    cids = [r.content_id for r in new]
    for table, frame in _source_tables(reg, landed, new).items():
        con.execute(f"delete from raw.{reg.name}__{table} where content_id in (select unnest(?))", [cids])
        append_frame(con, f"raw.{reg.name}__{table}", frame)
    fetch_log, parse_log, snapshot_rows = _log_rows(new)
    frames = {
        "fetch_log": pl.DataFrame(fetch_log, schema=FETCH_LOG_SCHEMA, orient="row"),
        "parse_log": pl.DataFrame(parse_log, schema=PARSE_LOG_SCHEMA, orient="row"),
        "snapshots": pl.DataFrame(snapshot_rows, schema=SNAPSHOT_SCHEMA),
    }
    for table, frame in frames.items():
        if frame.height:
            append_frame(con, f"raw.{table}", frame)
    return new


MISSING_SCHEMA = {
    "source": pl.String,
    "snapshot": pl.String,
    "snapshot_at": pl.Datetime("us", "UTC"),
    "partition": pl.String,
    "status": pl.String,
    "file": pl.String,
    "line": pl.Int64,
    "url": pl.String,
    "reason": pl.String,
    "failed_at": pl.Datetime("us", "UTC"),
}


def missing_snapshots(landed: LandedStore) -> pl.DataFrame:
    """Every pinned snapshot of every source that is not landed: ``failed`` with its file, line and reason, or
    ``not fetched`` (its source was not selected, or its backfill has not run)."""
    rows = []
    for reg in REGISTRY.values():
        failed = landed.failures(reg.name)
        for snap in missing_pinned(reg, landed):
            record = failed.get(pinned_content_id(snap))
            rows.append(
                {
                    "source": reg.name,
                    "snapshot": snap.id,
                    "snapshot_at": _utc(snap.date),
                    "partition": partition_key(snap),
                    "status": "failed" if record else "not fetched",
                    "file": record and record["file"],
                    "line": record and record["line"],
                    "url": record and record["url"],
                    "reason": record and record["reason"],
                    "failed_at": record and _utc(record["failed_at"]),
                }
            )
    return pl.DataFrame(rows, schema=MISSING_SCHEMA)


def _published_snapshots(warehouse: Warehouse) -> dict[str, set[tuple[str, str]]]:
    """(snapshot, content id) pairs per source in the published version's ``raw.snapshots``."""
    store = warehouse.store
    if store.current_version() is None:
        return {}
    with store.read(allow_files=True) as con:  # no user SQL here: the shared, unsandboxed instance
        if "snapshots" not in _raw_tables(con):
            return {}
        pairs = con.execute("select source, snapshot, content_id from raw.snapshots order by all").fetchall()
    out: dict[str, set[tuple[str, str]]] = {}
    for source, snapshot, cid in pairs:
        out.setdefault(source, set()).add((snapshot, cid))
    return out


def _raw_tables(con) -> set[str]:
    """The tables of schema ``raw`` in the connection's default database (one catalog read: information_schema
    reads every attached database's, 40 ms a call on the candidate)."""
    rows = con.execute(
        "select table_name from duckdb_tables() where database_name = current_database() and schema_name = 'raw'"
    ).fetchall()
    return {name for (name,) in rows}


def build_source_assets(sources: list[Registered]) -> list[dg.AssetsDefinition]:
    """Every source's snapshot, fetch and land assets, the step that decides whether to land, and the log."""
    out = [build_snapshot_asset(r) for r in sources if r.snapshots]
    out += [build_fetch_asset(r) for r in sources if r.latest]
    return [
        *out,
        build_land_asset(sources),
        *(build_source_land_asset(r) for r in sources),
        build_snapshot_log_asset(sources),
    ]


source_assets: list[dg.AssetsDefinition] = build_source_assets(list(REGISTRY.values()))
