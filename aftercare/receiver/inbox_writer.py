"""Group commit for the webhook receiver: many deliveries, one transaction, own process.

Each webhook must be stored before it is acknowledged, but a commit per request makes the
database the bottleneck (SQLite serializes writers; every PostgreSQL commit waits for its
WAL flush). Requests hand their row to one writer, which inserts everything waiting in a
single ``INSERT … ON CONFLICT DO NOTHING RETURNING`` and commits once; each request's
future resolves only after that commit, so "acknowledged" still means "stored".

The writer is a process of its own, not a thread beside the event loop. A thread shares
the loop's GIL, and CPython hands the GIL back to a thread that released it (for its
``sqlite3_step``, its zlib call, its PostgreSQL round trip) only once the busy loop has gone
5 ms without releasing it or has nothing left to do: the writer ran in the loop's idle
moments, requests waited on it in between, and the loop idled a quarter of the time (see
"Webhook ingest" in BENCHMARKS.md). Here the loop only frames each row onto a socket and
reads the answers in a reader callback; the writer process compresses, binds and commits
on the other core.

The writer binds the values itself, straight to the DBAPI connection; each value comes
from its column type's own bind processor (``UtcDateTime``, ``JSON``, ``CompressedBytes``),
so the drain and ``aftercare inbox`` read these rows like any other (tests compare them
with SQLAlchemy's own insert).

A row the database refuses fails alone. The endpoint checks what it can before a row gets
here (``endpoint.delivery_row``), but when a batch's statement is refused for a value
(too long for its column, a NUL in text, text that is not Unicode, a missing value), the
statement stored nothing, so its rows are inserted again one by one: the good ones are
stored and answered as usual, each refused one fails with ``InboxRefusedError`` (a 4xx,
never a 503). Only errors that say "this value" are taken for a refusal; everything else
(a lost connection, a timeout, a missing table) still fails the whole batch with
``DatabaseUnavailableError``, since whether it was stored is then unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import PoolProxiedConnection

from aftercare.errors import AftercareError
from aftercare.storage.database import DatabaseUnavailableError, make_engine
from aftercare.storage.schema import InboxEventRow

log = logging.getLogger(__name__)

_TABLE = InboxEventRow.__table__

# The columns a receiver's row fills (see ``endpoint.delivery_row``); the rest
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

# A frame on the socket between the receiver and the writer: a 4-byte big-endian length,
# then a pickle; the framing of ``multiprocessing.connection.Connection``, which the writer
# process reads and writes with.
_LENGTH = struct.Struct("!i")


class _InsertStatement:
    """One multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING`` per batch size, with the
    parameters bound as SQLAlchemy binds them for ``engine``'s dialect.

    On PostgreSQL the placeholders are the server's own ``$1, $2, …``, sent as they are by
    psycopg's ``RawCursor``: with ``%s`` psycopg re-parses the statement in Python, uncached
    past a few kilobytes of SQL, which cost 30-40 µs a row in a batch of ten.
    """

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect
        if dialect.name not in ("sqlite", "postgresql"):  # pragma: no cover - settings refuse
            raise NotImplementedError(f"database {dialect.name!r} is not supported")
        self._numbered = dialect.name == "postgresql"
        self._processors: list[tuple[str, Callable[[Any], Any] | None]] = [
            (name, _TABLE.c[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in COLUMNS
        ]
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        if rows not in self._sql:
            width = len(COLUMNS)
            values = [
                "("
                + ", ".join(
                    f"${row * width + column + 1}" if self._numbered else "?"
                    for column in range(width)
                )
                + ")"
                for row in range(rows)
            ]
            self._sql[rows] = (
                f"INSERT INTO {_TABLE.name} ({', '.join(COLUMNS)}) VALUES "
                + ", ".join(values)
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


class InboxRefusedError(AftercareError):
    """The database refused this row's values; nothing of it was stored, its batch's other
    rows were. The message says what was wrong and in which column, never the value (which
    may be a customer's data, or large and hostile)."""


class InboxWriter:
    """Stores inbox rows in group commits, in a process of its own.

    ``stored`` (on an event loop) and ``submit`` (from any thread) answer True (stored) or
    False (a duplicate) once the row's batch is committed, or fail with
    ``InboxRefusedError`` (the database refused this row: it alone is not stored) or
    ``DatabaseUnavailableError`` (not stored, or unknown whether). One event loop serves a
    writer's answers: the first one ``stored`` is called on, or one of its own started for
    ``submit``. The writer process opens its own engine for ``engine.url`` (``make_engine``:
    the same settings as every Aftercare engine; options given to ``engine`` itself do not
    travel).
    """

    def __init__(self, engine: Engine, max_batch: int = 500) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.batches = 0
        ours, theirs = socket.socketpair()
        requests = Connection(theirs.detach())
        self._process = _start_method().Process(
            target=_serve,
            args=(engine.url.render_as_string(hide_password=False), requests, max_batch),
            name="aftercare-inbox-writer",
            daemon=True,
        )
        self._process.start()
        requests.close()
        ours.setblocking(False)
        self._socket = ours
        self._ids = itertools.count()
        self._waiting: dict[int, asyncio.Future[bool]] = {}
        self._outgoing: list[tuple[int, dict[str, Any]]] = []
        self._unsent = bytearray()
        self._received = bytearray()
        self._gone: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._own_loop: threading.Thread | None = None
        self._binding = threading.Lock()

    def stored(self, row: dict[str, Any]) -> asyncio.Future[bool]:
        """Send ``row`` to the writer; a future, of the running loop, of "was it new?"."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._bind(loop)
        future = loop.create_future()
        if self._gone is not None:
            future.set_exception(DatabaseUnavailableError(self._gone))
            return future
        request = next(self._ids)
        self._waiting[request] = future
        if not self._outgoing:
            loop.call_soon(self._ship)
        self._outgoing.append((request, row))
        return future

    def submit(self, row: dict[str, Any]) -> Future[bool]:
        """``stored`` for a caller on a thread: a ``concurrent.futures`` future."""
        loop = self._loop or self._start_own_loop()

        async def stored() -> bool:
            return await self.stored(row)

        return asyncio.run_coroutine_threadsafe(stored(), loop)

    def close(self) -> None:
        """Let the writer answer what it has received, then stop it."""
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_WR)  # the writer reads to the end, then exits
        self._process.join(timeout=10)
        if self._process.is_alive():  # pragma: no cover - a hung database
            self._process.terminate()
        loop = self._loop
        if loop is None or loop.is_closed():
            self._socket.close()
            return
        with contextlib.suppress(RuntimeError):  # closed meanwhile
            loop.call_soon_threadsafe(self._unbind)
        if self._own_loop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
            self._own_loop.join(timeout=10)

    @property
    def alive(self) -> bool:
        return self._gone is None and self._process.is_alive()

    # --- on the event loop ----------------------------------------------------------------

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._binding:
            if self._loop is not None and not self._loop.is_closed():
                raise RuntimeError("an InboxWriter answers on one event loop, already bound")
            self._loop = loop
        # Rows a closed loop stored but never shipped: nobody is waiting for their answers.
        for request, _ in self._outgoing:
            self._waiting.pop(request, None)
        self._outgoing = []
        loop.add_reader(self._socket.fileno(), self._receive)

    def _unbind(self) -> None:
        assert self._loop is not None
        self._loop.remove_reader(self._socket.fileno())
        self._loop.remove_writer(self._socket.fileno())
        self._socket.close()
        self._fail("the inbox writer was closed")

    def _ship(self) -> None:
        """One frame, one ``send`` for every row the loop's last round of requests stored.

        Pickling row by row repeated the same class lookups, and a ``send`` per row woke the
        writer process once per request; at the receiver's peak both were a quarter of the
        event loop's time per request.
        """
        batch, self._outgoing = self._outgoing, []
        if not batch or self._gone is not None:
            return  # failed meanwhile: ``_fail`` has answered them
        try:
            frame = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - a row that cannot be framed fails alone
            batch = [item for item in batch if self._frames_alone(item)]
            if not batch:
                return
            frame = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
        self._send(_LENGTH.pack(len(frame)) + frame)

    def _frames_alone(self, item: tuple[int, dict[str, Any]]) -> bool:
        """Whether ``item`` can be sent; if not, its request hears why (a 503, not a 2xx)."""
        try:
            pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - any reason: that request must hear of it
            log.error("inbox writer: a row could not be framed (%s)", type(exc).__name__)
            future = self._waiting.pop(item[0], None)
            if future is not None and not future.done():
                future.set_exception(
                    DatabaseUnavailableError(f"the row could not be framed ({type(exc).__name__})")
                )
            return False
        return True

    def _send(self, data: bytes) -> None:
        if not self._unsent:
            try:
                sent = self._socket.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                self._fail(f"the inbox writer process is gone ({type(exc).__name__})")
                return
            if sent == len(data):
                return
            data = data[sent:]
            assert self._loop is not None
            self._loop.add_writer(self._socket.fileno(), self._flush)
        self._unsent += data

    def _flush(self) -> None:
        try:
            sent = self._socket.send(self._unsent)
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(f"the inbox writer process is gone ({type(exc).__name__})")
            return
        del self._unsent[:sent]
        if not self._unsent:
            assert self._loop is not None
            self._loop.remove_writer(self._socket.fileno())

    def _receive(self) -> None:
        try:
            data = self._socket.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError as exc:
            data = b""
            log.debug("inbox writer: reading answers failed: %s", type(exc).__name__)
        if not data:
            assert self._loop is not None
            self._loop.remove_reader(self._socket.fileno())
            self._fail("the inbox writer process stopped")
            return
        self._received += data
        while len(self._received) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._received)
            end = _LENGTH.size + size
            if len(self._received) < end:
                break
            answers = pickle.loads(self._received[_LENGTH.size : end])
            del self._received[:end]
            self.batches += 1
            for request, new, error in answers:
                future = self._waiting.pop(request, None)
                if future is None or future.done():  # the request gave up (timeout, shutdown)
                    continue
                if error is None:
                    future.set_result(new)
                elif isinstance(error, InboxRefusedError):
                    future.set_exception(error)
                else:
                    future.set_exception(DatabaseUnavailableError(error))

    def _fail(self, reason: str) -> None:
        self._gone = self._gone or reason
        self._outgoing = []  # their futures are among those failed below
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(DatabaseUnavailableError(self._gone))

    def _start_own_loop(self) -> asyncio.AbstractEventLoop:
        with self._binding:
            if self._loop is not None:
                return self._loop
            loop = asyncio.new_event_loop()
            self._loop = loop
        loop.add_reader(self._socket.fileno(), self._receive)
        self._own_loop = threading.Thread(
            target=loop.run_forever, name="inbox-writer-answers", daemon=True
        )
        self._own_loop.start()
        return loop


def _start_method() -> Any:
    """Fork server where there is one: each writer process forks from a small server that
    started before any thread did (forking the receiver itself, threads and all, is
    unsafe) and has imported this module already, so a writer starts in milliseconds."""
    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _serve(url: str, requests: Connection, max_batch: int) -> None:
    """The writer process: rows in, one commit per batch of up to ``max_batch``, answers out.

    Everything that arrived while the previous batch was committing is read in one go and
    stored in as few statements as ``max_batch`` allows, so the batch grows with the load.
    """
    # Ctrl-C reaches the whole process group; the writer stops when the receiver closes the
    # socket, after answering what it has received.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = socket.socket(fileno=os.dup(requests.fileno()))
    requests.close()
    channel.setblocking(True)
    engine = make_engine(url)
    link = _Link(engine, _InsertStatement(engine))
    received = bytearray()
    buffer = memoryview(bytearray(_READ_SIZE))
    try:
        while True:
            size = channel.recv_into(buffer)  # waits for the first
            received += buffer[:size]
            while size and len(received) < _READ_SIZE:  # then takes all that is waiting
                try:
                    size = channel.recv_into(buffer, 0, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                received += buffer[:size]
            batch = _complete_frames(received)
            for start in range(0, len(batch), max_batch):
                channel.sendall(_framed(_answers(batch[start : start + max_batch], link)))
            if not size:
                return
    finally:
        link.disconnect()
        engine.dispose()
        channel.close()


# About this much of the waiting rows is read at once (a Shopify order is about 12 KB).
_READ_SIZE = 4 << 20


def _complete_frames(received: bytearray) -> list[tuple[int, dict[str, Any]]]:
    """The rows of every complete frame at the start of ``received``, removed from it."""
    rows: list[tuple[int, dict[str, Any]]] = []
    offset = 0
    while len(received) - offset >= _LENGTH.size:
        (size,) = _LENGTH.unpack_from(received, offset)
        end = offset + _LENGTH.size + size
        if len(received) < end:
            break
        rows += pickle.loads(received[offset + _LENGTH.size : end])
        offset = end
    del received[:offset]
    return rows


def _framed(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


def _answers(batch: list[tuple[int, dict[str, Any]]], link: _Link) -> bytes:
    try:
        inserted = link.insert([row for _, row in batch])
    except (_ValuesRefused, _Unbindable):
        # Nothing of the batch was stored (the statement failed as a whole, or was never
        # sent): find the rows at fault by storing each alone.
        return pickle.dumps(_answers_one_by_one(batch, link))
    except DatabaseUnavailableError as exc:
        return pickle.dumps([(request, False, str(exc)) for request, _ in batch])
    except Exception as exc:  # noqa: BLE001 - every waiting request must hear of it
        log.exception("inbox writer: batch not stored")
        error = f"the inbox writer failed ({type(exc).__name__})"
        return pickle.dumps([(request, False, error) for request, _ in batch])
    answers = []
    seen: set[_Key] = set()
    for request, row in batch:
        key = (row["source"], row["source_event_id"])
        answers.append((request, key in inserted and key not in seen, None))
        seen.add(key)
    return pickle.dumps(answers)


_Answer = tuple[int, bool, str | InboxRefusedError | None]


def _answers_one_by_one(batch: list[tuple[int, dict[str, Any]]], link: _Link) -> list[_Answer]:
    """Each row of a refused batch in a statement (and so a commit) of its own.

    A duplicate within the batch is answered as one: the first copy's statement stored it,
    the next one's conflicts. Once the database is unavailable, that row's outcome is
    unknown and the rest are not tried: none of them hears "stored".
    """
    answers: list[_Answer] = []
    for index, (request, row) in enumerate(batch):
        try:
            inserted = link.insert([row])
        except _ValuesRefused as refused:
            answers.append((request, False, InboxRefusedError(refused.problem(row))))
        except _Unbindable as unbindable:
            log.error("inbox writer: a row could not be bound (%s)", unbindable)
            answers.append((request, False, f"the row could not be bound ({unbindable})"))
        except DatabaseUnavailableError as exc:
            answers += [(later, False, str(exc)) for later, _ in batch[index:]]
            break
        except Exception as exc:  # noqa: BLE001 - every waiting request must hear of it
            log.exception("inbox writer: row not stored")
            error = f"the inbox writer failed ({type(exc).__name__})"
            answers += [(later, False, error) for later, _ in batch[index:]]
            break
        else:
            answers.append((request, (row["source"], row["source_event_id"]) in inserted, None))
    return answers


# What kind of value the database refused, as the request hears it (a 422 from the endpoint).
_TOO_LONG = "a value is longer than its column allows"
_NUL = "a text value contains a NUL character, which PostgreSQL cannot store"
_NOT_UNICODE = "a text value is not valid Unicode"
_OUT_OF_RANGE = "a number is out of range"
_MISSING = "a required value is missing"
_CONSTRAINT = "a value breaks a constraint of the inbox"
_WRONG_TYPE = "a value has a type the database cannot store"
_INVALID = "a value is invalid for its column"


class _ValuesRefused(Exception):
    """The statement failed for a value it was given (``kind``); it stored nothing."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind

    def problem(self, row: dict[str, Any]) -> str:
        """What was wrong with ``row``, alone in its statement, and in which column."""
        columns = [name for name in COLUMNS if _holds(self.kind, name, row.get(name))]
        return f"{self.kind} (column {', '.join(columns)})" if columns else self.kind


class _Unbindable(Exception):
    """A type's bind processor failed on a row (Aftercare's bug, not the store's, so the
    request hears 503, not 4xx); nothing was sent."""


def _holds(kind: str, column: str, value: Any) -> bool:
    """Whether ``value`` of ``column`` is of the ``kind`` a database refuses.

    Only text columns: JSON ones (``raw_headers``) are serialized with every non-ASCII
    character and NUL escaped, which both databases take.
    """
    if kind == _MISSING:
        return value is None and not _TABLE.c[column].nullable
    if not isinstance(value, str):
        return False
    if kind == _TOO_LONG:
        length = getattr(_TABLE.c[column].type, "length", None)
        return length is not None and len(value) > length
    if kind == _NUL:
        return "\x00" in value
    if kind == _NOT_UNICODE:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


def _python_refusal(exc: BaseException) -> str | None:
    """The drivers encode text as UTF-8 and integers to the column's range in Python."""
    if isinstance(exc, UnicodeError):
        return _NOT_UNICODE
    return _OUT_OF_RANGE if isinstance(exc, OverflowError) else None


def _postgresql_refusal(exc: BaseException, psycopg: Any) -> str | None:
    """By SQLSTATE (PostgreSQL's Appendix A): class 22 "data exception" and class 23
    "integrity constraint violation", except 23505: the one unique key a row's values
    decide is the ON CONFLICT target, so another unique violation (the id sequence behind
    the table) is the database's state, not the row's. psycopg's own refusals, before
    sending, have no SQLSTATE; a NUL in text is the one a row can cause.
    """
    if not isinstance(exc, psycopg.DataError | psycopg.IntegrityError):
        return None
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate is None:
        return _NUL if "NUL" in str(exc) else _INVALID
    if sqlstate == "22001":  # string_data_right_truncation
        return _TOO_LONG
    if sqlstate == "22003":  # numeric_value_out_of_range
        return _OUT_OF_RANGE
    if sqlstate == "23502":  # not_null_violation
        return _MISSING
    if sqlstate.startswith("22"):
        return _INVALID
    return _CONSTRAINT if sqlstate.startswith("23") and sqlstate != "23505" else None


# What the sqlite3 module says of a value of a type SQLite cannot store (``ProgrammingError``
# since Python 3.11, ``InterfaceError`` before); its other ProgrammingErrors (a closed
# connection, the wrong number of parameters) are not about a row.
_SQLITE_UNBINDABLE = "Error binding parameter"


def _sqlite_refusal(exc: BaseException, sqlite3: Any) -> str | None:
    """SQLite keeps text of any length and NULs; it refuses a value of a type it has no
    storage class for, a missing required value, and a string or blob past its 1 GB limit
    (``SQLITE_TOOBIG``, a ``DataError``)."""
    if isinstance(exc, sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return _WRONG_TYPE if str(exc).startswith(_SQLITE_UNBINDABLE) else None
    if isinstance(exc, sqlite3.IntegrityError):
        name = getattr(exc, "sqlite_errorname", "")
        if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
            return None  # as on PostgreSQL: not the ON CONFLICT key, so not the row's
        return _MISSING if name == "SQLITE_CONSTRAINT_NOTNULL" else _CONSTRAINT
    return _TOO_LONG if isinstance(exc, sqlite3.DataError) else None


class _Link:
    """The writer process's connection, held between batches, in autocommit mode."""

    def __init__(self, engine: Engine, statement: _InsertStatement) -> None:
        self.engine = engine
        self.statement = statement
        self.connection: PoolProxiedConnection | None = None
        self.last_used = 0.0
        self._sqlite = engine.dialect.name == "sqlite"
        self._dbapi = engine.dialect.loaded_dbapi
        self._database_errors = (self._dbapi.Error, SQLAlchemyError)

    def insert(self, rows: list[dict[str, Any]]) -> set[_Key]:
        """Insert ``rows`` in one statement, committed when it returns; the keys that were new.

        The connection is in autocommit mode, so the statement is its own transaction: one
        round trip to PostgreSQL and one write-locked step in SQLite (the write lock is taken
        when the statement starts, as ``BEGIN IMMEDIATE`` would). ``_ValuesRefused`` when
        the statement failed for a value: then nothing was stored and the connection is
        kept.
        """
        sql = self.statement.sql(len(rows))
        try:
            parameters = self.statement.parameters(rows)
        except Exception as exc:  # noqa: BLE001 - a row's value, whatever the reason
            kind = _python_refusal(exc)
            if kind is not None:
                raise _ValuesRefused(kind) from exc
            raise _Unbindable(type(exc).__name__) from exc
        try:
            connection = self._connect()
            cursor = connection.cursor()
            try:
                self._execute(cursor, sql, parameters)
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

    def _execute(self, cursor: Any, sql: str, parameters: list[Any]) -> None:
        """``cursor.execute``; ``_ValuesRefused`` when it failed for a value (``_refusal``)."""
        try:
            cursor.execute(sql, parameters)
        except Exception as exc:
            kind = self._refusal(exc)
            if kind is None:
                raise
            raise _ValuesRefused(kind) from exc

    def _refusal(self, exc: BaseException) -> str | None:
        """The kind of value the database (or its driver, binding it) refused, or None: then
        ``exc`` is the database's state (unreachable, a lost connection, a timeout, a lock, a
        missing table), and whether the batch was stored is unknown."""
        kind = _python_refusal(exc)
        if kind is not None:
            return kind
        if self._sqlite:
            return _sqlite_refusal(exc, self._dbapi)
        return _postgresql_refusal(exc, self._dbapi)

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
            # busy_timeout); then out of the pool, as the writer's own for its lifetime.
            connection = self.engine.raw_connection()
            connection.detach()
            if self._sqlite:
                connection.dbapi_connection.isolation_level = None  # the module issues no BEGIN
            else:
                from psycopg import RawCursor  # the dialect's driver, so installed

                connection.dbapi_connection.autocommit = True
                connection.dbapi_connection.cursor_factory = RawCursor
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
