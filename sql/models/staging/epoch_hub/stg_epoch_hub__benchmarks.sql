{{ stg_leaderboard_benchmarks('epoch_hub') }}
