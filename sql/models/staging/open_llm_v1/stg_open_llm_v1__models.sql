{{ stg_leaderboard_models('open_llm_v1') }}
