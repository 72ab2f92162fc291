{{ stg_leaderboard_scores('lm_eval') }}
