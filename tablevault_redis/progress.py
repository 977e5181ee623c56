"""What a Vault adds to the records and descriptions it writes: who wrote them, and
how far the run got.

Every record and description remembers the process, code item and run that wrote
it (its lineage). Each append also updates the run's progress fields in its process
record (``records_written``, ``last_record``, ``last_record_list``,
``last_record_at``), through the outbox so an append never waits for it; of several
queued updates only the latest is sent.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

from . import scripts
from .buffered import BufferedWritesMixin
from .connection import Connection
from .outbox import Job, Outbox
from .run import ProcessRun
from .values import abbreviate

LAST_RECORD_CHARS = 200  # the process record keeps the latest record cut to this


class ProgressMixin(BufferedWritesMixin):
    """Lineage and progress hooks of :class:`Vault` (see :class:`RecordsMixin`)."""

    _conn: Connection
    namespace: str
    process_name: str
    _process: ProcessRun
    _outbox: Outbox
    _records_written: int = 0  # this run's appends
    _progress_lock = threading.Lock()  # one Vault per process: one lock is enough

    def _lineage(self) -> tuple[str, int, int]:
        """This process, its current code item (the script, or the running cell)
        and run."""
        return self.process_name, max(self._process.code_count - 1, 0), self._process.run

    def _record_written(self, list_name: str, text: str) -> None:
        """Count an append in this run's progress fields. The job carries the run's
        own count, so a retried write sets the same value again, never one more."""
        with self._progress_lock:
            self._records_written += 1
            add = functools.partial(
                self._add_progress,
                count=self._records_written,
                last_record=abbreviate(text, LAST_RECORD_CHARS),
                list_name=list_name,
                now=time.time(),
            )
            what = f"progress of process {self.process_name!r}"
            self._outbox.set_latest(Job(what, lambda: None, batch=add))

    def _add_progress(self, batch: scripts.Batch, **fields: Any) -> Callable[[list[Any]], None]:
        scripts.record_progress(
            self._conn,
            self.namespace,
            self.process_name,
            token=self._process.token,
            client=batch,
            **fields,
        )
        return lambda _replies: None
