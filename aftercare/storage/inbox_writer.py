"""Group commit for the webhook receiver: many deliveries, one transaction.

Each webhook must be stored before it is acknowledged, but a commit per request makes the
database the bottleneck (SQLite serializes writers; every PostgreSQL commit waits for its
WAL flush). Requests hand their row to one writer thread, which inserts everything queued
so far in a single ``INSERT … ON CONFLICT DO NOTHING RETURNING`` and commits once; each
request's future resolves only after that commit, so "acknowledged" still means "stored".

The writer shares the receiver's process, and so its GIL, with the event loop: every
microsecond it holds the GIL is one the loop cannot answer a request in. So it talks to
the DBAPI connection directly (one held connection, one statement per batch) instead of
through SQLAlchemy's statement execution, which spent ~100 µs of GIL time a row, in
stretches of a whole batch. The values are still those SQLAlchemy would bind: each comes
from its column type's own bind processor (``UtcDateTime``, ``JSON``, ``CompressedBytes``),
so the drain and ``aftercare inbox`` read these rows like any other. What is left holds
the GIL only briefly: compressing and inserting release it. And a batch wakes the event
loop once, not once per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import PoolProxiedConnection

from aftercare.storage.database import DatabaseUnavailableError
from aftercare.storage.schema import InboxEventRow

log = logging.getLogger(__name__)

_TABLE = InboxEventRow.__table__

# The columns a receiver's row fills (see ``webhook_receiver.delivery_row``); the rest
# (``id``, ``claimed_at``) start out as the database's defaults.
COLUMNS = (
    "source",
    "source_event_id",
    "kind",
    "occurred_at",
    "received_at",
    "payload",
    "status",
    "attempts",
    "last_error",
    "next_attempt_at",
    "processed_at",
    "topic",
    "raw_body",
    "raw_headers",
)

# A connection unused for longer is pinged before the next batch (a database restart or an
# idle timeout in between would otherwise fail that batch with a 503).
_PING_AFTER_IDLE = 1.0

# ``psycopg.pq.TransactionStatus.IDLE``: no transaction open.
_PG_IDLE = 0

_Key = tuple[str, str]
_Outcome = tuple[bool, BaseException | None]


@dataclass(slots=True)
class _Pending:
    row: dict[str, Any]
    future: Future[bool] | asyncio.Future[bool]
    # The event loop an asyncio future belongs to; None for a ``concurrent.futures`` one.
    loop: asyncio.AbstractEventLoop | None = None


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


def _settle_on_loop(outcomes: list[tuple[asyncio.Future[bool], _Outcome]]) -> None:
    """Runs on the event loop: one call settles every request of a batch it is waiting on."""
    for future, (new, exception) in outcomes:
        if future.done():  # the request gave up (timeout, disconnect, shutdown)
            continue
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(new)


class _InsertStatement:
    """One multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` per batch size, with the
    parameters bound as SQLAlchemy binds them for ``engine``'s dialect."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        if dialect.name not in ("sqlite", "postgresql"):  # pragma: no cover - settings refuse
            raise NotImplementedError(f"database {dialect.name!r} is not supported")
        self._placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
        self._processors: list[tuple[str, Callable[[Any], Any] | None]] = [
            (name, _TABLE.c[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in COLUMNS
        ]
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        if rows not in self._sql:
            one = "(" + ", ".join([self._placeholder] * len(COLUMNS)) + ")"
            self._sql[rows] = (
                f"INSERT INTO {_TABLE.name} ({', '.join(COLUMNS)}) VALUES "
                + ", ".join([one] * rows)
                + " ON CONFLICT (source, source_event_id) DO NOTHING"
                " RETURNING source, source_event_id"
            )
        return self._sql[rows]

    def parameters(self, rows: list[dict[str, Any]]) -> list[Any]:
        values: list[Any] = []
        for row in rows:
            for name, process in self._processors:
                value = row[name]
                values.append(value if process is None else process(value))
        return values


class InboxWriter:
    """Inserts inbox rows for many threads; ``submit`` returns a future of "was it new?"."""

    def __init__(
        self, engine: Engine, max_batch: int = 500, connections: int | None = None
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.batches = 0
        statement = _InsertStatement(engine)
        if connections is None:
            # PostgreSQL: a second connection inserts the next batch while the first waits
            # for its commit's WAL flush. SQLite takes one writer at a time.
            connections = 1 if engine.dialect.name == "sqlite" else 2
        self._links = [_Link(engine, statement) for _ in range(connections)]
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._run, args=(link,), name="inbox-writer", daemon=True)
            for link in self._links
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, row: dict[str, Any]) -> Future[bool]:
        """Queue one inbox row; the future is True (stored) or False (a duplicate), or raises
        ``DatabaseUnavailableError`` when the batch could not be committed."""
        future: Future[bool] = Future()
        self._queue.put(_Pending(row, future))
        return future

    def stored(self, row: dict[str, Any]) -> asyncio.Future[bool]:
        """``submit`` for a caller on an event loop: the answer as a future of that loop.

        All of a batch's futures on one loop are settled by a single ``call_soon_threadsafe``
        (one wake-up of the loop per commit, not one per request).
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Pending(row, future, loop))
        return future

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    @property
    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def _run(self, link: _Link) -> None:
        try:
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
                    if item is None:  # this thread's stop; the others get their own
                        stop = True
                        break
                    batch.append(item)
                try:
                    self._write(batch, link)
                except Exception:  # noqa: BLE001 - the writer must outlive any one batch
                    log.exception("inbox writer: batch not settled")
                if stop:
                    return
        finally:
            link.disconnect()

    def _write(self, batch: list[_Pending], link: _Link) -> None:
        # From here a future can no longer be cancelled. One whose request already gave up
        # (client gone, server shutting down) is cancelled; its row is written anyway, with
        # nobody left to tell (the store retries, and the retry is a duplicate).
        for pending in batch:
            if pending.loop is None:
                pending.future.set_running_or_notify_cancel()  # type: ignore[union-attr]
        outcomes: list[_Outcome]
        try:
            inserted = link.insert([p.row for p in batch])
        except Exception as exc:  # noqa: BLE001 - every waiting request must hear of it
            outcomes = [(False, exc)] * len(batch)
        else:
            self.batches += 1  # a statistic: an increment lost between threads is harmless
            outcomes = []
            seen: set[_Key] = set()
            for pending in batch:
                key = (pending.row["source"], pending.row["source_event_id"])
                outcomes.append((key in inserted and key not in seen, None))
                seen.add(key)
        on_loops: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[bool], _Outcome]]]
        on_loops = {}
        for pending, (new, exception) in zip(batch, outcomes, strict=True):
            if pending.loop is None:
                _settle(pending.future, result=new, exception=exception)  # type: ignore[arg-type]
            else:
                on_loops.setdefault(pending.loop, []).append((pending.future, (new, exception)))  # type: ignore[arg-type]
        for loop, settled in on_loops.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(_settle_on_loop, settled)


class _Link:
    """One writer thread's own connection, held between batches, in autocommit mode."""

    def __init__(self, engine: Engine, statement: _InsertStatement) -> None:
        self.engine = engine
        self.statement = statement
        self.connection: PoolProxiedConnection | None = None
        self.last_used = 0.0
        self._sqlite = engine.dialect.name == "sqlite"
        self._database_errors = (engine.dialect.loaded_dbapi.Error, SQLAlchemyError)

    def insert(self, rows: list[dict[str, Any]]) -> set[_Key]:
        """Insert ``rows`` in one statement, committed when it returns; the keys that were new.

        The connection is in autocommit mode, so the statement is its own transaction: one
        round trip to PostgreSQL and one write-locked step in SQLite (the write lock is taken
        when the statement starts, as ``BEGIN IMMEDIATE`` would), fewer points at which the
        thread waits to get the GIL back.
        """
        sql = self.statement.sql(len(rows))
        parameters = self.statement.parameters(rows)
        try:
            connection = self._connect()
            cursor = connection.cursor()
            try:
                cursor.execute(sql, parameters)
                inserted = {(source, event_id) for source, event_id in cursor.fetchall()}
            finally:
                cursor.close()
            if self._in_transaction(connection.dbapi_connection):  # pragma: no cover
                connection.commit()  # not in autocommit mode after all: commit, then answer
        except self._database_errors as exc:
            # Whether a failed statement was committed is unknown (the connection may have
            # dropped after the commit): no request of the batch hears "stored".
            self.disconnect()
            raise DatabaseUnavailableError(
                f"the inbox could not store {len(rows)} deliveries ({type(exc).__name__})"
            ) from exc
        self.last_used = time.monotonic()
        return inserted

    def _connect(self) -> PoolProxiedConnection:
        connection = self.connection
        if connection is not None and time.monotonic() - self.last_used > _PING_AFTER_IDLE:
            # What ``pool_pre_ping`` does, but only after a pause: under load the held
            # connection is in use every few milliseconds and a ping would double the round
            # trips. Nothing was sent yet, so a dead connection is replaced, not reported.
            try:
                self.engine.dialect.do_ping(connection.dbapi_connection)
            except self._database_errors:
                log.info("inbox writer: connection lost while idle, opening a new one")
                self.disconnect()
                connection = None
        if connection is None:
            # Through the engine, so its connect-time settings apply (SQLite's WAL and
            # busy_timeout); then out of the pool, as this thread's own for its lifetime.
            connection = self.engine.raw_connection()
            connection.detach()
            if self._sqlite:
                connection.dbapi_connection.isolation_level = None  # the module issues no BEGIN
            else:
                connection.dbapi_connection.autocommit = True
            self.connection = connection
        return connection

    def _in_transaction(self, dbapi_connection: Any) -> bool:
        if self._sqlite:
            return bool(dbapi_connection.in_transaction)
        return dbapi_connection.info.transaction_status != _PG_IDLE

    def disconnect(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.close()  # detached: really closed
        except Exception:  # noqa: BLE001 - it is being thrown away
            log.debug("inbox writer: closing the connection failed", exc_info=True)
