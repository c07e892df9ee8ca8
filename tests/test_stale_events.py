"""Events arrive or are processed late — a stalled drain, a backlog, Shopify retrying for
four hours, an operator's replay — and an email sent late must still be true when it is
read: no deadline or estimate already gone, no "on its way" for a parcel already delivered,
no "not shipped yet" for an order since shipped. What was left out, or why an email was not
sent, is in the email's record."""

from __future__ import annotations

import email
import re
from datetime import date, datetime, timedelta
from email import policy

import pytest
from babel.dates import format_date
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import drain, receive_event
from aftercare.events import ShipmentStatus
from aftercare.sample_store import orders
from aftercare.storage import outbox
from aftercare.storage.schema import OutboxEmailRow, OutboxStatus
from tests.conftest import Clock


@pytest.fixture
def pipeline(clocked_pipeline):  # noqa: ANN001, ANN201
    return clocked_pipeline


def _drained_at(pipeline, engine: Engine, clock, at: datetime, *events) -> dict:  # noqa: ANN001
    """Receive ``events``, drain them at ``at``: the emails by kind."""
    for event in events:
        receive_event(pipeline, event)
    clock.now = at
    drain(pipeline)
    return _emails(engine)


def _emails(engine: Engine) -> dict[str, OutboxEmailRow]:
    with Session(engine) as s:
        return {r.kind: r for r in s.scalars(select(OutboxEmailRow).order_by(OutboxEmailRow.id))}


def _text(row: OutboxEmailRow) -> str:
    message = email.message_from_bytes(row.mime, policy=policy.default)
    html = message.get_body(("html",)).get_content()
    return message.get_body(("plain",)).get_content() + "\n" + re.sub(r"<[^>]+>", " ", html)


def _days_named(text: str) -> list[date]:
    """Every full English date the email names ("Friday, June 7, 2024")."""
    found = re.findall(r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, (\w+) (\d+), (\d{4})", text)
    return [datetime.strptime(f"{m} {d} {y}", "%B %d %Y").date() for m, d, y in found]


def test_a_confirmation_processed_days_late_promises_dates_from_now(
    pipeline,
    engine: Engine,
    clock: Clock,  # noqa: ANN001
) -> None:
    receive_event(pipeline, orders.placed())
    clock.now = orders.PLACED_AT + timedelta(days=9)  # the drain was stalled for nine days
    drain(pipeline)
    confirmation = _emails(engine)["order_confirmation"]
    named = _days_named(_text(confirmation))
    assert named, "a late confirmation still says when the order ships"
    assert min(named) >= clock.now.date()  # "reply before" a day that is gone never appears
    assert any("hours after the event" in n for n in confirmation.explanation["notes"])


def test_a_confirmation_replayed_after_its_promise_passed_leaves_the_promise_out(
    pipeline,
    engine: Engine,
    clock: Clock,  # noqa: ANN001
) -> None:
    receive_event(pipeline, orders.welcome())
    receive_event(pipeline, orders.placed())
    drain(pipeline)  # the promise is stored with the order: ships by Friday 7 June
    with pipeline.sessions.begin() as s:
        key = _emails(engine)["order_confirmation"].idempotency_key
        s.execute(OutboxEmailRow.__table__.delete().where(OutboxEmailRow.idempotency_key == key))
    receive_event(pipeline, orders.placed("evt-placed-replayed"))  # an operator's replay
    clock.now = datetime(2024, 6, 14, 9, 0, tzinfo=orders.PLACED_AT.tzinfo)
    drain(pipeline)
    confirmation = _emails(engine)["order_confirmation"]
    text = _text(confirmation)
    assert format_date(date(2024, 6, 7), "full", locale="en") not in text
    assert "before we ship" in text  # the sentence still reads right without the date
    assert all(day >= clock.now.date() for day in _days_named(text) if day.year == 2024)
    assert any("ship-by date" in n for n in confirmation.explanation["notes"])


def test_a_shipped_email_for_a_parcel_already_delivered_is_not_sent(
    pipeline,
    engine: Engine,
    clock: Clock,  # noqa: ANN001
) -> None:
    receive_event(pipeline, orders.placed())
    drain(pipeline)
    # The shipment and the carrier's delivery scan are drained together, hours late.
    receive_event(pipeline, orders.shipped())
    receive_event(pipeline, orders.carrier_report(status=ShipmentStatus.DELIVERED, message=None))
    clock.now = orders.CARRIER_REPORTED_AT + timedelta(hours=1)
    report = drain(pipeline)
    shipped = _emails(engine)["order_shipped"]
    assert shipped.status == OutboxStatus.SKIPPED and shipped.mime == b""
    assert shipped.explanation["notes"] == [
        "not sent: the parcel was delivered before this email could go out"
    ]
    # The delivered email says what the customer needs to know now.
    assert report.send.sent == 1 and _emails(engine)["order_delivered"].status == OutboxStatus.SENT
    files = sorted(p.name for p in pipeline.settings.outbox_dir.glob("*.eml"))
    assert sorted(f.split("-")[0] for f in files) == ["order_confirmation", "order_delivered"]
    with pipeline.sessions.begin() as s:  # skipped is final: an operator's retry refuses it
        assert not outbox.requeue(s, shipped.id, clock.now)


def test_a_delay_notice_for_an_order_that_has_since_shipped_is_dropped(
    pipeline,
    engine: Engine,
    clock: Clock,  # noqa: ANN001
) -> None:
    receive_event(pipeline, orders.placed())
    drain(pipeline)
    # The delay scan raised a notice on Monday; the parcel left on Tuesday; both are
    # processed after a stall.
    raised = orders.DELAYED_AT
    receive_event(pipeline, orders.delayed(at=raised))
    receive_event(pipeline, orders.shipped(at=raised + timedelta(days=1)))
    clock.now = raised + timedelta(days=1, hours=2)
    drain(pipeline)
    emails = _emails(engine)
    assert emails["order_delayed"].status == OutboxStatus.SKIPPED
    assert "shipped after this delay notice" in emails["order_delayed"].explanation["notes"][0]
    assert emails["order_shipped"].status == OutboxStatus.SENT


def test_a_delay_notice_whose_new_date_has_passed_is_dropped(
    pipeline,
    engine: Engine,
    clock: Clock,  # noqa: ANN001
) -> None:
    after_the_new_date = datetime(2024, 6, 24, 8, 0, tzinfo=orders.PLACED_AT.tzinfo)
    emails = _drained_at(
        pipeline, engine, clock, after_the_new_date, orders.placed(), orders.delayed()
    )  # the notice's new date: Friday 21 June
    delayed = emails["order_delayed"]
    assert delayed.status == OutboxStatus.SKIPPED
    assert "the new date this notice promised has passed" in delayed.explanation["notes"][0]


def test_an_apology_for_a_parcel_the_carrier_has_since_delivered_is_dropped(
    pipeline,
    engine: Engine,
    clock: Clock,  # noqa: ANN001
) -> None:
    receive_event(pipeline, orders.placed())
    receive_event(pipeline, orders.shipped())
    drain(pipeline)
    receive_event(pipeline, orders.carrier_report())  # delayed at the hub …
    receive_event(
        pipeline,
        orders.carrier_report(
            "evt-delivered",
            status=ShipmentStatus.DELIVERED,
            at=orders.CARRIER_REPORTED_AT + timedelta(hours=5),
            message=None,
        ),
    )  # … and delivered the same afternoon, before the drain got to either
    clock.now = orders.CARRIER_REPORTED_AT + timedelta(hours=6)
    drain(pipeline)
    assert _emails(engine)["order_delayed"].status == OutboxStatus.SKIPPED


def test_a_shipped_email_sent_after_its_estimate_leaves_the_estimate_out(
    pipeline,
    engine: Engine,
    clock: Clock,  # noqa: ANN001
) -> None:
    emails = _drained_at(
        pipeline,
        engine,
        clock,
        orders.SHIPPED_AT + timedelta(days=12),
        orders.placed(),
        orders.shipped(),
    )
    shipped = emails["order_shipped"]
    assert shipped.status == OutboxStatus.SENT
    text = _text(shipped)
    assert "If it hasn't arrived by" not in text and "hasn't reached you yet" in text
    assert "Expected delivery" not in text
    assert "expected delivery date had passed: estimate left out" in shipped.explanation["notes"]


def test_a_refund_email_sent_after_its_statement_days_says_it_should_show_already(
    pipeline,
    engine: Engine,
    clock: Clock,  # noqa: ANN001
) -> None:
    emails = _drained_at(
        pipeline,
        engine,
        clock,
        orders.REFUNDED_AT + timedelta(days=30),
        orders.placed(),
        orders.refunded(),
    )
    refund = emails["order_refunded"]
    text = _text(refund)
    assert "should already show on your statement" in text
    assert not [d for d in _days_named(text) if d > orders.REFUNDED_AT.date()]


def test_on_time_emails_keep_every_date(pipeline, engine: Engine, clock: Clock) -> None:  # noqa: ANN001
    receive_event(pipeline, orders.placed())
    drain(pipeline)
    confirmation = _emails(engine)["order_confirmation"]
    assert format_date(date(2024, 6, 7), "full", locale="en") in _text(confirmation)
    assert confirmation.explanation["notes"] == []


def test_a_paid_snapshot_that_arrives_after_the_cancellation_sends_no_confirmation(
    pipeline,
    engine: Engine,
    clock: Clock,  # noqa: ANN001
) -> None:
    from aftercare.events import EventKind, OrderEvent

    cancelled = OrderEvent(
        kind=EventKind.ORDER_CANCELLED,
        source=orders.SOURCE,
        source_event_id="evt-cancelled",
        order_id="o-1001",
        occurred_at=orders.PLACED_AT + timedelta(hours=2),
        order=orders.order(cancelled_at=orders.PLACED_AT + timedelta(hours=2)),
        customer=orders.customer(),
    )
    # The store's "paid" snapshot from before the cancellation arrives after it.
    emails = _drained_at(
        pipeline, engine, clock, orders.PLACED_AT + timedelta(hours=3), cancelled, orders.placed()
    )
    confirmation = emails["order_confirmation"]
    assert confirmation.status == OutboxStatus.SKIPPED
    assert confirmation.explanation["notes"] == ["not sent: the order was cancelled"]
