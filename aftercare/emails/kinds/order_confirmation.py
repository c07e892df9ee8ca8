"""The order confirmation: items, every cost, the address and when it ships."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aftercare.emails.email_kind import EmailKind, EmailKindSpec, KindFacts
from aftercare.events import EventKind, OrderEvent
from aftercare.order_state import OrderState


def idempotency_key(event: OrderEvent) -> str | None:
    if event.kind is not EventKind.ORDER_PLACED:
        return None
    return f"{event.source}:order:{event.order_id}:order_confirmation"


def stale_reason(event: OrderEvent, state: OrderState | None, now: datetime) -> str | None:
    """A paid snapshot that arrives after the order's cancellation (stores send events out
    of order) must not thank the customer for an order that is no longer happening."""
    if state is not None and state.order.cancelled_at is not None:
        return "the order was cancelled"
    return None


def facts(_: KindFacts) -> dict[str, Any]:
    return {}  # the order, its costs and the promise are shared by every order email


SPEC = EmailKindSpec(
    EmailKind.ORDER_CONFIRMATION, idempotency_key, facts, stale_reason=stale_reason
)
