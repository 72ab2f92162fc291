with scores as (

    select * from {{ ref('scores') }}

),

descriptions as (

    select * from {{ ref('stg_safetywashing__benchmarks') }}

),

taxonomy as (

    select * from {{ ref('benchmark_taxonomy') }}

),

observed as (

    select
        source,
        benchmark,
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
        descriptions.higher_is_better,
        taxonomy.area,
        taxonomy.accuracy_of,
        coalesce(taxonomy.area = 'capabilities', false) as is_capability_input,
        descriptions.benchmark is not null or taxonomy.benchmark is not null as is_known,
        observed.model_sets,
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
