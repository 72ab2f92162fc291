with source as (

    select * from {{ source('raw', 'safetywashing__models') }}

),

final as (

    select
        {{ provenance_columns() }}
        model_set,
        model_id,
        display_name,
        cast(parameters as double) as parameters,
        cast(training_flop as double) as training_flop,
        model_type

    from source

)

select * from final
