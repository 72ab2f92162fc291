{{ stg_leaderboard_models('epoch_hub') }}
