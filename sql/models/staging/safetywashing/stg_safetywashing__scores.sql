with source as (

    select * from {{ source('raw', 'safetywashing__scores') }}

),

final as (

    select
        {{ provenance_columns() }}
        model_set,
        model_id,
        benchmark,
        cast(value as double) as value

    from source

)

select * from final
