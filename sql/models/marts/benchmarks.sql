with scores as (

    select * from {{ ref('scores') }}

),

safetywashing as (

    select
        source,
        benchmark,
        display_name,
        metric,
        cast(null as varchar) as scale,
        higher_is_better

    from {{ ref('stg_safetywashing__benchmarks') }}
    qualify row_number() over (partition by source, benchmark order by snapshot_at desc, snapshot desc) = 1

),
{% for name in var('leaderboard_sources') %}
{{ name }} as (

    select
        source,
        benchmark,
        description as display_name,
        source_column as metric,
        scale,
        higher_is_better

    from {{ ref('stg_' ~ name ~ '__benchmarks') }}
    qualify row_number() over (partition by source, benchmark order by snapshot_date desc, snapshot desc, source_file) = 1

),
{% endfor %}
descriptions as (

    {{ union_sources() }}

),

taxonomy as (

    select * from {{ ref('benchmark_taxonomy') }}

),

observed as (

    select
        source,
        benchmark,
        count(distinct snapshot) as n_snapshots,
        count(value) as n_values,
        count(*) - count(value) as n_missing,
        string_agg(distinct model_set, ',' order by model_set) as model_sets

    from scores
    group by source, benchmark

),

final as (

    select
        observed.source,
        observed.benchmark,
        descriptions.display_name,
        descriptions.metric,
        descriptions.scale,
        descriptions.higher_is_better,
        taxonomy.area,
        taxonomy.accuracy_of,
        coalesce(taxonomy.area = 'capabilities', false) as is_capability_input,
        descriptions.benchmark is not null or taxonomy.benchmark is not null as is_known,
        observed.model_sets,
        observed.n_snapshots,
        observed.n_values,
        observed.n_missing

    from observed
    left join descriptions
        on observed.source = descriptions.source
        and observed.benchmark = descriptions.benchmark
    left join taxonomy
        on observed.source = taxonomy.source
        and observed.benchmark = taxonomy.benchmark

)

select * from final
