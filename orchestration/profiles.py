"""Deployment profiles, read from the environment when a refresh starts (never at import).

``local`` (default): the refresh job runs in the CLI's process. ``distributed``
(``SAFETYWASH_PROFILE=distributed``): it runs on Celery workers (dagster-celery, Redis broker and result
backend) from the persistent Dagster instance of ``$DAGSTER_HOME`` (Postgres for several hosts), its steps
handing values over through the object store. The Definitions are the same; only run config differs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PROFILES = ("local", "distributed")


class ProfileError(ValueError):
    """A profile that cannot run: names the variable to set."""


@dataclass(frozen=True)
class Profile:
    name: str
    broker: str = ""
    backend: str = ""
    objects: str = ""
    s3_endpoint: str = ""
    worker_timeout: float = 60.0
    """seconds a Celery worker may go without a heartbeat before the steps it holds fail (see WorkerWatch)"""

    @property
    def distributed(self) -> bool:
        return self.name == "distributed"

    def run_config(self) -> dict:
        """The run config this profile adds to a refresh: its executor and the resources it needs."""
        if not self.distributed:
            return {"execution": {"config": {"in_process": {}}}}
        store = {"uri": self.objects, "endpoint": self.s3_endpoint}
        if self.objects.startswith("s3://"):
            store |= {"access_key": {"env": "AWS_ACCESS_KEY_ID"}, "secret_key": {"env": "AWS_SECRET_ACCESS_KEY"}}
        return {
            "execution": {"config": {"celery": {"broker": self.broker, "backend": self.backend}}},
            "resources": {"io_manager": {"config": store}},
        }


def current() -> Profile:
    """The profile of ``$SAFETYWASH_PROFILE`` with its settings from the environment."""
    name = os.environ.get("SAFETYWASH_PROFILE", "local") or "local"
    if name not in PROFILES:
        raise ProfileError(f"SAFETYWASH_PROFILE={name!r}: expected one of {', '.join(PROFILES)}")
    if name == "local":
        return Profile(name)
    if not os.environ.get("DAGSTER_HOME"):
        raise ProfileError(
            "SAFETYWASH_PROFILE=distributed needs DAGSTER_HOME: the Dagster instance the workers share "
            "(its dagster.yaml names the Postgres storage)"
        )
    broker = os.environ.get("SAFETYWASH_CELERY_BROKER", "redis://127.0.0.1:6379/0")
    timeout = os.environ.get("SAFETYWASH_WORKER_TIMEOUT", "60")
    try:
        worker_timeout = float(timeout)
    except ValueError:
        raise ProfileError(f"SAFETYWASH_WORKER_TIMEOUT={timeout!r}: expected seconds, a number") from None
    if not worker_timeout > 0:
        raise ProfileError(f"SAFETYWASH_WORKER_TIMEOUT={timeout!r}: expected seconds above 0")
    return Profile(
        name,
        broker=broker,
        backend=os.environ.get("SAFETYWASH_CELERY_BACKEND", broker),
        objects=os.environ.get("SAFETYWASH_OBJECTS", ""),
        s3_endpoint=os.environ.get("SAFETYWASH_S3_ENDPOINT", ""),
        worker_timeout=worker_timeout,
    )
