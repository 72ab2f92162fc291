{#- Staging of a source landed in the long form of assets/parsers/leaderboard.py (one model per file
    calls one of these). Scores are oriented from the data: each (snapshot, file, benchmark) row of
    `<source>__benchmarks` says its scale and direction; a lower-is-better value becomes 1 - v on a
    fraction scale, 100 - v on a percent scale and -v otherwise, so that higher is better/safer.
    `published_value` keeps the number as the file printed it. -#}

{% macro stg_leaderboard_scores(source_name) -%}
with scores as (

    select * from {{ source('raw', source_name ~ '__scores') }}

),

benchmarks as (

    select * from {{ source('raw', source_name ~ '__benchmarks') }}

),

final as (

    select
        {{ provenance_columns('scores') }}
        scores.model_id,
        scores.benchmark,
        benchmarks.scale,
        benchmarks.higher_is_better,
        scores.value as published_value,
        {{ orient('scores.value') }} as value,
        scores.stderr,
        case when benchmarks.higher_is_better then scores.ci_low else {{ orient('scores.ci_high') }} end as ci_low,
        case when benchmarks.higher_is_better then scores.ci_high else {{ orient('scores.ci_low') }} end as ci_high

    from scores
    left join benchmarks
        on scores.content_id = benchmarks.content_id
        and scores.file = benchmarks.file
        and scores.benchmark = benchmarks.benchmark

)

select * from final
{%- endmacro %}

{% macro orient(value) -%}
case
            when benchmarks.higher_is_better then {{ value }}
            when benchmarks.scale = 'fraction' then 1 - {{ value }}
            when benchmarks.scale = 'percent' then 100 - {{ value }}
            when not benchmarks.higher_is_better then -{{ value }}
        end
{%- endmacro %}

{% macro stg_leaderboard_models(source_name) -%}
with models as (

    select * from {{ source('raw', source_name ~ '__models') }}

),

final as (

    select
        {{ provenance_columns() }}
        model_id,
        coalesce(
            try_cast(json_extract_string(attributes, '$.parameters') as double),
            try_cast(json_extract_string(attributes, '$.params_billions') as double) * 1e9
        ) as parameters,
        try_cast(json_extract_string(attributes, '$.training_flop') as double) as training_flop,
        attributes

    from models

)

select * from final
{%- endmacro %}

{% macro stg_leaderboard_benchmarks(source_name) -%}
with benchmarks as (

    select * from {{ source('raw', source_name ~ '__benchmarks') }}

),

final as (

    select
        source,
        snapshot,
        cast(timezone('UTC', snapshot_at) as date) as snapshot_date,
        file as source_file,
        sha256 as source_sha256,
        benchmark,
        source_column,
        scale,
        higher_is_better,
        description

    from benchmarks

)

select * from final
{%- endmacro %}
