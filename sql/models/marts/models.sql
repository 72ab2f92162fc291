with safetywashing as (

    select * from {{ ref('stg_safetywashing__models') }}

),

final as (

    select
        source,
        snapshot,
        source_sha256,
        model_set,
        model_id,
        display_name,
        parameters,
        training_flop,
        model_type

    from safetywashing

)

select * from final
