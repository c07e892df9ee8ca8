"""Which emails an event calls for, and the key that makes each one send at most once."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aftercare.events import EventKind, OrderEvent, ShipmentStatus

# Carrier reports that call for a delay email (the pipeline attaches the store's DelayNotice).
CARRIER_TROUBLE = frozenset({ShipmentStatus.DELAYED, ShipmentStatus.FAILURE})


class EmailKind(StrEnum):
    WELCOME = "welcome"
    ORDER_CONFIRMATION = "order_confirmation"
    ORDER_SHIPPED = "order_shipped"
    ORDER_DELAYED = "order_delayed"
    ORDER_REFUNDED = "order_refunded"


@dataclass(frozen=True)
class PlannedEmail:
    """An email an event calls for, before rendering.

    ``idempotency_key`` names the logical message, not the delivery: Shopify's
    ``orders/create`` and ``orders/paid`` for one order, a webhook retried eight times, or
    the same event replayed after a crash all map to the same key, so the outbox's unique
    constraint lets exactly one of them through.
    """

    kind: EmailKind
    idempotency_key: str


def plan_emails(event: OrderEvent) -> list[PlannedEmail]:
    """The emails this event calls for (none for kinds that only update order state)."""
    source = event.source
    match event.kind:
        case EventKind.CUSTOMER_CREATED:
            assert event.customer is not None
            who = event.customer.external_id or event.source_event_id
            return [PlannedEmail(EmailKind.WELCOME, f"{source}:customer:{who}:welcome")]
        case EventKind.ORDER_PLACED:
            key = f"{source}:order:{event.order_id}:order_confirmation"
            return [PlannedEmail(EmailKind.ORDER_CONFIRMATION, key)]
        case EventKind.ORDER_SHIPPED:
            assert event.fulfilment is not None
            key = (
                f"{source}:order:{event.order_id}:fulfilment:{event.fulfilment.external_id}:shipped"
            )
            return [PlannedEmail(EmailKind.ORDER_SHIPPED, key)]
        case EventKind.ORDER_DELAYED:
            assert event.delay is not None
            # One notice per new promise: a second delay with a later date is news, a repeat
            # of the same date is not.
            when = event.delay.new_estimated_delivery.isoformat()
            key = f"{source}:order:{event.order_id}:delayed:{when}"
            return [PlannedEmail(EmailKind.ORDER_DELAYED, key)]
        case EventKind.ORDER_REFUNDED:
            assert event.refund is not None
            key = f"{source}:order:{event.order_id}:refund:{event.refund.external_id}:refunded"
            return [PlannedEmail(EmailKind.ORDER_REFUNDED, key)]
        case EventKind.SHIPMENT_UPDATED:
            update = event.shipment_update
            assert update is not None
            if update.status not in CARRIER_TROUBLE or event.delay is None:
                return []
            # One apology per parcel and kind of trouble, however often the carrier repeats it.
            key = (
                f"{source}:order:{event.order_id}:fulfilment:{update.fulfilment_id}"
                f":carrier_{update.status.value}"
            )
            return [PlannedEmail(EmailKind.ORDER_DELAYED, key)]
        case EventKind.ORDER_CANCELLED | EventKind.ORDER_UPDATED:
            return []
