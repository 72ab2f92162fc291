"""Scale benchmark: the bootstrap of a synthetic leaderboard (known capabilities correlations) at 1k, 10k and
100k models x 50 benchmarks, B=2,000, in-process and on 2 Celery workers (Redis, Postgres, SeaweedFS started on
127.0.0.1 as the tests do), as Dagster steps: a plan, one step per range of resamples, a summary.

Run: uv run python benchmarks/scale.py [--sizes 1000,10000,100000]   (~7 min on 2 cores)
Prints per size: `scale: models=N benchmarks=50 B=2000 inprocess_s=X workers2_s=Y peak_mib=M max_abs_error=E
equal_to_inprocess=true|false`, then the per-step times and the projection to 8 and 32 workers (Amdahl, see
:func:`amdahl`).

On the workers a chunk step uses one numba thread (two workers, one chunk each, fill the 2 cores) and the
plan and summary use every core; in-process every step uses every core.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from assets.stats.bootstrap import Replicator, correlation_table, resample_weights  # noqa: E402
from assets.stats.correlation import Comparison  # noqa: E402
from assets.stats.synthetic import synthetic_leaderboard  # noqa: E402

BENCHMARKS, B, SEED, PER_STEP = 50, 2000, 0, 250


class ScaleConfig(dg.Config):
    n_models: int
    n_benchmarks: int = BENCHMARKS
    n_resamples: int = B
    resamples_per_step: int = PER_STEP
    seed: int = SEED
    work_dir: str
    chunk_threads: int = 0  # numba threads of a chunk step; 0: every core


def _replicator(config: ScaleConfig, threads: int = 0) -> "tuple[Replicator, object]":
    board = synthetic_leaderboard(config.n_models, config.n_benchmarks, seed=config.seed)
    comparisons = [Comparison(name, "capabilities", board.column(name)) for name in board.benchmarks]
    return Replicator(board.capability_matrix, comparisons, "paper", workers=threads or None), board


@dg.op(out=dg.DynamicOut(dict))
def plan(config: ScaleConfig):
    for start in range(0, config.n_resamples, config.resamples_per_step):
        stop = min(start + config.resamples_per_step, config.n_resamples)
        yield dg.DynamicOutput({"start": start, "stop": stop}, mapping_key=f"r{start}")


@dg.op(out=dg.Out(dg.Nothing))
def chunk(config: ScaleConfig, spec: dict) -> None:
    started = time.perf_counter()
    replicator, _ = _replicator(config, config.chunk_threads)
    weights = resample_weights(replicator.n, config.seed, spec["start"], spec["stop"])
    ready = time.perf_counter()
    theta = replicator(weights)
    path = Path(config.work_dir) / f"{spec['start']:09d}.npy"
    np.save(path.with_suffix(".tmp.npy"), theta, allow_pickle=False)
    path.with_suffix(".tmp.npy").replace(path)
    timing = {
        "setup_s": ready - started,
        "replicate_s": time.perf_counter() - ready,
        "resamples": spec["stop"] - spec["start"],
    }
    path.with_suffix(".timing.json").write_text(json.dumps(timing))


@dg.op(ins={"chunks": dg.In(dg.Nothing)})
def summarize(context: dg.OpExecutionContext, config: ScaleConfig) -> None:
    replicator, board = _replicator(config)
    parts = sorted(Path(config.work_dir).glob("*[0-9].npy"))
    theta = np.concatenate([np.load(p) for p in parts], axis=1)
    table = correlation_table(replicator, theta, n_resamples=config.n_resamples, seed=config.seed, method="percentile")
    table.write_parquet(Path(config.work_dir) / "summary.parquet")
    truth = pl.DataFrame({"benchmark": list(board.truth), "truth": list(board.truth.values())})
    error = table.join(truth, on="benchmark").select((pl.col("spearman") - pl.col("truth")).abs().max()).item()
    context.log.info(f"max_abs_error={error}")
    (Path(config.work_dir) / "error.json").write_text(json.dumps({"max_abs_error": error}))


@dg.job(executor_def=dg.in_process_executor)
def scale_job():
    summarize(chunks=plan().map(chunk).collect())


def scale_job_on_workers() -> dg.JobDefinition:
    """The same graph for the Celery workers (rebuilt by them from this module's name)."""
    from dagster_celery import celery_executor

    return scale_job.graph.to_job(name="scale_job", executor_def=celery_executor)


def ops_config(n_models: int, work_dir: Path, chunk_threads: int = 0) -> dict:
    config = {"n_models": n_models, "work_dir": str(work_dir), "chunk_threads": chunk_threads}
    return {"ops": {name: {"config": config} for name in ("plan", "chunk", "summarize")}}


def in_process(n_models: int, work_dir: Path) -> dict:
    """One size in this process (called in a fresh subprocess, so the peak RSS is this size's)."""
    started = time.perf_counter()
    result = scale_job.execute_in_process(run_config=ops_config(n_models, work_dir))
    assert result.success
    return {
        "seconds": time.perf_counter() - started,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **json.loads((work_dir / "error.json").read_text()),
    }


def on_workers(cluster, n_models: int, work_dir: Path) -> "tuple[float, dict[str, float]]":
    run_config = {
        **ops_config(n_models, work_dir, chunk_threads=1),
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        "execution": {"config": {"broker": cluster.broker, "backend": cluster.broker}},
    }
    os.environ["DAGSTER_HOME"] = str(cluster.dagster_home)
    with dg.DagsterInstance.get() as instance:
        started = time.perf_counter()
        result = dg.execute_job(dg.reconstructable(scale_job_on_workers), instance, run_config=run_config)
        seconds = time.perf_counter() - started
        assert result.success
        steps: dict[str, float] = {}
        begun: dict[str, float] = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            if event.event_type_value == "STEP_START":
                begun[event.step_key] = entry.timestamp
            elif event.event_type_value == "STEP_SUCCESS":
                steps[event.step_key] = entry.timestamp - begun[event.step_key]
    return seconds, steps


def amdahl(seconds: float, steps: "dict[str, float]", timings: "list[dict]", workers: int) -> "tuple[float, str]":
    """Projected wall time on ``workers`` workers, the B resamples split into one chunk step per worker.

    Measured at 2 workers: a chunk step costs its Dagster overhead, a fixed setup (synthetic board, replicator,
    weights) and a time per resample (one numba thread); plan and summary run once (serial); orchestration is
    the wall time not spent in steps. Projected: serial + one chunk of ceil(B / workers) resamples + orchestration.
    """
    chunk_steps = [v for k, v in steps.items() if k.startswith("chunk")]
    setup = float(np.median([t["setup_s"] for t in timings]))
    per_resample = sum(t["replicate_s"] for t in timings) / sum(t["resamples"] for t in timings)
    step_overhead = max(
        float(np.mean(chunk_steps)) - setup - per_resample * np.mean([t["resamples"] for t in timings]), 0.0
    )
    serial = sum(v for k, v in steps.items() if not k.startswith("chunk"))
    orchestration = max(seconds - serial - sum(chunk_steps) / 2, 0.0)
    parts = {
        "chunk steps": step_overhead + setup + per_resample * -(-B // workers),
        "plan+summarize": serial,
        "orchestration": orchestration,
    }
    return sum(parts.values()), max(parts, key=parts.get)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--inprocess", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inprocess:
        print(json.dumps(in_process(args.inprocess, args.work_dir)))
        return

    from orchestration import local_cluster as services

    warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already registered")

    sizes = [int(s) for s in args.sizes.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="safetywash-scale-"))
    local = {}
    warm = tmp / "inprocess-warmup"
    warm.mkdir()
    # numba compiles the kernels on first use into its cache (once per change of their source); not timed
    subprocess.run(
        [sys.executable, __file__, "--inprocess", "200", "--work-dir", str(warm)], capture_output=True, check=True
    )
    for n in sizes:
        work = tmp / f"inprocess-{n}"
        work.mkdir()
        out = subprocess.run(
            [sys.executable, __file__, "--inprocess", str(n), "--work-dir", str(work)],
            capture_output=True,
            text=True,
            check=True,
        )
        local[n] = json.loads(out.stdout.strip().splitlines()[-1])
    with services.cluster(tmp / "cluster", workers=2, pythonpath=[PROJECT]) as cluster:
        warm = tmp / "warmup"
        warm.mkdir()
        on_workers(cluster, 200, warm)  # the workers import the code once; not timed
        for n in sizes:
            work = tmp / f"workers-{n}"
            work.mkdir()
            seconds, steps = on_workers(cluster, n, work)
            equal = pl.read_parquet(work / "summary.parquet").equals(
                pl.read_parquet(tmp / f"inprocess-{n}" / "summary.parquet")
            )
            print(
                f"scale: models={n} benchmarks={BENCHMARKS} B={B} inprocess_s={local[n]['seconds']:.1f} "
                f"workers2_s={seconds:.1f} peak_mib={local[n]['peak_mib']:.0f} "
                f"max_abs_error={local[n]['max_abs_error']:.4f} equal_to_inprocess={str(equal).lower()}",
                flush=True,
            )
            chunk_times = [v for k, v in steps.items() if k.startswith("chunk")]
            print(
                f"  steps: plan={steps['plan']:.1f}s chunks={len(chunk_times)}x{np.mean(chunk_times):.1f}s "
                f"(sum {sum(chunk_times):.1f}s) summarize={steps['summarize']:.1f}s",
                flush=True,
            )
            timings = [json.loads(t.read_text()) for t in sorted(work.glob("*.timing.json"))]
            setup = np.median([t["setup_s"] for t in timings])
            print(
                f"  per chunk step: setup {setup:.1f}s + {np.mean([t['replicate_s'] for t in timings]):.1f}s for "
                f"{PER_STEP} resamples (one numba thread)",
                flush=True,
            )
            for workers in (8, 32):
                projected, dominant = amdahl(seconds, steps, timings, workers)
                print(f"  projected workers={workers}: {projected:.1f}s, dominated by {dominant}", flush=True)


if __name__ == "__main__":
    main()
