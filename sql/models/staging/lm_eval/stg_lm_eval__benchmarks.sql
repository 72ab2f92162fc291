{{ stg_leaderboard_benchmarks('lm_eval') }}
