"""Pure statistics for the Safetywashing analysis: numpy/scipy/sklearn only, no dagster, no duckdb."""
