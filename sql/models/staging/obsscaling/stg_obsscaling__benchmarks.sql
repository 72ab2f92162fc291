{{ stg_leaderboard_benchmarks('obsscaling') }}
