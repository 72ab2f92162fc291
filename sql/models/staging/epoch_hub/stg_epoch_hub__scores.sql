{{ stg_leaderboard_scores('epoch_hub') }}
