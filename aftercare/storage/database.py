"""Engines and sessions for the configured database URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from aftercare.errors import AftercareError


class DatabaseUnavailableError(AftercareError):
    """The database cannot be reached; nothing was stored."""


# Execution option of a connection that only reads (see ``read_only``).
READ_ONLY = "aftercare_read_only"


def _begin_immediate(connection: Any) -> None:
    # Take the write lock when the transaction starts: a deferred transaction that reads and
    # then writes fails at once with "database is locked" when another writer got in between
    # (busy_timeout does not help there); an immediate one waits its turn. A transaction
    # that only reads takes no lock: WAL gives it a snapshot while others write.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def read_only(engine: Engine) -> Iterator[Connection]:
    """A transaction that only reads: on SQLite it does not hold the one write lock, so the
    webhook receiver can store deliveries meanwhile."""
    with engine.connect() as connection:
        connection = connection.execution_options(**{READ_ONLY: True})
        with connection.begin():
            yield connection


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module's own transaction handling would defeat SAVEPOINTs and BEGIN
    # IMMEDIATE; SQLAlchemy issues BEGIN itself (see "Serializable isolation / Savepoints /
    # Transactional DDL" in SQLAlchemy's SQLite dialect documentation).
    dbapi_connection.isolation_level = None
    # WAL lets the webhook receiver write while the drain reads; busy_timeout makes a
    # writer wait for the other instead of failing with "database is locked";
    # synchronous=NORMAL is durable in WAL mode except on power loss of the last commit.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for ``url`` with the settings each dialect needs for Aftercare's workload."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        # psycopg 3 is the driver we install; a bare postgresql:// URL should just work.
        parsed = parsed.set(drivername="postgresql+psycopg")
    # Error messages and logs never show bound parameters: they hold customers' emails
    # and addresses.
    options.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, **options)
        event.listen(engine, "connect", _tune_sqlite)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(parsed, pool_pre_ping=True, **options)


@cache
def engine_for(url: str) -> Engine:
    """One engine (and connection pool) per URL per process."""
    return make_engine(url)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
