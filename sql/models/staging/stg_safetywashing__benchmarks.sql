with source as (

    select * from {{ source('raw', 'safetywashing__benchmarks') }}

),

final as (

    select
        source,
        snapshot,
        file as source_file,
        sha256 as source_sha256,
        line as source_line,
        benchmark,
        display_name,
        metric,
        higher_is_better

    from source

)

select * from final
