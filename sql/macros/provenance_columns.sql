{#- The provenance every landed row carries, renamed for the staging layer. -#}
{% macro provenance_columns() -%}
        source,
        snapshot,
        file as source_file,
        sha256 as source_sha256,
        line as source_line,
{%- endmacro %}
