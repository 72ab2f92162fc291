{#- The rows of the Safetywashing CTE and of each leaderboard source's CTE (`var('leaderboard_sources')`), one
    `union all` (the columns line up by position: every CTE selects the same list). -#}
{% macro union_sources(first='safetywashing') -%}
    select * from {{ first }}
    {%- for name in var('leaderboard_sources') %}
    union all
    select * from {{ name }}
    {%- endfor %}
{%- endmacro %}
