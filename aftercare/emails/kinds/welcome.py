"""The welcome email: a new customer, what to expect from the store."""

from __future__ import annotations

from typing import Any

from aftercare.emails.email_kind import EmailKind, EmailKindSpec, KindFacts
from aftercare.events import EventKind, OrderEvent


def idempotency_key(event: OrderEvent) -> str | None:
    if event.kind is not EventKind.CUSTOMER_CREATED:
        return None
    assert event.customer is not None  # the event model guarantees it
    who = event.customer.external_id or event.source_event_id
    return f"{event.source}:customer:{who}:welcome"


def facts(_: KindFacts) -> dict[str, Any]:
    return {}  # the shared facts (store, shipping times) are the whole email


SPEC = EmailKindSpec(EmailKind.WELCOME, idempotency_key, facts, about_an_order=False)
