"""Every email kind Aftercare sends, one module each, and the one list that registers them.

Adding a kind (say *cancelled*): a member of ``EmailKind``, a module here with its
``idempotency_key`` and ``facts`` and its ``SPEC``, the spec in ``REGISTERED`` below, a
template pair in ``email_templates/<locale>/``, samples in ``authoring/samples.py`` (the
template check fails for a kind without them) and tests. Nothing else branches on the kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from aftercare.emails.email_kind import EmailKind, EmailKindSpec, KindFacts, PlannedEmail
from aftercare.emails.kinds import (
    order_confirmation,
    order_delayed,
    order_delivered,
    order_refunded,
    order_shipped,
    welcome,
)
from aftercare.emails.kinds.order_delayed import CARRIER_TROUBLE
from aftercare.events import OrderEvent

REGISTERED: tuple[EmailKindSpec, ...] = (
    welcome.SPEC,
    order_confirmation.SPEC,
    order_shipped.SPEC,
    order_delayed.SPEC,
    order_refunded.SPEC,
    order_delivered.SPEC,
)

SPECS: Mapping[EmailKind, EmailKindSpec] = MappingProxyType({s.kind: s for s in REGISTERED})


def plan_emails(event: OrderEvent) -> list[PlannedEmail]:
    """The emails this event calls for (none for events that only update the order)."""
    return [
        PlannedEmail(spec.kind, key)
        for spec in REGISTERED
        if (key := spec.idempotency_key(event)) is not None
    ]


__all__ = [
    "CARRIER_TROUBLE",
    "REGISTERED",
    "SPECS",
    "EmailKind",
    "EmailKindSpec",
    "KindFacts",
    "PlannedEmail",
    "plan_emails",
]
