"""Model identity assets: one key per (source, raw name), and the names that match nothing elsewhere."""

import dagster as dg
import polars as pl

from .model_keys import RAW_NAME, Alias, identify, unmatched
from .metadata import column_schema, table_metadata
from .resources import Warehouse
from .warehouse import WRITER_POOL, query_frame, replace_tables
from .keys import ALIASES_KEY, IDENTITY_KEY, MODELS_KEY, UNMATCHED_KEY

IDENTITY_DESCRIPTION = (
    "`marts.model_identity(source, raw_name, model_key, rule, valid_from, valid_to, snapshots, "
    "newest_snapshot)`: the canonical key of every model name of every source and the rule that "
    "gave it (`alias` from `seeds.model_aliases`, `rules`, `undated`); names with equal keys are "
    "one model. A name with dated aliases has a row per alias, valid for snapshots dated within "
    "[valid_from, valid_to], and a `rules` row (no dates) for its other snapshots."
)
UNMATCHED_DESCRIPTION = (
    "`marts.unmatched_models(source, raw_name, snapshot, suggestion, name_issue)`: every name whose "
    "key no other source shares, and every name that is not a plain model name, with its newest "
    "snapshot and the closest key elsewhere as a suggestion to review (never joined): add an "
    "alias to `seeds.model_aliases` if it is right. `name_issue`: `markup` (an HTML tag or "
    "entity), `control_character`, `implausible_org_prefix` (a '/' that does not follow an "
    "organisation: the name keeps it and joins nothing by the organisation rule), else null."
)


@dg.multi_asset(
    name="model_identity",
    group_name="marts",
    pool=WRITER_POOL,
    specs=[
        dg.AssetSpec(
            IDENTITY_KEY, deps=[MODELS_KEY, ALIASES_KEY], kinds={"python", "duckdb"}, description=IDENTITY_DESCRIPTION
        ),
        dg.AssetSpec(
            UNMATCHED_KEY, deps=[MODELS_KEY, ALIASES_KEY], kinds={"python", "duckdb"}, description=UNMATCHED_DESCRIPTION
        ),
    ],
)
def model_identity(context: dg.AssetExecutionContext, warehouse: Warehouse):
    candidate = warehouse.candidate(context)
    with candidate.connect(read_only=True) as con:
        seen = query_frame(
            con,
            f"""
            select source, {RAW_NAME} as raw_name, count(distinct snapshot) as snapshots,
                   arg_max(snapshot, snapshot_at) as newest_snapshot
            from marts.models
            where {RAW_NAME} is not null
            group by all""",
        )
        aliases = [
            Alias(*row)
            for row in con.execute(
                "select source, raw_name, model_key, cast(valid_from as varchar), cast(valid_to as varchar) "
                "from seeds.model_aliases"
            ).fetchall()
        ]
    names = {s: part["raw_name"].to_list() for (s,), part in seen.group_by(["source"])}
    try:
        rows = identify(names, aliases)
    except ValueError as exc:
        raise dg.Failure(f"{exc}. Nothing was published.") from None
    identity = pl.DataFrame(
        rows,
        schema={
            "source": pl.String,
            "raw_name": pl.String,
            "model_key": pl.String,
            "rule": pl.String,
            "valid_from": pl.String,
            "valid_to": pl.String,
        },
        orient="row",
    ).with_columns(pl.col("valid_from", "valid_to").str.to_date())
    identity = identity.join(seen, on=["source", "raw_name"], how="left")
    left = pl.DataFrame(
        unmatched(rows),
        schema={"source": pl.String, "raw_name": pl.String, "suggestion": pl.String, "name_issue": pl.String},
        orient="row",
    )
    left = left.join(
        seen.select("source", "raw_name", pl.col("newest_snapshot").alias("snapshot")),
        on=["source", "raw_name"],
        how="left",
    ).select("source", "raw_name", "snapshot", "suggestion", "name_issue")
    with candidate.connect() as con:
        replace_tables(
            con,
            {
                "marts.model_identity": (identity, IDENTITY_DESCRIPTION),
                "marts.unmatched_models": (left, UNMATCHED_DESCRIPTION),
            },
        )
    shared = identity.group_by("model_key").agg(pl.col("source").n_unique().alias("n")).filter(pl.col("n") > 1)
    yield dg.MaterializeResult(
        asset_key=IDENTITY_KEY,
        metadata={
            "dagster/row_count": identity.height,
            "dagster/column_schema": column_schema(identity, "marts.model_identity"),
            "by_rule": dg.MetadataValue.json(dict(identity.group_by("rule").len().sort("rule").iter_rows())),
            "keys_in_several_sources": shared.height,
        },
    )
    yield dg.MaterializeResult(
        asset_key=UNMATCHED_KEY,
        metadata={
            "dagster/row_count": left.height,
            "dagster/column_schema": column_schema(left, "marts.unmatched_models"),
            "per_source": dg.MetadataValue.json(dict(left.group_by("source").len().sort("source").iter_rows())),
            "name_issues": dg.MetadataValue.json(
                dict(left.drop_nulls("name_issue").group_by("name_issue").len().sort("name_issue").iter_rows())
            ),
            "with_suggestion": table_metadata(left.filter(pl.col("suggestion").is_not_null()).head(10)),
        },
    )
