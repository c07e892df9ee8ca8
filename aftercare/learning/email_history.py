"""Which emails each customer got, when, and what their order was like at the time.

A ticket is related to the last email its customer got before writing. Most of those emails
can be told from the order history alone (a confirmation when the order was placed, a
shipped email per parcel, a delivered email per parcel the carrier scanned delivered, a
refunded email per refund), so a store's tickets from before it used Aftercare count too;
the facts the FAQ conditions need are worked out as the email would have shown them then
(``emails/faq_conditions.py`` on the order as it was). Emails only Aftercare knows of (a
welcome, a delay notice) come from the outbox, with the facts recorded when they were sent.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aftercare.emails import EmailKind, build_context
from aftercare.emails.faq_conditions import order_conditions
from aftercare.errors import AftercareError
from aftercare.events import EventKind, OrderEvent, ShipmentStatus, ShipmentUpdate
from aftercare.order_state import OrderState
from aftercare.settings import StoreFacts
from aftercare.storage.order_records import load_order_states
from aftercare.storage.schema import OrderRow, OutboxEmailRow, OutboxStatus


@dataclass(frozen=True)
class PastEmail:
    kind: str
    sent_at: datetime
    order_number: str | None  # normalised: no "#", case-folded
    customer: str  # the customer's email, case-folded
    facts: Mapping[str, bool | str]


def order_key(number: str) -> str:
    return number.strip().lstrip("#").strip().casefold()


def emails_of(
    state: OrderState, store: StoreFacts, orders_before: int | None = None
) -> list[PastEmail]:
    """The order emails ``state``'s history implies, each with the facts of its day;
    ``orders_before``: the customer's orders placed before this one, when known."""
    order, customer = state.order, str(state.customer.email).casefold()
    base = {
        "source": state.source,
        "order_id": order.external_id,
        "customer": state.customer,
    }
    moments: list[tuple[EmailKind, datetime, dict]] = []
    if order.cancelled_at is None or order.cancelled_at > order.placed_at:
        moments.append(
            (
                EmailKind.ORDER_CONFIRMATION,
                order.placed_at,
                {"kind": EventKind.ORDER_PLACED, "order": order},
            )
        )
    for parcel in state.fulfilments:
        moments.append(
            (
                EmailKind.ORDER_SHIPPED,
                parcel.created_at,
                {"kind": EventKind.ORDER_SHIPPED, "fulfilment": parcel},
            )
        )
        if parcel.status == ShipmentStatus.DELIVERED and parcel.status_at is not None:
            # The delivered email, as the carrier's scan called for it.
            delivered = ShipmentUpdate(
                fulfilment_id=parcel.external_id,
                status=ShipmentStatus.DELIVERED,
                happened_at=parcel.status_at,
            )
            moments.append(
                (
                    EmailKind.ORDER_DELIVERED,
                    parcel.status_at,
                    {"kind": EventKind.SHIPMENT_UPDATED, "shipment_update": delivered},
                )
            )
    for refund in state.refunds:
        moments.append(
            (
                EmailKind.ORDER_REFUNDED,
                refund.created_at,
                {"kind": EventKind.ORDER_REFUNDED, "refund": refund},
            )
        )
    emails = []
    for kind, at, parts in moments:
        then = replace(
            state,
            fulfilments=tuple(f for f in state.fulfilments if f.created_at <= at),
            refunds=tuple(r for r in state.refunds if r.created_at <= at),
        )
        try:
            event = OrderEvent(
                source_event_id=f"history:{kind.value}:{at.isoformat()}",
                occurred_at=at,
                **base,
                **parts,
            )
            context = build_context(kind, event, then, store, at)
        except (AftercareError, ValueError):
            continue  # an email the history cannot tell enough about: not counted
        emails.append(
            PastEmail(
                kind.value,
                at,
                order_key(order.number),
                customer,
                order_conditions(then, store, context),
            )
        )
    return emails


_BATCH = 500


def stored_history(session: Session, store: StoreFacts) -> Iterator[PastEmail]:
    """Every past email of every stored order, then the outbox's emails history can't tell."""
    keys = session.execute(
        select(OrderRow.source, OrderRow.external_id, OrderRow.customer_id, OrderRow.placed_at)
    ).all()
    by_customer: dict[int, list[datetime]] = {}
    for _, _, customer_id, placed_at in keys:
        by_customer.setdefault(customer_id, []).append(placed_at)
    for times in by_customer.values():
        times.sort()
    earlier = {
        (source, external_id): bisect.bisect_left(by_customer[customer_id], placed_at)
        for source, external_id, customer_id, placed_at in keys
    }
    connection = session.connection()
    for start in range(0, len(keys), _BATCH):
        batch = [
            (source, external_id) for source, external_id, _, _ in keys[start : start + _BATCH]
        ]
        for key, state in load_order_states(connection, batch).items():
            yield from emails_of(state, store, earlier.get(key))
    told_by_history = {
        k.value
        for k in (
            EmailKind.ORDER_CONFIRMATION,
            EmailKind.ORDER_SHIPPED,
            EmailKind.ORDER_DELIVERED,
            EmailKind.ORDER_REFUNDED,
        )
    }
    rows = session.execute(
        select(
            OutboxEmailRow.kind,
            OutboxEmailRow.sent_at,
            OutboxEmailRow.recipient,
            OutboxEmailRow.explanation,
        ).where(
            OutboxEmailRow.status == OutboxStatus.SENT, OutboxEmailRow.kind.not_in(told_by_history)
        )
    )
    for kind, sent_at, recipient, explanation in rows:
        if sent_at is None:
            continue
        facts = (explanation or {}).get("faq_conditions") or {}
        yield PastEmail(kind, sent_at, None, recipient.casefold(), facts)


class EmailIndex:
    """Past emails by order and by customer, sorted by time: "the last one before"."""

    def __init__(self, emails: Iterable[PastEmail]) -> None:
        self._by_order: dict[str, list[PastEmail]] = {}
        self._by_customer: dict[str, list[PastEmail]] = {}
        self.count = 0
        for email in emails:
            self.count += 1
            if email.order_number:
                self._by_order.setdefault(email.order_number, []).append(email)
            self._by_customer.setdefault(email.customer, []).append(email)
        for index in (self._by_order, self._by_customer):
            for emails_ in index.values():
                emails_.sort(key=lambda e: e.sent_at)
        self._times = {
            id(v): [e.sent_at for e in v]
            for index in (self._by_order, self._by_customer)
            for v in index.values()
        }

    def __iter__(self) -> Iterator[PastEmail]:
        for emails in self._by_customer.values():
            yield from emails

    def last_before(
        self, at: datetime, *, order_number: str | None, customer: str | None, window: timedelta
    ) -> PastEmail | None:
        """The customer's last email before ``at``, at most ``window`` earlier."""
        # The order the ticket names wins over the customer's other orders.
        for key, index in ((order_number, self._by_order), (customer, self._by_customer)):
            emails = index.get(order_key(key) if index is self._by_order else key) if key else None
            if not emails:
                continue
            position = bisect.bisect_right(self._times[id(emails)], at)
            if position and (found := emails[position - 1]).sent_at >= at - window:
                return found
        return None
