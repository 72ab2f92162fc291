with missing as (

    select * from {{ source('raw', 'snapshots_missing') }}

),

final as (

    select
        source,
        snapshot,
        cast(timezone('UTC', snapshot_at) as date) as snapshot_date,
        snapshot_at,
        status,
        file,
        line,
        url,
        reason,
        failed_at

    from missing

)

select * from final
