"""What an email kind is: its name, when an event calls for it, and what it says.

Each kind is one module in ``emails/kinds/`` that builds one ``EmailKindSpec``; the
registry (``emails/kinds/__init__.py``) lists them. Nothing else branches on the kind:
planning, the context and the template names all go through the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from aftercare.events import OrderEvent
from aftercare.order_state import OrderState
from aftercare.settings import StoreFacts


class EmailKind(StrEnum):
    """The emails Aftercare sends; each value is also its templates' base name."""

    WELCOME = "welcome"
    ORDER_CONFIRMATION = "order_confirmation"
    ORDER_SHIPPED = "order_shipped"
    ORDER_DELAYED = "order_delayed"
    ORDER_REFUNDED = "order_refunded"
    ORDER_DELIVERED = "order_delivered"


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


@dataclass(frozen=True)
class KindFacts:
    """What a kind's own facts are built from (the shared ones are already in the context)."""

    event: OrderEvent
    state: OrderState
    store: StoreFacts
    # The customer's locale and time zone, and how to format for them (``facts.Reader``).
    reader: Any
    # The day the email goes out, where the customer is: no date before it is ever shown.
    today: date
    # What was left out because it had passed, for the sent email's record.
    notes: list[str] = field(default_factory=list)


def never_stale(event: OrderEvent, state: OrderState | None, now: datetime) -> str | None:
    return None


@dataclass(frozen=True)
class EmailKindSpec:
    """One email kind, whole.

    ``idempotency_key`` returns the key of the email ``event`` calls for, or ``None`` when
    it calls for none of this kind. ``facts`` returns the context keys this kind fills
    (``shipment``, ``delay``, …) beyond the ones every email has; a date that has passed by
    the time the email goes out is left out (and noted in ``KindFacts.notes``), never shown.
    ``stale_reason`` says why an email the event called for should no longer be sent, given
    the order as it is now (a shipped email for a parcel already delivered), or ``None``.
    ``about_an_order`` is False for emails about a customer alone (welcome): they get no
    order, promise or rating.

    Events arrive or are processed late — a stalled drain, a backlog, Shopify retrying for
    four hours, an operator's replay — so every kind must read right whenever it is sent.
    """

    kind: EmailKind
    idempotency_key: Callable[[OrderEvent], str | None]
    facts: Callable[[KindFacts], dict[str, Any]]
    about_an_order: bool = True
    stale_reason: Callable[[OrderEvent, OrderState | None, datetime], str | None] = never_stale
