"""The delivered email: one per parcel, however often the carrier repeats the scan; the rating
and the review request once per order, in the email of the delivery that completes it; none
for a cancelled, wholly refunded or digital order.

The facts and the planning are tested on plain data; the rest runs through the real
pipeline on SQLite and PostgreSQL, and once from Shopify's own ``fulfillment_events/create``
payload posted to the real receiver over HTTP.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import Pipeline, build_pipeline, drain, receive_event
from aftercare.emails import EmailKind, plan_emails
from aftercare.emails.context import build_context
from aftercare.emails.kinds import SPECS
from aftercare.emails.kinds.order_delivered import OLD_NEWS_AFTER
from aftercare.events import EventKind, OrderEvent, RefundItem, ShipmentStatus
from aftercare.order_state import OrderState
from aftercare.receiver import build_receiver
from aftercare.sample_store import orders
from aftercare.settings import Settings, StoreFacts
from aftercare.storage.database import session_factory
from aftercare.storage.schema import OutboxEmailRow, OutboxStatus
from tests import test_store_shopify as shopify
from tests.conftest import TEST_LINK_SECRET, Clock
from tests.webhook_server import running_receiver

DELIVERED_AT = orders.SHIPPED_AT + timedelta(days=2)
REVIEWS = "https://fernandfield.example/pages/reviews"


def _delivered(
    fulfilment_id: str = "f-1", event_id: str | None = None, at: datetime = DELIVERED_AT
) -> OrderEvent:
    return orders.carrier_report(
        event_id or f"evt-delivered-{fulfilment_id}",
        status=ShipmentStatus.DELIVERED,
        at=at,
        fulfilment_id=fulfilment_id,
        message="Left with your neighbour",
    )


def _cancelled(at: datetime) -> OrderEvent:
    return OrderEvent(
        kind=EventKind.ORDER_CANCELLED,
        source=orders.SOURCE,
        source_event_id="evt-cancelled",
        occurred_at=at,
        order_id="o-1001",
    )


def _two_parcels() -> tuple[OrderEvent, OrderEvent]:
    """The sample order in two parcels: the apron and a mug, then the wraps and a mug."""
    first = orders.shipped(fulfilment_id="f-1", lines=(("L1", 1), ("L3", 1)))
    second = orders.shipped(
        fulfilment_id="f-2", lines=(("L2", 3), ("L3", 1)), at=orders.SHIPPED_AT + timedelta(hours=3)
    )
    return first, second


def _facts(event: OrderEvent, state: OrderState, store: StoreFacts | None = None) -> dict:
    return build_context(
        EmailKind.ORDER_DELIVERED,
        event,
        state,
        store or StoreFacts(review_url=REVIEWS),
        event.occurred_at + timedelta(minutes=5),
    )


def _stale(event: OrderEvent, state: OrderState, now: datetime | None = None) -> str | None:
    spec = SPECS[EmailKind.ORDER_DELIVERED]
    return spec.stale_reason(event, state, now or event.occurred_at + timedelta(minutes=5))


# --- planning ------------------------------------------------------------------------------------


def test_a_delivered_scan_calls_for_one_delivered_email_per_parcel() -> None:
    (first,) = plan_emails(_delivered())
    again = plan_emails(_delivered(event_id="evt-delivered-again"))
    other = plan_emails(_delivered("f-2"))
    assert first.kind is EmailKind.ORDER_DELIVERED
    assert first.idempotency_key == "sample:order:o-1001:fulfilment:f-1:delivered"
    assert [p.idempotency_key for p in again] == [first.idempotency_key]
    assert [p.idempotency_key for p in other] != [first.idempotency_key]


@pytest.mark.parametrize(
    "status",
    [s for s in ShipmentStatus if s not in (ShipmentStatus.DELIVERED,)],
)
def test_no_other_carrier_status_calls_for_a_delivered_email(status: ShipmentStatus) -> None:
    report = orders.carrier_report(status=status)
    assert EmailKind.ORDER_DELIVERED not in [p.kind for p in plan_emails(report)]


def test_a_parcel_created_already_delivered_gets_the_same_delivered_email() -> None:
    fulfilment = orders.fulfilment(status="delivered", status_at=DELIVERED_AT)
    planned = plan_emails(orders.shipped(fulfilment=fulfilment))
    assert [p.kind for p in planned] == [EmailKind.ORDER_SHIPPED, EmailKind.ORDER_DELIVERED]
    assert planned[1].idempotency_key == plan_emails(_delivered())[0].idempotency_key
    # ...and the shipped email is stale at once: the parcel is already there.
    state = orders.state_after(orders.placed(), orders.shipped(fulfilment=fulfilment))
    assert SPECS[EmailKind.ORDER_SHIPPED].stale_reason(
        orders.shipped(fulfilment=fulfilment), state, DELIVERED_AT
    )


# --- facts ---------------------------------------------------------------------------------------


def test_a_one_parcel_order_asks_for_the_rating_and_the_review() -> None:
    placed, shipped, delivered = orders.placed(), orders.shipped(), _delivered()
    context = _facts(delivered, orders.state_after(placed, shipped, delivered))
    delivery = context["delivery"]
    assert delivery["completes_order"] and not delivery["is_partial"]
    assert delivery["asks_rating"] and delivery["review_url"] == REVIEWS
    assert delivery["delivered_on"] == "Friday, June 7, 2024"
    assert (
        delivery["carrier"] == "DHL" and delivery["carrier_message"] == "Left with your neighbour"
    )
    assert [i["title"] for i in delivery["line_items"]] == [
        "Linen apron",
        "Beeswax wraps",
        "Enamel mug",
    ]
    assert delivery["still_to_come"] == []
    assert set(context["rating"]) == {"good", "okay", "bad"}
    assert "rating=good" in context["rating"]["good"]
    assert context["tracking"]["carrier"] == "DHL"  # where DHL says it left the parcel


def test_without_a_review_page_there_is_no_review_line_but_still_the_rating() -> None:
    placed, shipped, delivered = orders.placed(), orders.shipped(), _delivered()
    context = _facts(delivered, orders.state_after(placed, shipped, delivered), StoreFacts())
    assert context["delivery"]["review_url"] is None
    assert context["rating"] is not None


def test_the_first_of_two_parcels_asks_nothing_and_the_last_asks_once() -> None:
    placed = orders.placed()
    first, second = _two_parcels()
    first_arrived = _delivered("f-1")
    second_arrived = _delivered("f-2", at=DELIVERED_AT + timedelta(days=1))
    notes: list[str] = []
    state = orders.state_after(placed, first, second, first_arrived)
    early = build_context(
        EmailKind.ORDER_DELIVERED, first_arrived, state, StoreFacts(), DELIVERED_AT, notes=notes
    )
    assert early["rating"] is None and early["delivery"]["review_url"] is None
    assert early["delivery"]["is_partial"] and not early["delivery"]["asks_rating"]
    assert [(i["title"], i["quantity"]) for i in early["delivery"]["still_to_come"]] == [
        ("Beeswax wraps", 3),
        ("Enamel mug", 1),
    ]
    assert "rating left out: part of the order is still to arrive" in notes

    late = _facts(
        second_arrived, orders.state_after(placed, first, second, first_arrived, second_arrived)
    )
    assert late["delivery"]["completes_order"] and late["delivery"]["several_parcels"]
    assert late["rating"] is not None and late["delivery"]["review_url"] == REVIEWS


def test_the_last_parcel_to_arrive_asks_whichever_was_shipped_last() -> None:
    placed = orders.placed()
    first, second = _two_parcels()
    second_arrived = _delivered("f-2")
    first_arrived = _delivered("f-1", at=DELIVERED_AT + timedelta(days=1))
    before = orders.state_after(placed, first, second, second_arrived)
    after = orders.state_after(placed, first, second, second_arrived, first_arrived)
    assert _facts(second_arrived, before)["rating"] is None
    assert _facts(first_arrived, after)["rating"] is not None


def test_a_delivered_parcel_with_items_not_shipped_yet_does_not_ask() -> None:
    placed = orders.placed()
    first, _ = _two_parcels()
    arrived = _delivered("f-1")
    context = _facts(arrived, orders.state_after(placed, first, arrived))
    assert context["rating"] is None
    assert [i["title"] for i in context["delivery"]["still_to_come"]] == [
        "Beeswax wraps",
        "Enamel mug",
    ]


def test_items_refunded_instead_of_shipped_are_not_waited_for() -> None:
    placed = orders.placed()
    first, _ = _two_parcels()
    # The wraps and the second mug were out of stock: refunded, never to ship.
    refund = orders.refunded(
        amount=Decimal("55.50"),
        items=(
            RefundItem(line_id="L2", quantity=3, amount=Decimal("37.50")),
            RefundItem(line_id="L3", quantity=1, amount=Decimal("18.00")),
        ),
    )
    arrived = _delivered("f-1")
    context = _facts(arrived, orders.state_after(placed, first, refund, arrived))
    assert context["delivery"]["completes_order"] and context["rating"] is not None


# --- when it is not sent -------------------------------------------------------------------------


def test_a_cancelled_order_gets_no_delivered_email() -> None:
    placed, shipped, delivered = orders.placed(), orders.shipped(), _delivered()
    cancelled = _cancelled(DELIVERED_AT - timedelta(hours=1))
    state = orders.state_after(placed, shipped, cancelled, delivered)
    assert _stale(delivered, state) == "the order was cancelled"


def test_an_order_refunded_in_full_gets_no_delivered_email() -> None:
    placed, shipped, delivered = orders.placed(), orders.shipped(), _delivered()
    assert placed.order is not None
    refund = orders.refunded(amount=placed.order.costs.total, items=())
    state = orders.state_after(placed, shipped, refund, delivered)
    assert _stale(delivered, state) == "the order was refunded in full"
    partial = orders.refunded()  # one mug: the rest is still theirs to enjoy
    assert _stale(delivered, orders.state_after(placed, shipped, partial, delivered)) is None


def _digital(order_event: OrderEvent, *line_ids: str) -> OrderEvent:
    assert order_event.order is not None
    items = tuple(
        item.model_copy(update={"requires_shipping": False})
        if not line_ids or item.line_id in line_ids
        else item
        for item in order_event.order.line_items
    )
    return order_event.model_copy(
        update={"order": order_event.order.model_copy(update={"line_items": items})}
    )


def test_a_digital_order_gets_no_delivered_email() -> None:
    placed, shipped, delivered = _digital(orders.placed()), orders.shipped(), _delivered()
    state = orders.state_after(placed, shipped, delivered)
    assert _stale(delivered, state) == "the order is digital only: no parcel to deliver"


def test_a_parcel_of_downloads_gets_none_and_is_not_waited_for() -> None:
    placed = _digital(orders.placed(), "L2")  # the wraps are now an e-book
    downloads = orders.shipped(fulfilment_id="f-dl", lines=(("L2", 3),))
    parcel = orders.shipped(fulfilment_id="f-1", lines=(("L1", 1), ("L3", 2)))
    arrived, downloaded = _delivered("f-1"), _delivered("f-dl")
    state = orders.state_after(placed, downloads, parcel, downloaded, arrived)
    assert _stale(downloaded, state) == "the parcel holds only digital items"
    context = _facts(arrived, state)
    assert context["delivery"]["completes_order"] and not context["delivery"]["several_parcels"]


def test_a_parcel_the_carrier_reports_on_the_move_again_gets_none() -> None:
    placed, shipped, delivered = orders.placed(), orders.shipped(), _delivered()
    returned = orders.carrier_report(
        "evt-failure", status=ShipmentStatus.FAILURE, at=DELIVERED_AT + timedelta(hours=2)
    )
    state = orders.state_after(placed, shipped, delivered, returned)
    assert _stale(delivered, state) == "the carrier reported the parcel failure after delivering it"


def test_a_delivery_scan_processed_more_than_a_week_late_is_old_news() -> None:
    placed, shipped, delivered = orders.placed(), orders.shipped(), _delivered()
    state = orders.state_after(placed, shipped, delivered)
    assert _stale(delivered, state, DELIVERED_AT + OLD_NEWS_AFTER - timedelta(hours=1)) is None
    assert "more than 7 days" in str(_stale(delivered, state, DELIVERED_AT + OLD_NEWS_AFTER * 2))


# --- through the pipeline, on SQLite and PostgreSQL ----------------------------------------------


@pytest.fixture
def pipeline(clocked_pipeline: Pipeline) -> Pipeline:
    return clocked_pipeline


def _rows(engine: Engine, kind: str = "order_delivered") -> list[OutboxEmailRow]:
    with Session(engine) as s:
        return list(
            s.scalars(
                select(OutboxEmailRow)
                .where(OutboxEmailRow.kind == kind)
                .order_by(OutboxEmailRow.id)
            )
        )


def _text(row: OutboxEmailRow) -> str:
    message = email.message_from_bytes(row.mime, policy=policy.default)
    html = message.get_body(("html",)).get_content()
    return message.get_body(("plain",)).get_content() + "\n" + re.sub(r"<[^>]+>", " ", html)


def _drain_at(pipeline: Pipeline, clock: Clock, at: datetime, *events: OrderEvent) -> None:
    for event in events:
        receive_event(pipeline, event)
    clock.now = at
    drain(pipeline)


def test_a_parcel_scanned_delivered_twice_gets_one_email(
    pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    _drain_at(
        pipeline, clock, orders.SHIPPED_AT + timedelta(minutes=5), orders.placed(), orders.shipped()
    )
    _drain_at(pipeline, clock, DELIVERED_AT + timedelta(minutes=5), _delivered())
    # The same scan again, as fulfillments/update and fulfillment_events/create both say it.
    again = _delivered(event_id="evt-delivered-again", at=DELIVERED_AT + timedelta(minutes=1))
    _drain_at(pipeline, clock, DELIVERED_AT + timedelta(minutes=10), again)
    (row,) = _rows(engine)
    assert row.status == OutboxStatus.SENT
    assert row.subject == "Your order #1001 has arrived"
    text = _text(row)
    assert "was delivered on Friday, June 7, 2024 by DHL" in text
    assert "rating=good" in text and "How did we do with your order?" in text
    assert "Free returns within 30 days of delivery" in text


def test_two_parcels_two_emails_and_only_the_second_asks_for_the_rating(
    pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    first, second = _two_parcels()
    _drain_at(
        pipeline, clock, orders.SHIPPED_AT + timedelta(hours=4), orders.placed(), first, second
    )
    _drain_at(pipeline, clock, DELIVERED_AT + timedelta(minutes=5), _delivered("f-1"))
    later = DELIVERED_AT + timedelta(days=1)
    _drain_at(pipeline, clock, later + timedelta(minutes=5), _delivered("f-2", at=later))
    early, last = _rows(engine)
    assert [r.status for r in (early, last)] == [OutboxStatus.SENT, OutboxStatus.SENT]
    assert early.subject == "Part of your order #1001 has arrived"
    assert "rating=" not in _text(early) and "Still on its way" in _text(early)
    assert "rating left out: part of the order is still to arrive" in early.explanation["notes"]
    assert last.subject == "Your order #1001 has arrived"
    assert "rating=good" in _text(last) and "The last parcel of your order #1001" in _text(last)


def test_two_parcels_scanned_in_one_group_still_ask_once(
    pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    first, second = _two_parcels()
    later = DELIVERED_AT + timedelta(hours=2)
    _drain_at(
        pipeline, clock, orders.SHIPPED_AT + timedelta(hours=4), orders.placed(), first, second
    )
    _drain_at(pipeline, clock, later, _delivered("f-1"), _delivered("f-2", at=later))
    asked = ["rating=" in _text(r) for r in _rows(engine)]
    assert asked == [False, True]


def test_a_cancelled_order_is_skipped_as_stale(
    pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    cancelled = _cancelled(orders.SHIPPED_AT + timedelta(hours=1))
    _drain_at(
        pipeline, clock, orders.SHIPPED_AT + timedelta(minutes=5), orders.placed(), orders.shipped()
    )
    _drain_at(pipeline, clock, DELIVERED_AT + timedelta(minutes=5), cancelled, _delivered())
    (row,) = _rows(engine)
    assert row.status == OutboxStatus.SKIPPED and row.mime == b""
    assert row.explanation["notes"] == ["not sent: the order was cancelled"]


def test_a_digital_order_gets_none(pipeline: Pipeline, engine: Engine, clock: Clock) -> None:
    placed = _digital(orders.placed())
    _drain_at(pipeline, clock, orders.SHIPPED_AT + timedelta(minutes=5), placed, orders.shipped())
    _drain_at(pipeline, clock, DELIVERED_AT + timedelta(minutes=5), _delivered())
    (row,) = _rows(engine)
    assert row.status == OutboxStatus.SKIPPED
    assert not [p for p in pipeline.settings.outbox_dir.glob("order_delivered*.eml")]


# --- from Shopify's own payloads, over HTTP ------------------------------------------------------


@pytest.fixture
def shopify_pipeline(database_url: str, engine: Engine, tmp_path: Path) -> Pipeline:
    settings = Settings(
        database_url=database_url,
        outbox_dir=tmp_path / "outbox",
        shopify={"webhook_secret": SecretStr(shopify.SECRET)},
        store=StoreFacts(default_currency="USD", review_url=REVIEWS),  # the sample shop's
        link_secret=SecretStr(TEST_LINK_SECRET),
        _env_file=None,
    )
    # The real clock: the receiver stamps deliveries with the time they arrive.
    return replace(build_pipeline(settings), sessions=session_factory(engine))


@pytest.fixture
def url(shopify_pipeline: Pipeline) -> Iterator[str]:
    receiver = build_receiver(shopify_pipeline.settings, nudge=lambda: None)
    try:
        with running_receiver(receiver) as base:
            yield base
    finally:
        receiver.writer.close()


def _post(url: str, topic: str, body: dict[str, Any], event_id: str, at: str) -> None:
    signed = shopify.delivery(body, topic, x_shopify_event_id=event_id, x_shopify_triggered_at=at)
    headers = {name: value for name, value in signed.headers.items() if name != "host"}
    answer = httpx.post(f"{url}/webhooks/shopify", content=signed.body, headers=headers)
    assert answer.status_code == 200, answer.text


def test_shopifys_delivered_fulfillment_event_sends_the_delivered_email_once(
    url: str, shopify_pipeline: Pipeline, engine: Engine
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    paid, shipped, scanned = (
        (now - ago).isoformat()
        for ago in (timedelta(days=3), timedelta(days=2), timedelta(hours=1))
    )
    order = shopify.open_order("paid")
    fulfilment = shopify.sample("fulfillments_create") | {
        "status": "success",
        "created_at": shipped,
        "updated_at": shipped,
    }
    scan = shopify.sample("fulfillment_events_create") | {
        "status": "delivered",
        "message": "Delivered, left at front door",
        "happened_at": scanned,
        "created_at": scanned,
        "updated_at": scanned,
    }
    assert scan["fulfillment_id"] == fulfilment["id"] and scan["order_id"] == order["id"]
    _post(url, "orders/paid", order, "e-paid", paid)
    _post(url, "fulfillments/create", fulfilment, "e-shipped", shipped)
    drain(shopify_pipeline)
    _post(url, "fulfillment_events/create", scan, "e-scan", scanned)
    drain(shopify_pipeline)
    # Shopify also updates the fulfilment itself: the same delivery, no second email.
    update = fulfilment | {"shipment_status": "delivered", "updated_at": scanned}
    _post(url, "fulfillments/update", update, "e-update", scanned)
    drain(shopify_pipeline)

    (row,) = _rows(engine)
    assert row.status == OutboxStatus.SENT
    assert (
        row.idempotency_key
        == f"shopify:order:{order['id']}:fulfilment:{fulfilment['id']}:delivered"
    )
    text = _text(row)
    assert f"Your order #{order['name'].lstrip('#')} was delivered on" in text and "by UPS" in text
    assert "UPS noted: Delivered, left at front door" in text
    assert "rating=good" in text and REVIEWS in text
    assert [r.status for r in _rows(engine, "order_shipped")] == [OutboxStatus.SENT]


def _asked(engine: Engine, kind: str) -> list[bool]:
    with Session(engine) as s:
        rows = s.scalars(select(OutboxEmailRow).where(OutboxEmailRow.kind == kind))
        return [bool(row.explanation.get("asked_rating")) for row in rows]


def test_the_rating_is_asked_once_per_order_whichever_email_comes_first(
    clocked_pipeline: Pipeline, engine: Engine, clock: Clock
) -> None:
    """Delivered, then a partial refund: the delivery asked, the refund does not."""
    clock.now = DELIVERED_AT + timedelta(hours=1)
    for event in (orders.placed(), orders.shipped(), _delivered()):
        receive_event(clocked_pipeline, event)
    drain(clocked_pipeline)
    clock.now = orders.REFUNDED_AT + timedelta(minutes=5)
    receive_event(clocked_pipeline, orders.refunded())
    drain(clocked_pipeline)
    assert _asked(engine, "order_delivered") == [True]
    assert _asked(engine, "order_refunded") == [False]
    with Session(engine) as s:
        refund = s.scalars(
            select(OutboxEmailRow).where(OutboxEmailRow.kind == "order_refunded")
        ).one()
    assert "rating left out: an earlier email of the order asked" in refund.explanation["notes"]
    html = email.message_from_bytes(refund.mime, policy=policy.default).get_body(("html",))
    assert "How did we do?" not in html.get_content()
