with safetywashing as (

    select * from {{ ref('stg_safetywashing__scores') }}

),

final as (

    select
        source,
        snapshot,
        source_sha256,
        model_set,
        model_id,
        benchmark,
        value

    from safetywashing

)

select * from final
