"""The shipped email: the tracking link, what is in this box, what is still to come."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Any

from aftercare.emails.email_kind import EmailKind, EmailKindSpec, KindFacts
from aftercare.emails.facts import (
    Reader,
    check_lines,
    destination_of,
    lines_of,
    listing,
    required,
    share_lines,
    tracking_for,
)
from aftercare.enrichment.promises import delivery_window
from aftercare.events import EventKind, Fulfilment, OrderEvent, ShipmentStatus
from aftercare.order_state import OrderState
from aftercare.settings import StoreFacts


def idempotency_key(event: OrderEvent) -> str | None:
    if event.kind is not EventKind.ORDER_SHIPPED:
        return None
    assert event.fulfilment is not None  # the event model guarantees it
    return (
        f"{event.source}:order:{event.order_id}:fulfilment:{event.fulfilment.external_id}:shipped"
    )


def facts(given: KindFacts) -> dict[str, Any]:
    fulfilment = required(given.event.fulfilment, "fulfilment", EmailKind.ORDER_SHIPPED)
    number = given.state.order.number.lstrip("#")
    shipment = _shipment_facts(fulfilment, given.state, given.store, given.reader, given.today)
    if shipment["deliver_by"] is None:
        given.notes.append("expected delivery date had passed: estimate left out")
    return {"shipment": shipment, "tracking": tracking_for(fulfilment, given.store, number)}


def stale_reason(event: OrderEvent, state: OrderState | None, now: datetime) -> str | None:
    """A "your order is on its way" email for a parcel the carrier already delivered says
    nothing the customer does not know; the delivered email (when there is one) does."""
    parcel = state.fulfilment(event.fulfilment.external_id) if state and event.fulfilment else None
    if parcel is not None and parcel.status == ShipmentStatus.DELIVERED.value:
        return "the parcel was delivered before this email could go out"
    return None


def _shipment_facts(
    fulfilment: Fulfilment, state: OrderState, store: StoreFacts, reader: Reader, today: date
) -> dict[str, Any]:
    """This parcel's contents, what is still to come, and when it should arrive.

    A fulfilment without an item list ships whatever no other parcel lists (the generic
    format allows it for one-parcel orders). Refunded quantities are not "still to
    come": they were cancelled, not delayed.
    """
    order = state.order
    others = [f for f in state.fulfilments if f.external_id != fulfilment.external_id]
    for parcel in (fulfilment, *others):
        check_lines(order, [i.line_id for i in parcel.items], f"fulfilment {parcel.external_id}")

    listed_elsewhere: Counter[str] = Counter()
    for parcel in others:
        for shipped in parcel.items:
            listed_elsewhere[shipped.line_id] += shipped.quantity
    shippable = [item for item in order.line_items if item.requires_shipping]

    if fulfilment.items:
        in_parcel: Counter[str] = Counter()
        for shipped in fulfilment.items:
            in_parcel[shipped.line_id] += shipped.quantity
    else:
        in_parcel = Counter(
            {item.line_id: item.quantity - listed_elsewhere[item.line_id] for item in shippable}
        )

    if not fulfilment.items or any(not parcel.items for parcel in others):
        outstanding: Counter[str] = Counter()
    else:
        refunded: Counter[str] = Counter()
        for refund in state.refunds:
            for item in refund.items:
                refunded[item.line_id] += item.quantity
        outstanding = Counter(
            {
                item.line_id: item.quantity
                - listed_elsewhere[item.line_id]
                - in_parcel[item.line_id]
                - refunded[item.line_id]
                for item in shippable
            }
        )

    parcel_lines = lines_of(order, in_parcel)
    to_come_lines = lines_of(order, outstanding)
    # A parcel of many items: both lists share the store's lines (``max_item_lines``).
    shown_in_parcel, shown_to_come = share_lines(
        store.max_item_lines, len(parcel_lines), len(to_come_lines)
    )

    shipped_on = reader.day_of(fulfilment.created_at)
    if fulfilment.estimated_delivery_at is not None:
        deliver_from = deliver_by = reader.day_of(fulfilment.estimated_delivery_at)
    else:
        deliver_from, deliver_by = delivery_window(shipped_on, store, destination_of(order))
    line_items, more_in_parcel = listing(parcel_lines, shown_in_parcel, reader)
    still_to_come, more_to_come = listing(to_come_lines, shown_to_come, reader)
    facts: dict[str, Any] = {
        "shipped_on": reader.day(shipped_on),
        "carrier": fulfilment.carrier,
        "line_items": line_items,
        "more_items": more_in_parcel,
        "still_to_come": still_to_come,
        "more_to_come": more_to_come,
        "is_partial": bool(still_to_come),
        "completes_order": not still_to_come and bool(others),
        # An estimate that has passed by the time the email goes out is left out: "if it
        # hasn't arrived by" a day already gone reads as a mistake, or a broken promise.
        "estimated_delivery": None,
        "deliver_by": None,
    }
    if deliver_by >= today:
        deliver_from = max(deliver_from, today)
        facts["estimated_delivery"] = (
            reader.days(deliver_from, deliver_by)
            if deliver_from != deliver_by
            else reader.day(deliver_by)
        )
        facts["deliver_by"] = reader.day(deliver_by)
    return facts


SPEC = EmailKindSpec(EmailKind.ORDER_SHIPPED, idempotency_key, facts, stale_reason=stale_reason)
