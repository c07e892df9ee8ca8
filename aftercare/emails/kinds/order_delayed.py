"""The delay email: an apology, the honest reason, the new date and the customer's options.

Two events call for it: the store's (or the delay scan's) ``order_delayed``, one notice per
new promised date; and a carrier reporting a parcel delayed or undeliverable, one apology per
parcel and kind of trouble however often the carrier repeats it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aftercare.emails.email_kind import EmailKind, EmailKindSpec, KindFacts
from aftercare.emails.facts import (
    Reader,
    customer_link,
    required,
    requires_shipping,
    tracking_for,
)
from aftercare.enrichment.promises import promise_of
from aftercare.events import (
    DelayNotice,
    EventKind,
    Fulfilment,
    LineItem,
    OrderEvent,
    ShipmentStatus,
)
from aftercare.order_state import OrderState
from aftercare.settings import StoreFacts

# Carrier reports that call for a delay email (the drain attaches the store's DelayNotice).
CARRIER_TROUBLE = frozenset({ShipmentStatus.DELAYED, ShipmentStatus.FAILURE})


def idempotency_key(event: OrderEvent) -> str | None:
    source, order_id = event.source, event.order_id
    if event.kind is EventKind.ORDER_DELAYED:
        assert event.delay is not None  # the event model guarantees it
        # A second delay with a later date is news, a repeat of the same date is not.
        when = event.delay.new_estimated_delivery.isoformat()
        return f"{source}:order:{order_id}:delayed:{when}"
    update = event.shipment_update
    if event.kind is EventKind.SHIPMENT_UPDATED and update is not None:
        if update.status not in CARRIER_TROUBLE or event.delay is None:
            return None
        parcel = f"fulfilment:{update.fulfilment_id}"
        return f"{source}:order:{order_id}:{parcel}:carrier_{update.status.value}"
    return None


def stale_reason(event: OrderEvent, state: OrderState | None, now: datetime) -> str | None:
    """Why a delay notice processed late should no longer go out, or ``None``.

    A notice that the order has not shipped is wrong once it has; an apology for a parcel
    the carrier has since delivered is noise; a notice whose new date has passed promises
    something already broken (the next scan raises a fresh one).
    """
    if state is None:
        return None
    if state.order.cancelled_at is not None:
        return "the order was cancelled"
    update = event.shipment_update
    if update is not None:
        parcel = state.fulfilment(update.fulfilment_id)
        if parcel is not None and parcel.status == ShipmentStatus.DELIVERED.value:
            return "the parcel was delivered after the carrier reported the trouble"
        return None
    if any(f.created_at > event.occurred_at for f in state.fulfilments):
        return "the order shipped after this delay notice was raised"
    if event.delay is not None and event.delay.new_estimated_delivery < now.date():
        return "the new date this notice promised has passed"
    return None


def facts(given: KindFacts) -> dict[str, Any]:
    delay = required(given.event.delay, "delay", EmailKind.ORDER_DELAYED)
    if delay.coupon_code:
        # Kept with the email's record: which code this customer was given.
        given.notes.append(f"coupon {delay.coupon_code} given with this notice")
    latest = _latest_fulfilment(given.state)
    number = given.state.order.number.lstrip("#")
    return {
        "delay": _delay_facts(delay, given.state, given.store, given.reader),
        "tracking": tracking_for(latest, given.store, number) if latest else None,
    }


def _latest_fulfilment(state: OrderState) -> Fulfilment | None:
    return max(state.fulfilments, key=lambda f: f.created_at, default=None)


def _delay_facts(
    delay: DelayNotice, state: OrderState, store: StoreFacts, reader: Reader
) -> dict[str, Any]:
    order = state.order
    coupon = None
    if delay.coupon_code:
        coupon = {"code": delay.coupon_code, "description": delay.coupon_description}
    # Name the promise that was actually broken: an order still in the workshop missed its
    # ship-by date (its delivery date may not even have passed yet); a parcel on its way
    # missed its delivery date.
    already_shipped = bool(state.fulfilments)
    promise = promise_of(state, store) if requires_shipping(order) else None
    ship_by = promise.ship_by if promise else state.promised_ship_by
    deliver_by = promise.deliver_by if promise else state.promised_deliver_by
    broken = deliver_by if already_shipped else ship_by
    shippable = [item for item in order.line_items if item.requires_shipping]
    # Part of the order waits for stock: the customer may rather have the rest now.
    split = (
        not already_shipped
        and any(item.backordered for item in shippable)
        and any(not item.backordered for item in shippable)
    )
    options = {
        choice: customer_link(str(store.support_url), order, choice=choice)
        for choice in ("keep_waiting", "refund", "reship_faster")
    }
    options["ship_ready_now"] = (
        customer_link(str(store.support_url), order, choice="ship_ready_now") if split else None
    )
    return {
        "reason": delay.reason,
        "new_estimated_delivery": reader.day(delay.new_estimated_delivery),
        "previous_estimate": reader.day(broken) if broken else None,
        "what_we_will_do": delay.what_we_will_do,
        "coupon": coupon,
        "already_shipped": already_shipped,
        "options": options,
        "waiting_items": _waiting_titles(shippable, store) if split else [],
    }


def _waiting_titles(shippable: list[LineItem], store: StoreFacts) -> list[str]:
    """The items still waiting for stock, named in the "send what is ready now" choice;
    none when there are more than the store lists (``max_item_lines``): a sentence naming
    dozens of products is no longer a choice one can read, and the email lists the order."""
    waiting = [item.title for item in shippable if item.backordered]
    return waiting if len(waiting) <= store.max_item_lines else []


SPEC = EmailKindSpec(EmailKind.ORDER_DELAYED, idempotency_key, facts, stale_reason=stale_reason)
