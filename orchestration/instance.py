"""The Dagster instance every path of a warehouse shares: the CLI's refreshes, `safetywash ui` (``dg dev``, its
buttons and the schedule's daemon) write their runs, materializations and check results to one home, so the UI
shows the history of the CLI's refreshes and keeps it across restarts.

The home is ``$DAGSTER_HOME`` when set, else ``<warehouse>/dagster``; a home without ``dagster.yaml`` gets the
project's (the run queue: one run at a time). The CLI writes its runs' events through
:class:`CliEventLogStorage` where the home keeps them in SQLite (Dagster's default), and through the home's own
storage otherwise (PostgreSQL, say).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy as db
import yaml
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy.pool import SingletonThreadPool

from assets.files import write_atomically

PROJECT = Path(__file__).resolve().parents[1]
HOME_DIR = "dagster"


def dagster_home(warehouse_root: Path) -> Path:
    """The instance folder of the warehouse at ``warehouse_root``, created with the project's ``dagster.yaml``
    if it has none."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path(warehouse_root) / HOME_DIR).resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        write_atomically(config, (PROJECT / "dagster.yaml").read_bytes())
    return home


def persistent_instance(warehouse_root: Path) -> dg.DagsterInstance:
    """The instance of :func:`dagster_home` as the CLI writes it (close it, or use it as a context manager)."""
    home = dagster_home(warehouse_root)
    config = yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8")) or {}
    overrides = {}
    if not {"storage", "event_log_storage"} & set(config):  # Dagster's default: SQLite under the home
        overrides["event_log_storage"] = {
            "module": __name__,
            "class": CliEventLogStorage.__name__,
            "config": {"base_dir": str(home / "history" / "runs")},
        }
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home), overrides=overrides))


class CliEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log (same files, same schema), with each shard's engine kept for the process and
    its commits not synced to disk one by one (WAL with ``synchronous=NORMAL``: a power cut may lose the last
    events, never corrupt the file). A refresh with nothing new writes ~200 events: connecting, committing
    and closing per event cost it 1.2 s. Only the CLI's short-lived process uses it; ``dg dev`` reads the
    files with Dagster's own class."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: dict[str, db.Engine] = {}  # before Dagster's constructor, which may create the index shard
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str):
        with self._db_lock:
            engine = self._engines.get(shard)
            if engine is None:
                engine = db.create_engine(
                    self.conn_string_for_shard(shard), poolclass=SingletonThreadPool, connect_args={"timeout": 60}
                )
                db.event.listen(engine, "connect", _unsynced)
                if shard not in self._initialized_dbs:
                    self._initdb(engine)
                    self._initialized_dbs.add(shard)
                self._engines[shard] = engine
            with engine.connect() as conn, conn.begin():
                yield conn

    def dispose(self) -> None:
        super().dispose()
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()


def _unsynced(connection, _record) -> None:
    connection.execute("PRAGMA synchronous=NORMAL")
