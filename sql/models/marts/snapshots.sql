with snapshots as (

    select * from {{ source('raw', 'snapshots') }}

),

final as (

    select
        source,
        snapshot,
        cast(timezone('UTC', snapshot_at) as date) as snapshot_date,
        snapshot_at,
        content_id,
        pinned,
        first_seen_as,
        first_seen_urls,
        files,
        via,
        parsed_at,
        n_scores,
        n_models,
        n_benchmarks,
        duplicate_rows_dropped,
        snapshot_at = max(snapshot_at) over (partition by source) as is_latest

    from snapshots

)

select * from final
