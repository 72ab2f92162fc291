{#- The provenance every landed row carries, renamed for the staging layer. -#}
{% macro provenance_columns(relation='') -%}
    {%- set p = relation ~ '.' if relation else '' -%}
        {{ p }}source,
        {{ p }}snapshot,
        cast(timezone('UTC', {{ p }}snapshot_at) as date) as snapshot_date,
        {{ p }}snapshot_at,
        {{ p }}file as source_file,
        {{ p }}sha256 as source_sha256,
        {{ p }}line as source_line,
{%- endmacro %}
