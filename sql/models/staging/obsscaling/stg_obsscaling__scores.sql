{{ stg_leaderboard_scores('obsscaling') }}
