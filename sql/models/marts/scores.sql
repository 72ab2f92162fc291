with safetywashing as (

    select
        source,
        snapshot,
        snapshot_date,
        snapshot_at,
        source_file,
        source_sha256,
        model_set,
        model_id,
        benchmark,
        value,
        value as published_value,
        cast(null as varchar) as scale,
        true as higher_is_better,
        cast(null as double) as stderr

    from {{ ref('stg_safetywashing__scores') }}

),
{% for name in var('leaderboard_sources') %}
{{ name }} as (

    select
        source,
        snapshot,
        snapshot_date,
        snapshot_at,
        source_file,
        source_sha256,
        cast(null as varchar) as model_set,
        model_id,
        benchmark,
        value,
        published_value,
        scale,
        higher_is_better,
        stderr

    from {{ ref('stg_' ~ name ~ '__scores') }}

),
{% endfor %}
final as (

    {{ union_sources() }}

)

select * from final
