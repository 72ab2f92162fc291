{{ stg_leaderboard_scores('epoch_models') }}
