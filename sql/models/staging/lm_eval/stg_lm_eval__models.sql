{{ stg_leaderboard_models('lm_eval') }}
