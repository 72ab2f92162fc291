{{ stg_leaderboard_benchmarks('arena') }}
