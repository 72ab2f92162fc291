"""The refresh job's executor: in one process (default), in local processes, or on Celery workers.

One executor whose config picks the engine, so the same Definitions run on a laptop or on a pool of workers
with only run config changed (``execution: config: celery: {broker, backend}``); `safetywash refresh` picks
it from ``SAFETYWASH_PROFILE`` when the run starts (:func:`orchestration.profiles.run_config`).
"""

from __future__ import annotations

import dagster as dg
from dagster_celery import celery_executor

ENGINES = {"in_process": dg.in_process_executor, "multiprocess": dg.multiprocess_executor, "celery": celery_executor}


def _requirements(config: dict) -> list:
    return [] if "in_process" in config else list(dg.multiple_process_executor_requirements())


@dg.executor(
    name="safetywash_executor",
    config_schema=dg.Field(
        dg.Selector({name: engine.config_schema.as_field() for name, engine in ENGINES.items()}),
        default_value={"in_process": {}},
    ),
    requirements=_requirements,
)
def safetywash_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
    """``in_process`` (default), ``multiprocess`` or ``celery`` (dagster-celery: a Redis broker and backend, steps
    on the workers listening to it); each with its own engine's config."""
    [(name, config)] = init_context.executor_config.items()
    engine = ENGINES[name]
    return engine.executor_creation_fn(init_context._replace(executor_def=engine, executor_config=config))
