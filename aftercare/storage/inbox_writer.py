"""Group commit for the webhook receiver: many deliveries, one transaction.

Each webhook must be stored before it is acknowledged, but a commit per request makes the
database the bottleneck (SQLite serializes writers; every PostgreSQL commit waits for its
WAL flush). Requests hand their row to one writer thread, which inserts everything queued
so far in a single ``INSERT … ON CONFLICT DO NOTHING RETURNING`` and commits once; each
request's future resolves only after that commit, so "acknowledged" still means "stored".
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite

from aftercare.storage.schema import InboxEventRow

log = logging.getLogger(__name__)

_TABLE = InboxEventRow.__table__


@dataclass
class _Pending:
    row: dict[str, Any]
    future: Future[bool] = field(default_factory=Future)


def _settle(
    future: Future[bool], *, result: bool | None = None, exception: BaseException | None = None
) -> None:
    if future.cancelled():
        return
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(bool(result))
    except InvalidStateError:  # cancelled between the check and the set
        pass


class InboxWriter:
    """Inserts inbox rows for many threads; ``submit`` returns a future of "was it new?"."""

    def __init__(self, engine: Engine, max_batch: int = 500) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.batches = 0
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
        self._thread.start()

    def submit(self, row: dict[str, Any]) -> Future[bool]:
        """Queue one inbox row; the future is True (stored) or False (a duplicate), or raises
        the database error when the batch could not be committed."""
        pending = _Pending(row)
        self._queue.put(pending)
        return pending.future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                self._write(batch)
            except Exception:  # noqa: BLE001 - the writer must outlive any one batch
                log.exception("inbox writer: batch not settled")
            if stop:
                return

    def _write(self, batch: list[_Pending]) -> None:
        # From here a future can no longer be cancelled. One whose request already gave up
        # (client gone, server shutting down) is cancelled; its row is written anyway, with
        # nobody left to tell (the store retries, and the retry is a duplicate).
        for pending in batch:
            pending.future.set_running_or_notify_cancel()
        live = batch
        try:
            inserted = self._insert([p.row for p in live])
        except Exception as exc:  # noqa: BLE001 - every waiting request must hear of it
            for pending in live:
                _settle(pending.future, exception=exc)
            return
        self.batches += 1
        seen: set[tuple[str, str]] = set()
        for pending in live:
            key = (pending.row["source"], pending.row["source_event_id"])
            _settle(pending.future, result=key in inserted and key not in seen)
            seen.add(key)

    def _insert(self, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        dialect = self.engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = (
            insert(_TABLE)
            .on_conflict_do_nothing(index_elements=["source", "source_event_id"])
            .returning(_TABLE.c.source, _TABLE.c.source_event_id)
        )
        with self.engine.begin() as connection:
            result = connection.execute(stmt, rows)
            return {(r.source, r.source_event_id) for r in result}
