{{ stg_leaderboard_scores('arena') }}
