"""The code location `dg dev` (and so `safetywash ui`) loads: the project's one :data:`~orchestration.definitions.defs`,
with the warehouse folder resolved when the location loads (``$SAFETYWASH_WAREHOUSE``, which `safetywash ui` sets,
else `<project>/warehouse`), so that the Launchpad shows the folder a run will write. The CLI and the tests use
:data:`~orchestration.definitions.defs` itself, whose folder is resolved when a run starts."""

from __future__ import annotations

import dagster as dg

from assets.resources import Warehouse
from assets.warehouse import warehouse_dir

from .definitions import build_defs


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs(Warehouse(directory=str(warehouse_dir())))
