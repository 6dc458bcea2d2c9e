"""Dagster's SQLite event log, with each database's connection kept open by the process that uses it.

Dagster's `SqliteEventLogStorage` opens and closes a SQLite connection for every event it stores. In WAL mode the
close of a database's last connection checkpoints the WAL into the database and fsyncs both: 10-15 ms per event on
this project's 2-core machine, against 2-4 ms for a commit on a connection that stays open (`benchmarks/
profile_main_job.py` splits the event-log writes out of a run). This subclass keeps one connection per database
open (the KEPT_OPEN most recently used), and is otherwise Dagster's: the same files under `history/runs/`, the same
tables and migrations, readable and writable by any Dagster process with the default storage at the same time.
`deploy/dagster.local.yaml` selects it; `yts-run` copies that file into a new `DAGSTER_HOME`.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster import StringSource
from dagster._config import Field
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from .core import config

KEPT_OPEN = 4  # databases: the index, the running run's, and a few a webserver reads


class KeptOpenSqliteEventLogStorage(SqliteEventLogStorage):
    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {"base_dir": Field(StringSource, is_required=False,
                                  description="default: $DAGSTER_HOME/history/runs, where Dagster keeps its own")}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Mapping[str, Any]) -> KeptOpenSqliteEventLogStorage:
        base_dir = config_value.get("base_dir")
        if not base_dir:
            home = config.DAGSTER_HOME.get()
            if home is None:
                raise ValueError("KeptOpenSqliteEventLogStorage needs base_dir, or DAGSTER_HOME to derive it from")
            base_dir = os.path.join(home, "history", "runs")
        return cls(base_dir, inst_data=inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engines.pop(shard, None)
            if engine is None:
                engine = create_engine(self.conn_string_for_shard(shard), poolclass=StaticPool,
                                       connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                                                     "check_same_thread": False})  # used under _db_lock only
                if shard not in self._initialized_dbs:
                    self._initdb(engine)
                    self._initialized_dbs.add(shard)
            self._engines[shard] = engine  # the most recently used last
            while len(self._engines) > KEPT_OPEN:
                self._engines.popitem(last=False)[1].dispose()
            with engine.connect() as connection, connection.begin():
                yield connection

    def close_connections(self, shard: str | None = None) -> None:
        """Close the kept connection of `shard` (every one without)."""
        with self._db_lock:
            for name in [shard] if shard is not None else list(self._engines):
                engine = self._engines.pop(name, None)
                if engine is not None:
                    engine.dispose()

    def delete_events(self, run_id: str) -> None:
        super().delete_events(run_id)
        self.close_connections(run_id)

    def wipe(self) -> None:
        self.close_connections()
        super().wipe()

    def dispose(self) -> None:
        self.close_connections()
        super().dispose()
