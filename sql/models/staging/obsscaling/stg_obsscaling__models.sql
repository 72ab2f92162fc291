{{ stg_leaderboard_models('obsscaling') }}
