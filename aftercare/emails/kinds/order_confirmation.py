"""The order confirmation: items, every cost, the address and when it ships."""

from __future__ import annotations

from typing import Any

from aftercare.emails.email_kind import EmailKind, EmailKindSpec, KindFacts
from aftercare.events import EventKind, OrderEvent


def idempotency_key(event: OrderEvent) -> str | None:
    if event.kind is not EventKind.ORDER_PLACED:
        return None
    return f"{event.source}:order:{event.order_id}:order_confirmation"


def facts(_: KindFacts) -> dict[str, Any]:
    return {}  # the order, its costs and the promise are shared by every order email


SPEC = EmailKindSpec(EmailKind.ORDER_CONFIRMATION, idempotency_key, facts)
