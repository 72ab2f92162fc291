{{ stg_leaderboard_scores('open_llm_v2') }}
