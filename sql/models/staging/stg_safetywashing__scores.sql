with source as (

    select * from {{ source('raw', 'safetywashing__scores') }}

),

final as (

    select
        source,
        snapshot,
        file as source_file,
        sha256 as source_sha256,
        line as source_line,
        model_set,
        model_id,
        benchmark,
        cast(value as double) as value

    from source

)

select * from final
