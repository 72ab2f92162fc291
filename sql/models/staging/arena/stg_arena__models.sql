{{ stg_leaderboard_models('arena') }}
