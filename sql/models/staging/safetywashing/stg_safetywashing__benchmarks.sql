with source as (

    select * from {{ source('raw', 'safetywashing__benchmarks') }}

),

final as (

    select
        {{ provenance_columns() }}
        benchmark,
        display_name,
        metric,
        higher_is_better

    from source

)

select * from final
