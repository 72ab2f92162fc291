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
        display_name,
        parameters,
        training_flop,
        model_type,
        cast(null as json) as attributes

    from {{ ref('stg_safetywashing__models') }}

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
        cast(null as varchar) as display_name,
        parameters,
        training_flop,
        cast(null as varchar) as model_type,
        cast(attributes as json) as attributes

    from {{ ref('stg_' ~ name ~ '__models') }}

),
{% endfor %}
final as (

    {{ union_sources() }}

)

select * from final
