{{ stg_leaderboard_benchmarks('open_llm_v2') }}
