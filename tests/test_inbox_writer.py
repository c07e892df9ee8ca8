"""The inbox writer: group commit through the DBAPI connection, read back like any other row.

The writer binds its values itself (no SQLAlchemy statement execution on the request path),
so these tests pin down that what it stores is exactly what SQLAlchemy would have stored:
the drain, ``aftercare inbox list`` and replay read the rows through the ORM, and SQLite
compares timestamps as text.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import zstandard
from sqlalchemy import Engine, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from aftercare.receiver import delivery_row, inbox_writer
from aftercare.receiver.inbox_writer import COLUMNS, InboxRefusedError, InboxWriter
from aftercare.settings import ShopifyOptions, StoreFacts
from aftercare.storage.database import DatabaseUnavailableError, make_engine
from aftercare.storage.inbox import claim_events
from aftercare.storage.schema import InboxEventRow, InboxStatus
from aftercare.stores import Delivery
from aftercare.stores.shopify import ShopifyAdapter

FIXTURES = Path(__file__).parent / "fixtures"
BODY = (FIXTURES / "shopify" / "orders_create.json").read_bytes()
HEADERS = {
    "content-type": "application/json",
    "x-shopify-topic": "orders/create",
    "x-shopify-hmac-sha256": "c2lnbmVk",
    "x-shopify-shop-domain": "fern-and-field.myshopify.com",
    "x-shopify-event-id": "evt",
    "user-agent": "Shopify-Captain-Hook",
    "x-forwarded-for": "203.0.113.9",  # not kept
}
SHOPIFY = ShopifyAdapter(ShopifyOptions(), StoreFacts())
# Not UTC and with microseconds: the stored value must still be the UTC instant.
RECEIVED = datetime(2026, 11, 16, 10, 30, 0, 123456, tzinfo=timezone(timedelta(hours=1)))


def _row(event_id: str, header_id: str | None = None, **changes: Any) -> dict[str, Any]:
    headers = {**HEADERS, "x-shopify-event-id": header_id or event_id}
    delivery = Delivery(headers, BODY, RECEIVED)
    row = delivery_row(SHOPIFY, event_id, delivery, topic="orders/create")
    row.update(changes)
    return row


def _sqlalchemy_insert(engine: Engine, row: dict[str, Any]) -> None:
    """How the receiver stored a row before the writer bound values itself."""
    table = InboxEventRow.__table__
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    with engine.begin() as connection:
        connection.execute(insert(table).on_conflict_do_nothing(), [row])


def _stored_as(engine: Engine, event_id: str) -> dict[str, Any]:
    """The row's columns exactly as the database holds them (no type processing)."""
    columns = ", ".join(COLUMNS)
    with engine.connect() as connection:
        values = connection.execute(
            text(f"SELECT {columns} FROM inbox_events WHERE source_event_id = :id"),
            {"id": event_id},
        ).one()
    return {
        name: bytes(value) if isinstance(value, memoryview) else value
        for name, value in zip(COLUMNS, values, strict=True)
    }


def _read_back(engine: Engine, event_id: str) -> dict[str, Any]:
    with Session(engine) as session:
        row = session.scalars(
            select(InboxEventRow).where(InboxEventRow.source_event_id == event_id)
        ).one()
        return {name: getattr(row, name) for name in [*COLUMNS, "claimed_at"]}


@pytest.fixture
def writer(engine: Engine):
    writer = InboxWriter(engine)
    yield writer
    writer.close()


@pytest.mark.parametrize(
    "changes",
    [
        {},  # a delivery waiting for the drain
        {  # a topic Aftercare ignores: finished at once, with a note
            "status": InboxStatus.IGNORED.value,
            "kind": InboxStatus.IGNORED.value,
            "processed_at": RECEIVED,
            "last_error": "topic products/update is not used by Aftercare",
            "topic": "products/update",
        },
        {"topic": None, "raw_headers": {}},
    ],
)
def test_a_row_is_stored_exactly_as_sqlalchemy_stores_it(
    engine: Engine, writer: InboxWriter, changes: dict[str, Any]
) -> None:
    assert writer.submit(_row("by-writer", "evt", **changes)).result(timeout=10) is True
    _sqlalchemy_insert(engine, _row("by-sqlalchemy", "evt", **changes))

    by_writer, by_sqlalchemy = _stored_as(engine, "by-writer"), _stored_as(engine, "by-sqlalchemy")
    assert by_writer.pop("source_event_id") == "by-writer"
    assert by_sqlalchemy.pop("source_event_id") == "by-sqlalchemy"
    if engine.dialect.name == "postgresql":  # json keeps its text; compare the documents
        for name in ("payload", "raw_headers"):
            assert json.dumps(by_writer.pop(name)) == json.dumps(by_sqlalchemy.pop(name))
    assert by_writer == by_sqlalchemy
    assert zstandard.ZstdDecompressor().decompress(by_writer["raw_body"]) == BODY


def test_a_row_reads_back_through_the_orm_as_it_was_given(
    engine: Engine, writer: InboxWriter
) -> None:
    assert writer.submit(_row("evt-1")).result(timeout=10) is True
    row = _read_back(engine, "evt-1")
    assert row == {
        "source": "shopify",
        "source_event_id": "evt-1",
        "kind": "delivery",
        "occurred_at": RECEIVED,
        "received_at": RECEIVED,
        "payload": {},
        "status": "pending",
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": RECEIVED,
        "processed_at": None,
        "topic": "orders/create",
        "raw_body": BODY,
        "raw_headers": {k: v for k, v in HEADERS.items() if k != "x-forwarded-for"}
        | {"x-shopify-event-id": "evt-1"},
        "claimed_at": None,
    }
    assert row["received_at"].tzinfo is UTC


def test_the_drain_claims_what_the_writer_stored(engine: Engine, writer: InboxWriter) -> None:
    assert writer.submit(_row("evt-1")).result(timeout=10) is True
    with Session(engine) as session, session.begin():
        # Due exactly at its arrival: SQLite compares these timestamps as text.
        (claimed,) = claim_events(
            session, limit=10, now=RECEIVED, claim_timeout=timedelta(minutes=5)
        )
    assert claimed.raw_body == BODY and claimed.raw_headers["x-shopify-event-id"] == "evt-1"


def test_duplicates_in_one_batch_and_across_batches_are_stored_once(
    engine: Engine, writer: InboxWriter
) -> None:
    assert writer.submit(_row("evt-1")).result(timeout=10) is True
    futures = [writer.submit(_row(event_id)) for event_id in ("evt-1", "evt-2", "evt-2", "evt-3")]
    assert [f.result(timeout=10) for f in futures] == [False, True, False, True]
    with Session(engine) as session:
        ids = session.scalars(select(InboxEventRow.source_event_id)).all()
    assert sorted(ids) == ["evt-1", "evt-2", "evt-3"]


def test_requests_arriving_during_a_commit_share_the_next_one(
    engine: Engine, writer: InboxWriter
) -> None:
    lock = (
        "LOCK TABLE inbox_events IN EXCLUSIVE MODE"
        if engine.dialect.name == "postgresql"
        else "SELECT 1"  # SQLite: the engine's BEGIN IMMEDIATE takes the write lock
    )
    assert writer.submit(_row("started")).result(timeout=20) is True
    before = writer.batches
    with engine.begin() as connection:  # another writer holds the lock for now
        connection.execute(text(lock))
        first = writer.submit(_row("first"))
        time.sleep(0.3)  # the writer is now waiting for the lock with "first"
        waiting = [writer.submit(_row(f"evt-{i}")) for i in range(10)]
        time.sleep(0.3)  # all ten are on their way to the writer
    assert first.result(timeout=20) is True
    assert all(f.result(timeout=20) for f in waiting)
    assert writer.batches - before == 2


def test_answers_arrive_on_the_event_loop_that_asked(engine: Engine, writer: InboxWriter) -> None:
    async def store_together() -> list[bool]:
        rows = [_row(f"evt-{i}") for i in range(20)] + [_row("evt-0")]
        return await asyncio.gather(*(writer.stored(row) for row in rows))

    assert asyncio.run(store_together()) == [True] * 20 + [False]
    assert writer.batches <= 21


def test_a_request_that_gave_up_is_skipped_and_its_row_still_stored(
    engine: Engine, writer: InboxWriter
) -> None:
    async def give_up_then_store() -> bool:
        abandoned = writer.stored(_row("gone"))
        abandoned.cancel()
        return await writer.stored(_row("later"))

    assert asyncio.run(give_up_then_store()) is True
    assert writer.alive
    with Session(engine) as session:
        ids = set(session.scalars(select(InboxEventRow.source_event_id)))
    assert ids == {"gone", "later"}


@pytest.mark.parametrize("caller", ["thread", "event loop"])
def test_an_unreachable_database_fails_every_waiting_request(caller: str) -> None:
    unreachable = make_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    writer = InboxWriter(unreachable)
    try:
        if caller == "thread":
            with pytest.raises(DatabaseUnavailableError, match="OperationalError") as info:
                writer.submit(_row("evt-1")).result(timeout=20)
        else:

            async def stored() -> bool:
                return await writer.stored(_row("evt-1"))

            with pytest.raises(DatabaseUnavailableError, match="OperationalError") as info:
                asyncio.run(stored())
        assert "fern-and-field" not in str(info.value)  # no parameters in the message
        assert writer.alive
    finally:
        writer.close()


def test_a_connection_lost_while_idle_is_replaced_before_the_next_batch(
    postgresql_engine: Engine,
) -> None:
    """A database server restart (only a server can drop the writer's connection)."""
    engine = postgresql_engine
    writer = InboxWriter(engine)
    try:
        assert writer.submit(_row("evt-1")).result(timeout=10) is True
        with engine.begin() as connection:  # what a database restart does to the writer's
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        time.sleep(inbox_writer._PING_AFTER_IDLE + 0.2)  # noqa: SLF001 - idle long enough
        assert writer.submit(_row("evt-2")).result(timeout=10) is True
    finally:
        writer.close()


def test_more_rows_than_a_batch_are_stored_in_several_commits_each_answered(
    engine: Engine,
) -> None:
    writer = InboxWriter(engine, max_batch=3)
    try:

        async def one_round() -> list[bool]:
            ids = [f"evt-{n}" for n in range(8)] + ["evt-2", "evt-5"]  # two duplicates
            answers = asyncio.gather(*(writer.stored(_row(i)) for i in ids))
            return await asyncio.wait_for(answers, timeout=10)

        answers = asyncio.run(one_round())
        assert answers == [True] * 8 + [False, False]
        assert writer.batches >= 4  # 10 rows, at most 3 per commit
    finally:
        writer.close()
    with Session(engine) as session:
        stored = session.scalars(select(InboxEventRow.source_event_id)).all()
    assert sorted(stored) == sorted(f"evt-{n}" for n in range(8))


def test_a_row_that_cannot_be_sent_fails_alone_and_the_rest_of_its_round_is_stored(
    engine: Engine, writer: InboxWriter
) -> None:
    async def one_round() -> list[object]:
        broken = _row("evt-broken", raw_headers={"x": lambda: None})  # cannot be pickled
        rows = [_row("evt-a"), broken, _row("evt-b")]
        answers = asyncio.gather(*(writer.stored(r) for r in rows), return_exceptions=True)
        return await asyncio.wait_for(answers, timeout=10)

    first, broken, second = asyncio.run(one_round())
    assert first is True and second is True
    assert isinstance(broken, DatabaseUnavailableError)
    with Session(engine) as session:
        stored = session.scalars(select(InboxEventRow.source_event_id)).all()
    assert sorted(stored) == ["evt-a", "evt-b"]


def test_frames_are_taken_only_once_complete_however_the_bytes_arrive() -> None:
    rows = [[(n, {"source": "shopify", "body": b"x" * 5000 * n})] for n in range(1, 4)]
    stream = b"".join(
        inbox_writer._framed(pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL)) for r in rows
    )
    for piece in (1, 7, 4096, len(stream)):
        received = bytearray()
        taken: list[tuple[int, dict[str, Any]]] = []
        for start in range(0, len(stream), piece):
            received += stream[start : start + piece]
            taken += inbox_writer._complete_frames(received)
        assert [request for request, _ in taken] == [1, 2, 3]
        assert [len(row["body"]) for _, row in taken] == [5000, 10000, 15000]
        assert received == bytearray()


def _store_together(writer: InboxWriter, rows: list[dict[str, Any]]) -> list[object]:
    """Answers to ``rows`` stored in one round of the event loop, so in one batch."""

    async def one_round() -> list[object]:
        answers = asyncio.gather(*(writer.stored(r) for r in rows), return_exceptions=True)
        return await asyncio.wait_for(answers, timeout=20)

    return asyncio.run(one_round())


def _stored_ids(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.scalars(select(InboxEventRow.source_event_id)))


# A value each database refuses (or, on SQLite, keeps: it enforces no length and keeps NULs)
# and what the refused request hears, by column, never by value.
REFUSED_ROWS = [
    pytest.param(
        {"topic": "t" * 3000},
        "a value is longer than its column allows (column topic)",
        {"postgresql"},
        id="topic longer than its column",
    ),
    pytest.param(
        {"topic": "orders/\x00create"},
        "a text value contains a NUL character, which PostgreSQL cannot store (column topic)",
        {"postgresql"},
        id="NUL in text",
    ),
    pytest.param(
        {"last_error": "topic \ud800 is not used"},
        "a text value is not valid Unicode (column last_error)",
        {"postgresql", "sqlite"},
        id="lone surrogate",
    ),
    pytest.param(
        {"kind": None},
        "a required value is missing (column kind)",
        {"postgresql", "sqlite"},
        id="missing value",
    ),
]


@pytest.mark.parametrize(("bad", "problem", "refused_by"), REFUSED_ROWS)
def test_a_row_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_stored(
    engine: Engine,
    writer: InboxWriter,
    bad: dict[str, Any],
    problem: str,
    refused_by: set[str],
) -> None:
    rows = [_row("evt-1"), _row("evt-bad", **bad), _row("evt-2"), _row("evt-1"), _row("evt-3")]
    before = writer.batches
    first, refused, second, duplicate, third = _store_together(writer, rows)
    assert writer.batches - before == 1  # one batch, answered as one
    assert (first, second, duplicate, third) == (True, True, False, True)
    if engine.dialect.name in refused_by:
        assert isinstance(refused, InboxRefusedError)
        assert str(refused) == problem
        assert _stored_ids(engine) == ["evt-1", "evt-2", "evt-3"]
    else:
        assert refused is True
        assert _stored_ids(engine) == ["evt-1", "evt-2", "evt-3", "evt-bad"]
    # The connection is kept: the next batch is an ordinary group commit.
    assert _store_together(writer, [_row("evt-4"), _row("evt-5")]) == [True, True]
    assert writer.alive


def test_refused_rows_and_duplicates_are_answered_each_in_a_batch_of_many(
    engine: Engine, writer: InboxWriter
) -> None:
    ids = [f"evt-{n}" for n in range(30)]
    refused = {3, 10, 17, 24}
    rows = [_row(i, kind=None) if n in refused else _row(i) for n, i in enumerate(ids)]
    rows += [_row("evt-0"), _row("evt-3")]  # one stored already; one refused above, now good
    answers = _store_together(writer, rows)
    for n, answer in enumerate(answers[:30]):
        assert isinstance(answer, InboxRefusedError) if n in refused else answer is True
    assert answers[30:] == [False, True]
    assert _stored_ids(engine) == sorted(i for n, i in enumerate(ids) if n not in refused - {3})


def test_a_database_that_is_unreachable_fails_a_batch_with_a_bad_row_as_unavailable() -> None:
    """Unavailable is not turned into "refused": nothing was stored, and a retry may be."""
    unreachable = make_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    writer = InboxWriter(unreachable)
    try:
        answers = _store_together(writer, [_row("evt-1"), _row("evt-bad", topic="t" * 3000)])
        assert all(type(a) is DatabaseUnavailableError for a in answers)
        assert writer.alive
    finally:
        writer.close()


def test_a_lock_timeout_is_the_database_s_state_not_the_row_s(
    postgresql_engine: Engine,
) -> None:
    """A statement that fails for the database's state (here PostgreSQL's ``lock_timeout``,
    an OperationalError) fails its whole batch as unavailable, bad row and all: the store
    retries."""
    impatient = postgresql_engine.url.update_query_dict({"options": "-c lock_timeout=200"})
    writer = InboxWriter(make_engine(impatient.render_as_string(hide_password=False)))
    try:
        assert _store_together(writer, [_row("evt-0")]) == [True]
        with postgresql_engine.begin() as connection:
            connection.execute(text("LOCK TABLE inbox_events IN EXCLUSIVE MODE"))
            answers = _store_together(writer, [_row("evt-1"), _row("evt-bad", topic="t" * 300)])
        assert all(type(a) is DatabaseUnavailableError for a in answers)
        assert all("(LockNotAvailable)" in str(a) for a in answers)
        assert _store_together(writer, [_row("evt-1")]) == [True]  # a new connection
    finally:
        writer.close()
    assert _stored_ids(postgresql_engine) == ["evt-0", "evt-1"]


class _LinkLostMidway:
    """A connection that refuses the batch for a bad row, then is lost at ``evt-lost``."""

    def __init__(self) -> None:
        self.statements: list[list[str]] = []

    def insert(self, rows: list[dict[str, Any]]) -> set[tuple[str, str]]:
        ids = [row["source_event_id"] for row in rows]
        self.statements.append(ids)
        if len(rows) > 1 or ids == ["evt-bad"]:
            raise inbox_writer._ValuesRefused(inbox_writer._MISSING)  # noqa: SLF001
        if ids == ["evt-lost"]:
            raise DatabaseUnavailableError(
                "the inbox could not store 1 deliveries (OperationalError)"
            )
        return {("shopify", ids[0])}


def test_a_connection_lost_while_storing_one_by_one_answers_no_later_row_stored() -> None:
    """Whether the lost row was committed is unknown, and the rows after it were not tried:
    they hear "unavailable" (a 503, the store retries), never "stored" or "refused"."""
    link = _LinkLostMidway()
    batch = [(n, _row(i)) for n, i in enumerate(["evt-1", "evt-bad", "evt-lost", "evt-2"])]
    answers = pickle.loads(inbox_writer._answers(batch, link))  # type: ignore[arg-type]
    (_, stored, none), (_, _, refused), (_, lost, unknown), (_, later, untried) = answers
    assert (stored, none) == (True, None)
    assert isinstance(refused, InboxRefusedError)
    assert lost is later is False
    assert isinstance(unknown, str) and unknown == untried
    assert link.statements == [
        ["evt-1", "evt-bad", "evt-lost", "evt-2"],
        ["evt-1"],
        ["evt-bad"],
        ["evt-lost"],
    ]
