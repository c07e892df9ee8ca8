"""What Aftercare knows about one order, and how each event changes it.

Stores send events out of order and more than once; merging is a pure function so that
the rules (a fulfilment is added once, a later snapshot replaces an older one, a refund
before its shipment is still kept) are tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TypeVar

from aftercare.errors import OrderNotYetKnownError
from aftercare.events import (
    Customer,
    EventKind,
    Fulfilment,
    Order,
    OrderEvent,
    Refund,
    ShipmentUpdate,
    merged_consent,
)


@dataclass(frozen=True)
class OrderState:
    source: str
    order: Order
    customer: Customer
    fulfilments: tuple[Fulfilment, ...] = ()
    refunds: tuple[Refund, ...] = ()
    promised_ship_by: date | None = None
    promised_deliver_by: date | None = None
    updated_at: datetime | None = None
    # When the delay scan should look at this order next (``enrichment/delay_stages.py``);
    # ``None``: nothing about it can become late.
    delay_check_at: datetime | None = None

    def fulfilment(self, external_id: str) -> Fulfilment | None:
        return next((f for f in self.fulfilments if f.external_id == external_id), None)


_Part = TypeVar("_Part", Fulfilment, Refund)


def _upsert(items: tuple[_Part, ...], new: _Part) -> tuple[_Part, ...]:
    """``items`` with ``new`` in place of the item with its id, or appended."""
    if any(item.external_id == new.external_id for item in items):
        return tuple(new if item.external_id == new.external_id else item for item in items)
    return (*items, new)


def _apply_carrier_report(
    state: OrderState, update: ShipmentUpdate, event: OrderEvent
) -> OrderState:
    parcel = state.fulfilment(update.fulfilment_id)
    if parcel is None:
        raise OrderNotYetKnownError(
            f"carrier update {event.source_event_id} is for parcel {update.fulfilment_id} of "
            f"order {state.order.number}, which Aftercare has not received yet; it will be retried"
        )
    if parcel.status_at is not None and update.happened_at < parcel.status_at:
        return state  # an older report arriving late must not undo a newer one
    parcel = parcel.model_copy(
        update={
            "status": update.status.value,
            "status_at": update.happened_at,
            "estimated_delivery_at": update.estimated_delivery_at or parcel.estimated_delivery_at,
        }
    )
    return replace(state, fulfilments=_upsert(state.fulfilments, parcel))


def _newer(known: Customer, given: Customer) -> Customer:
    """``given`` (a newer snapshot of the order's customer), keeping the marketing consent
    known of the same customer when ``given`` says none (``events.merged_consent``)."""
    same = (
        known.external_id == given.external_id
        if known.external_id and given.external_id
        else known.email.lower() == given.email.lower()
    )
    if not same:
        return given
    consent = merged_consent(known.marketing_consent, given.marketing_consent)
    if consent == given.marketing_consent:
        return given
    return given.model_copy(update={"marketing_consent": consent})


def merge_event(state: OrderState | None, event: OrderEvent) -> OrderState | None:
    """The order state after ``event``; ``None`` for events that are not about an order.

    Raises ``OrderNotYetKnownError`` when an event needs an order snapshot that has not
    arrived yet (a shipment webhook that overtook its ``orders/create``), so the caller
    retries it later instead of sending an email with half the facts.
    """
    if event.kind is EventKind.CUSTOMER_CREATED:
        return state
    if event.order is not None:
        customer = event.customer or (state.customer if state else None)
        if customer is None:
            raise OrderNotYetKnownError(
                f"order {event.order.number} arrived without a customer and none is stored"
            )
        if state is None:
            state = OrderState(source=event.source, order=event.order, customer=customer)
        elif state.updated_at is None or event.occurred_at >= state.updated_at:
            state = replace(state, order=event.order, customer=_newer(state.customer, customer))
    if state is None:
        raise OrderNotYetKnownError(
            f"{event.kind.value} event {event.source_event_id} refers to order {event.order_id},"
            " which Aftercare has not received yet; it will be retried"
        )
    if event.fulfilment is not None:
        state = replace(state, fulfilments=_upsert(state.fulfilments, event.fulfilment))
    if event.refund is not None:
        state = replace(state, refunds=_upsert(state.refunds, event.refund))
    if event.shipment_update is not None:
        state = _apply_carrier_report(state, event.shipment_update, event)
    if event.kind is EventKind.ORDER_CANCELLED and state.order.cancelled_at is None:
        state = replace(
            state, order=state.order.model_copy(update={"cancelled_at": event.occurred_at})
        )
    if state.updated_at is None or event.occurred_at > state.updated_at:
        state = replace(state, updated_at=event.occurred_at)
    return state
