"""The delivered email: it arrived, what to do if something is wrong, and how did we do?

The carrier (or the store) reports a parcel delivered: Shopify's ``fulfillment_events/create``
or ``fulfillments/update`` with the status ``delivered`` (``picked_up`` at a pickup point
counts too), or a fulfilment created already delivered. One email per parcel, however often
the carrier repeats the scan.

The customer is asked to rate the order, and invited to review it, once per order: in the
email of the delivery that completes it, when nothing else is still on its way or still to
ship. A first parcel's email does not ask (half an order is not the order to rate); the
last one's does, whichever order the carrier's scans arrive in, because each email is
composed with the order as it stands after its own scan. Never in the confirmation.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aftercare.emails.email_kind import EmailKind, EmailKindSpec, KindFacts
from aftercare.emails.facts import (
    check_lines,
    https_or_none,
    lines_of,
    listing,
    rating_links,
    requires_shipping,
    share_lines,
    tracking_for,
)
from aftercare.errors import InvalidEventError
from aftercare.events import EventKind, Fulfilment, OrderEvent, ShipmentStatus
from aftercare.order_state import OrderState

_DELIVERED = ShipmentStatus.DELIVERED.value

# "It arrived" is news for a few days; a scan processed later than this (a stalled drain,
# an operator's replay) tells the customer nothing they did not know a week ago, and its
# rating request would arrive after they have long made up their mind.
OLD_NEWS_AFTER = timedelta(days=7)


def _delivered_parcel(event: OrderEvent) -> tuple[str, datetime, str | None] | None:
    """The parcel ``event`` reports delivered, when, and the carrier's words; else ``None``."""
    update = event.shipment_update
    if event.kind is EventKind.SHIPMENT_UPDATED and update is not None:
        if update.status is not ShipmentStatus.DELIVERED:
            return None
        return update.fulfilment_id, update.happened_at, update.message
    fulfilment = event.fulfilment
    if event.kind is EventKind.ORDER_SHIPPED and fulfilment is not None:
        # Local delivery, or a store marking a parcel delivered when it creates it: the
        # shipped email is stale at once (``order_shipped.stale_reason``), this one is not.
        if fulfilment.status != _DELIVERED:
            return None
        return fulfilment.external_id, fulfilment.status_at or fulfilment.created_at, None
    return None


def idempotency_key(event: OrderEvent) -> str | None:
    delivered = _delivered_parcel(event)
    if delivered is None:
        return None
    parcel = f"fulfilment:{delivered[0]}"
    return f"{event.source}:order:{event.order_id}:{parcel}:delivered"


def stale_reason(event: OrderEvent, state: OrderState | None, now: datetime) -> str | None:
    """Why a delivered email should not go out, given the order as it is now, or ``None``.

    A cancelled or wholly refunded order has nothing left to enjoy or rate; a digital order
    (or a parcel of downloads) was never in a carrier's hands; a parcel the carrier has
    reported on the move since (returned to sender, a failed hand-over) has not arrived.
    """
    delivered = _delivered_parcel(event)
    if state is None or delivered is None:
        return None
    parcel_id, delivered_at, _ = delivered
    order = state.order
    if order.cancelled_at is not None:
        return "the order was cancelled"
    if state.refunds and sum((r.amount for r in state.refunds), Decimal(0)) >= order.costs.total:
        return "the order was refunded in full"
    if not requires_shipping(order):
        return "the order is digital only: no parcel to deliver"
    parcel = state.fulfilment(parcel_id)
    if parcel is not None and not _travels(parcel, state):
        return "the parcel holds only digital items"
    if (
        parcel is not None
        and parcel.status not in (None, _DELIVERED)
        and parcel.status_at is not None
        and parcel.status_at > delivered_at
    ):
        return f"the carrier reported the parcel {parcel.status} after delivering it"
    if now - delivered_at > OLD_NEWS_AFTER:
        return f"the parcel was delivered more than {OLD_NEWS_AFTER.days} days before"
    return None


def facts(given: KindFacts) -> dict[str, Any]:
    delivered = _delivered_parcel(given.event)
    if delivered is None:
        raise InvalidEventError("an order_delivered email needs a delivered parcel")
    parcel_id, delivered_at, message = delivered
    state = given.state
    parcel = state.fulfilment(parcel_id) or given.event.fulfilment
    if parcel is None:
        raise InvalidEventError(
            f"an order_delivered email for parcel {parcel_id} needs the parcel, which order"
            f" {state.order.number} does not hold"
        )
    reader = given.reader
    order = state.order
    in_parcel, still_to_come, parcels_on_the_way = _what_has_arrived(parcel, state)

    arrived_lines = lines_of(order, in_parcel)
    to_come_lines = lines_of(order, still_to_come)
    # A parcel of many items: both lists share the store's lines (``max_item_lines``).
    shown_arrived, shown_to_come = share_lines(
        given.store.max_item_lines, len(arrived_lines), len(to_come_lines)
    )
    line_items, more_arrived = listing(arrived_lines, shown_arrived, reader)
    to_come, more_to_come = listing(to_come_lines, shown_to_come, reader)

    completes_order = not still_to_come and not parcels_on_the_way
    travelling = [f for f in state.fulfilments if _travels(f, state)]
    asks_rating = completes_order
    if not asks_rating:
        # Kept with the email's record: the rating waits for the last parcel.
        given.notes.append("rating left out: part of the order is still to arrive")
    review_url = https_or_none(str(given.store.review_url)) if given.store.review_url else None
    number = order.number.lstrip("#")
    return {
        "delivery": {
            "delivered_on": reader.day(reader.day_of(delivered_at)),
            "carrier": parcel.carrier,
            # The carrier's own words ("Left with your neighbour at no. 12"), when it sent any.
            "carrier_message": message,
            "line_items": line_items,
            "more_items": more_arrived,
            "still_to_come": to_come,
            "more_to_come": more_to_come,
            "is_partial": not completes_order,
            "completes_order": completes_order,
            "several_parcels": len(travelling) > 1,
            "asks_rating": asks_rating,
            "review_url": review_url if asks_rating else None,
        },
        # The shared rating links (``facts.rating_links``), only in the email that asks.
        "rating": rating_links(given.store, order) if asks_rating else None,
        # Where the carrier says it left the parcel: the first place to look when it is
        # marked delivered but not found.
        "tracking": tracking_for(parcel, given.store, number),
    }


def _travels(parcel: Fulfilment, state: OrderState) -> bool:
    """Whether ``parcel`` holds something a carrier carries (a parcel without an item list
    carries the order's shippable items)."""
    if not parcel.items:
        return True
    shippable = {item.line_id for item in state.order.line_items if item.requires_shipping}
    return any(shipped.line_id in shippable for shipped in parcel.items)


def _what_has_arrived(
    parcel: Fulfilment, state: OrderState
) -> tuple[Counter[str], Counter[str], int]:
    """What is in this parcel, what of the order has not arrived yet (listed by line), and
    how many other parcels are still on their way.

    A parcel is on its way until it is reported delivered; what no parcel lists and was not
    refunded is still to ship. A parcel without an item list (the generic format allows it
    for one-parcel orders) carries whatever no other parcel lists, so nothing is counted
    as still to ship beside it.
    """
    order = state.order
    others = [
        f for f in state.fulfilments if f.external_id != parcel.external_id and _travels(f, state)
    ]
    for each in (parcel, *others):
        check_lines(order, [i.line_id for i in each.items], f"fulfilment {each.external_id}")
    shippable = [item for item in order.line_items if item.requires_shipping]

    listed_elsewhere: Counter[str] = Counter()
    on_the_way: Counter[str] = Counter()
    for other in others:
        for shipped in other.items:
            listed_elsewhere[shipped.line_id] += shipped.quantity
            if other.status != _DELIVERED:
                on_the_way[shipped.line_id] += shipped.quantity
    if parcel.items:
        in_parcel: Counter[str] = Counter()
        for shipped in parcel.items:
            in_parcel[shipped.line_id] += shipped.quantity
    else:
        in_parcel = Counter(
            {item.line_id: item.quantity - listed_elsewhere[item.line_id] for item in shippable}
        )

    to_ship: Counter[str] = Counter()
    if parcel.items and all(other.items for other in others):
        refunded: Counter[str] = Counter()
        for refund in state.refunds:
            for item in refund.items:
                refunded[item.line_id] += item.quantity
        to_ship = Counter(
            {
                item.line_id: item.quantity
                - listed_elsewhere[item.line_id]
                - in_parcel[item.line_id]
                - refunded[item.line_id]
                for item in shippable
            }
        )
    still_to_come = +(on_the_way + +to_ship)
    parcels_on_the_way = sum(1 for other in others if other.status != _DELIVERED)
    return +in_parcel, still_to_come, parcels_on_the_way


SPEC = EmailKindSpec(EmailKind.ORDER_DELIVERED, idempotency_key, facts, stale_reason=stale_reason)
