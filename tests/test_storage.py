"""Storage on SQLite and PostgreSQL: dedupe, claims, the outbox key, exact money and time."""

from __future__ import annotations

import threading
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, LargeBinary, func, inspect, literal, select, type_coerce
from sqlalchemy.orm import Session

from aftercare.order_state import merge_event
from aftercare.sample_store import orders
from aftercare.storage import inbox, outbox
from aftercare.storage.database import session_factory
from aftercare.storage.order_records import load_order_state, save_order_state
from aftercare.storage.schema import (
    CustomerRow,
    InboxEventRow,
    InboxStatus,
    OutboxEmailRow,
    OutboxStatus,
)
from aftercare.storage.schema_migrations import current_revision

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _email(key: str = "k1") -> outbox.NewOutboxEmail:
    return outbox.NewOutboxEmail(
        idempotency_key=key,
        inbox_event_id=None,
        kind="welcome",
        recipient="ada@example.com",
        sender="hello@shop.example",
        subject="Welcome",
        message_id="<m1@shop.example>",
        mime=b"MIME-Version: 1.0\r\n\r\nhi",
        explanation={"why": "test"},
    )


def test_migrations_create_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {
        "customers",
        "products",
        "orders",
        "line_items",
        "fulfilments",
        "refunds",
        "inbox_events",
        "outbox_emails",
    } <= tables
    assert current_revision(engine) is not None


def test_the_migrations_build_the_schema_the_code_declares(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from aftercare.storage.schema import Base

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_a_duplicate_event_is_stored_once(engine: Engine) -> None:
    sessions = session_factory(engine)
    event = orders.placed()
    with sessions.begin() as s:
        first = inbox.enqueue_event(s, event, NOW)
    with sessions.begin() as s:
        second = inbox.enqueue_event(s, event, NOW + timedelta(seconds=5))
    assert first.duplicate is False and first.inbox_id is not None
    assert second.duplicate is True and second.inbox_id is None
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(InboxEventRow)) == 1


def test_a_claimed_event_is_not_claimed_again_until_its_claim_expires(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        inbox.enqueue_event(s, orders.placed(), NOW)
    timeout = timedelta(minutes=10)
    with sessions.begin() as s:
        first = inbox.claim_events(s, limit=10, now=NOW, claim_timeout=timeout)
    with sessions.begin() as s:
        again = inbox.claim_events(
            s, limit=10, now=NOW + timedelta(minutes=1), claim_timeout=timeout
        )
    with sessions.begin() as s:
        after_crash = inbox.claim_events(
            s, limit=10, now=NOW + timedelta(minutes=11), claim_timeout=timeout
        )
    assert [c.attempts for c in first] == [1]
    assert again == []
    assert [c.attempts for c in after_crash] == [2]


def test_events_are_claimed_in_the_order_they_happened(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        inbox.enqueue_event(s, orders.shipped(), NOW)
        inbox.enqueue_event(s, orders.placed(), NOW)
    with sessions.begin() as s:
        claimed = inbox.claim_events(s, limit=10, now=NOW, claim_timeout=timedelta(minutes=5))
    assert [c.payload["kind"] for c in claimed] == ["order_placed", "order_shipped"]


def test_a_retry_waits_for_its_time_and_dead_events_stay_visible(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        inbox.enqueue_event(s, orders.shipped(), NOW)
    timeout = timedelta(minutes=5)
    with sessions.begin() as s:
        (claimed,) = inbox.claim_events(s, limit=1, now=NOW, claim_timeout=timeout)
        inbox.mark_for_retry(
            s,
            claimed.inbox_id,
            error="order not yet known",
            retry_at=NOW + timedelta(minutes=2),
            now=NOW,
        )
    with sessions.begin() as s:
        assert (
            inbox.claim_events(s, limit=1, now=NOW + timedelta(minutes=1), claim_timeout=timeout)
            == []
        )
        (again,) = inbox.claim_events(
            s, limit=1, now=NOW + timedelta(minutes=3), claim_timeout=timeout
        )
        inbox.mark_for_retry(s, again.inbox_id, error="still unknown", retry_at=None, now=NOW)
    with Session(engine) as s:
        row = s.scalars(select(InboxEventRow)).one()
        assert row.status == InboxStatus.DEAD and row.last_error == "still unknown"
        assert inbox.count_by_status(s) == {"dead": 1}


def test_concurrent_drainers_never_claim_the_same_event(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        for i in range(60):
            inbox.enqueue_event(s, orders.placed(f"evt-{i}", external_id=f"o-{i}"), NOW)
    claims: list[list[int]] = []
    barrier = threading.Barrier(3)

    def drainer() -> None:
        mine: list[int] = []
        barrier.wait()
        while True:
            with sessions.begin() as s:
                batch = inbox.claim_events(s, limit=7, now=NOW, claim_timeout=timedelta(minutes=5))
            if not batch:
                break
            mine += [c.inbox_id for c in batch]
        claims.append(mine)

    threads = [threading.Thread(target=drainer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for mine in claims for i in mine]
    assert len(every) == 60
    assert len(set(every)) == 60


def test_a_second_email_with_the_same_key_is_not_added(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        first = outbox.add_email(s, _email(), NOW)
    with sessions.begin() as s:
        second = outbox.add_email(s, _email(), NOW)
        assert outbox.key_exists(s, "k1")
    assert first is not None and second is None


def test_outbox_lifecycle_records_attempts_errors_and_message_id(engine: Engine) -> None:
    sessions = session_factory(engine)
    with sessions.begin() as s:
        outbox.add_email(s, _email("a"), NOW)
        outbox.add_email(s, _email("b"), NOW)
        outbox.add_email(s, _email("c"), NOW)
    with sessions.begin() as s:
        a, b, c = outbox.claim_due_emails(s, limit=10, now=NOW)
        assert outbox.claim_due_emails(s, limit=10, now=NOW) == []
        outbox.mark_sent(s, a.outbox_id, transport="ses", transport_message_id="ses-1", now=NOW)
        outbox.mark_failed(s, b.outbox_id, transport="ses", error="MessageRejected: unverified")
        outbox.mark_retry(s, c.outbox_id, transport="ses", error="Throttling", retry_at=None)
        # a late result cannot overwrite a recorded one
        outbox.mark_failed(s, a.outbox_id, transport="ses", error="late")
    with Session(engine) as s:
        rows = {r.idempotency_key: r for r in s.scalars(select(OutboxEmailRow))}
    assert rows["a"].status == OutboxStatus.SENT and rows["a"].transport_message_id == "ses-1"
    assert rows["a"].attempts == 1 and rows["a"].mime.endswith(b"hi")
    assert rows["b"].status == OutboxStatus.FAILED and "unverified" in rows["b"].last_error
    assert rows["c"].status == OutboxStatus.DEAD
    with sessions.begin() as s:
        assert [r.idempotency_key for r in outbox.list_emails(s, status="dead")] == ["c"]
        assert outbox.requeue(s, rows["c"].id, NOW) is True
        assert outbox.requeue(s, rows["a"].id, NOW) is False


def test_only_the_drainer_still_holding_an_email_may_hand_it_over(engine: Engine) -> None:
    """A drain too slow for its claim finds the email taken by another: it must not send it
    too. Handing over restarts the claim, so an email on its way is not taken for lost."""
    sessions = session_factory(engine)
    timeout = timedelta(seconds=45)
    with sessions.begin() as s:
        outbox.add_email(s, _email("a"), NOW)
        outbox.add_email(s, _email("b"), NOW)
    with sessions.begin() as s:
        a, b = outbox.claim_due_emails(s, limit=10, now=NOW)
    later = NOW + timeout + timedelta(seconds=1)
    with sessions.begin() as s:
        # a second drainer finds the first one's claims expired and takes them over
        assert outbox.release_unhanded(s, now=later, claim_timeout=timeout) == 2
        assert len(outbox.claim_due_emails(s, limit=10, now=later)) == 2
    with sessions.begin() as s:
        stale = outbox.mark_handed(
            s, [a.outbox_id, b.outbox_id], transport="ses", claimed_at=NOW, now=later
        )
        assert stale == set()
        ours = outbox.mark_handed(s, [a.outbox_id], transport="ses", claimed_at=later, now=later)
        assert ours == {a.outbox_id}
    handed_at = later
    with sessions.begin() as s:
        # on its way for almost a claim timeout: not yet taken for interrupted
        just_before = handed_at + timeout - timedelta(seconds=1)
        assert outbox.interrupted_sends(s, now=just_before, claim_timeout=timeout) == []
        after = handed_at + timeout
        assert [
            e.outbox_id for e in outbox.interrupted_sends(s, now=after, claim_timeout=timeout)
        ] == [a.outbox_id]


def test_order_state_round_trips_exactly(engine: Engine) -> None:
    sessions = session_factory(engine)
    state = merge_event(None, orders.placed())
    state = merge_event(state, orders.shipped())
    state = merge_event(state, orders.refunded())
    with sessions.begin() as s:
        save_order_state(s, state, NOW)
    with sessions.begin() as s:
        loaded = load_order_state(s, orders.SOURCE, "o-1001", lock=True)
    assert loaded == state
    assert loaded.order.costs.total == Decimal("107.40")
    assert loaded.order.placed_at.tzinfo is not None


def test_an_order_paid_later_by_design_is_remembered_as_such(engine: Engine) -> None:
    """Cash on delivery or a bank transfer: later emails must still know the payment is due."""
    sessions = session_factory(engine)
    state = merge_event(None, orders.placed(payment_due_later=True))
    with sessions.begin() as s:
        save_order_state(s, state, NOW)
    with sessions.begin() as s:
        loaded = load_order_state(s, orders.SOURCE, "o-1001")
    assert loaded.order.payment_due_later is True and loaded == state


def test_saving_again_updates_rather_than_duplicates(engine: Engine) -> None:
    sessions = session_factory(engine)
    state = merge_event(None, orders.placed())
    with sessions.begin() as s:
        save_order_state(s, state, NOW)
    later = merge_event(state, orders.shipped("e1", fulfilment_id="f-1", lines=(("L1", 1),)))
    later = merge_event(later, orders.shipped("e2", fulfilment_id="f-2", lines=(("L2", 3),)))
    with sessions.begin() as s:
        save_order_state(s, later, NOW)
    with sessions.begin() as s:
        loaded = load_order_state(s, orders.SOURCE, "o-1001")
    assert [f.external_id for f in loaded.fulfilments] == ["f-1", "f-2"]
    assert [li.line_id for li in loaded.order.line_items] == ["L1", "L2", "L3"]


def test_an_order_stored_meanwhile_by_another_drainer_is_not_overwritten(engine: Engine) -> None:
    """A drainer that read an order as absent must not write over the row another drainer
    stored in between: its merge never saw that drainer's event."""
    from aftercare.storage.order_records import OrderChangedMeanwhileError, save_order_states

    sessions = session_factory(engine)
    theirs = merge_event(merge_event(None, orders.placed()), orders.shipped())
    with sessions.begin() as s:
        save_order_state(s, theirs, NOW)
    ours = merge_event(None, orders.placed())
    key = (orders.SOURCE, "o-1001")
    with sessions.begin() as s:
        try:
            save_order_states(s.connection(), [ours], NOW, read={})  # read as absent
        except OrderChangedMeanwhileError as error:
            assert "o-1001" in str(error) and "retried" in str(error)
        else:
            raise AssertionError("an order stored meanwhile was overwritten")
    with sessions.begin() as s:
        assert load_order_state(s, *key) == theirs


def test_many_orders_and_customers_are_written_and_read_together(engine: Engine) -> None:
    from aftercare.storage.order_records import load_order_states, save_order_states

    sessions = session_factory(engine)
    states = []
    for i in range(30):
        placed = orders.placed(f"p{i}", external_id=f"order-{i}", number=f"#{1000 + i}")
        state = merge_event(None, placed)
        if i % 3 == 0:  # some with a parcel, all for the same customer
            state = merge_event(state, orders.shipped(f"s{i}", order_id=f"order-{i}"))
        states.append(state)
    keys = [(orders.SOURCE, f"order-{i}") for i in range(30)]
    with sessions.begin() as s:
        ids = save_order_states(s.connection(), states, NOW, read={})
    assert sorted(ids) == sorted(keys) and len(set(ids.values())) == 30
    with sessions.begin() as s:
        loaded = load_order_states(s.connection(), [*keys, (orders.SOURCE, "unknown")], lock=True)
        customers = s.scalar(select(func.count()).select_from(CustomerRow))
    assert loaded == dict(zip(keys, states, strict=True))
    assert customers == 1
    # Saving again replaces each order's parts instead of adding to them.
    with sessions.begin() as s:
        save_order_states(s.connection(), states, NOW)
    with sessions.begin() as s:
        assert load_order_states(s.connection(), keys) == dict(zip(keys, states, strict=True))


def test_an_order_updated_meanwhile_is_not_overwritten_but_one_read_as_is_saved(
    engine: Engine,
) -> None:
    from aftercare.storage.order_records import (
        OrderChangedMeanwhileError,
        read_orders,
        save_order_states,
    )

    sessions = session_factory(engine)
    key = (orders.SOURCE, "o-1001")
    placed = merge_event(None, orders.placed())
    with sessions.begin() as s:
        save_order_state(s, placed, NOW)
    with sessions.begin() as s:
        seen = read_orders(s.connection(), [key])
    shipped = merge_event(seen.states[key], orders.shipped())
    # Another drainer writes the order between our read and our write.
    with sessions.begin() as s:
        save_order_state(s, merge_event(placed, orders.refunded()), NOW)
    with sessions.begin() as s:
        try:
            save_order_states(s.connection(), [shipped], NOW, read=seen.revisions)
        except OrderChangedMeanwhileError:
            pass
        else:
            raise AssertionError("a concurrent update was overwritten")
    with sessions.begin() as s:
        fresh = read_orders(s.connection(), [key])
    assert [r.external_id for r in fresh.states[key].refunds] == ["r-1"]
    assert fresh.revisions[key] == seen.revisions[key] + 1
    # Merged from what is stored now, the save goes through.
    again = merge_event(fresh.states[key], orders.shipped())
    with sessions.begin() as s:
        save_order_states(s.connection(), [again], NOW, read=fresh.revisions)
    with sessions.begin() as s:
        final = read_orders(s.connection(), [key])
    assert final.states[key] == again and final.revisions[key] == fresh.revisions[key] + 1


def test_raw_bodies_are_zstandard_and_those_stored_as_zlib_before_still_read(
    engine: Engine,
) -> None:
    body = b'{"id": 820982911946154508, "note": "' + b"gift wrap " * 400 + b'"}'
    table = InboxEventRow.__table__
    common = {
        "source": "shopify",
        "kind": "delivery",
        "occurred_at": NOW,
        "received_at": NOW,
        "payload": {},
        "status": InboxStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": NOW,
    }
    with engine.begin() as connection:
        connection.execute(table.insert(), {**common, "source_event_id": "new", "raw_body": body})
        # What an earlier version stored: the column holds zlib bytes, written past the type.
        connection.execute(
            table.insert().values(raw_body=literal(zlib.compress(body, 1), LargeBinary)),
            {**common, "source_event_id": "old"},
        )
        stored = dict(
            connection.execute(
                select(table.c.source_event_id, type_coerce(table.c.raw_body, LargeBinary))
            ).all()
        )
    assert stored["new"][:4] == b"\x28\xb5\x2f\xfd"  # a Zstandard frame
    assert len(stored["new"]) < len(body) / 5
    assert zlib.decompress(stored["old"]) == body
    with Session(engine) as s:
        read = dict(s.execute(select(InboxEventRow.source_event_id, InboxEventRow.raw_body)).all())
    assert read == {"new": body, "old": body}
