with scores as (

    select * from {{ ref('scores') }}

),

newest as (

    select
        source,
        arg_max(snapshot, snapshot_at) as snapshot

    from scores
    group by source

),

final as (

    select scores.*

    from scores
    inner join newest
        on scores.source = newest.source
        and scores.snapshot = newest.snapshot

)

select * from final
