"""Erasing a customer's personal data, and reading what is stored about them.

Erasure keeps every row, status, count and idempotency key: a duplicate webhook or a replay
after it finds its event or email already there and sends nothing. It leaves the marketing
opt-out list alone (``storage/opt_outs.py``): a suppression list must outlive the customer's
data, and it holds only hashes of addresses. Only the personal fields
go: the email becomes a stable placeholder (``privacy.erased_address``), names, addresses,
notes, order-status links (they carry an access token), tracking numbers, refund reasons and
the comments left through an email's rating link become empty, and so do the stored
deliveries and rendered messages that concern them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, null, or_, select, update
from sqlalchemy.orm import Session

from aftercare.privacy import erased_address
from aftercare.storage.schema import (
    CustomerActionRow,
    CustomerRow,
    FulfilmentRow,
    InboxEventRow,
    InboxStatus,
    LineItemRow,
    OrderRow,
    OutboxEmailRow,
    OutboxStatus,
    RefundRow,
)

# Ids per ``IN (…)``: well under SQLite's bound-parameter limit.
_CHUNK = 500
ERASED_NOTE = "the customer's personal data was erased on request"


@dataclass(frozen=True)
class StoredSubject:
    """The rows a privacy request covers: customers, and orders (theirs or named)."""

    customer_ids: tuple[int, ...] = ()
    # Lower-cased addresses the customers have or had (outbox recipients are matched on them).
    emails: frozenset[str] = frozenset()
    order_row_ids: tuple[int, ...] = ()
    # (source, the store's order id) of those orders, and of orders named that are not stored.
    order_keys: frozenset[tuple[str, str]] = frozenset()
    customer_external_ids: frozenset[tuple[str, str]] = frozenset()


@dataclass
class Erasure:
    """What an erasure changed, by table (rows kept, personal fields emptied)."""

    customers: int = 0
    orders: int = 0
    deliveries: int = 0
    emails: int = 0
    # Pending emails that will now never be sent (marked skipped).
    emails_withdrawn: int = 0
    # Emails being handed to the transport right now: left alone; run the erasure again.
    emails_in_flight: int = 0

    def as_record(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class StoredDelivery:
    """An inbox row that still holds data, for a caller to judge whether it concerns someone."""

    inbox_id: int
    source: str
    topic: str | None
    status: str
    raw_body: bytes | None
    raw_headers: dict[str, str] | None
    payload: dict[str, Any]
    received_at: datetime


@dataclass
class _Found:
    customers: list[Any] = field(default_factory=list)
    orders: list[Any] = field(default_factory=list)


def find_customer(
    connection: Connection,
    *,
    source: str | None,
    customer_id: str | None,
    email: str | None,
    order_ids: Collection[str] = (),
) -> StoredSubject:
    """One customer's rows, by the store's customer id or the email (any case), with their
    orders and the orders named (``orders_to_redact``) whoever they belong to."""
    customers, orders = CustomerRow.__table__, OrderRow.__table__
    matches = []
    if customer_id:
        matches.append(customers.c.external_id == customer_id)
    if email:
        matches.append(func.lower(customers.c.email) == email.lower())
    found = _Found()
    if matches:
        query = select(customers).where(or_(*matches))
        if source is not None:
            query = query.where(customers.c.source == source)
        found.customers = list(connection.execute(query))
    ids = [c.id for c in found.customers]
    order_match = [orders.c.customer_id.in_(ids)] if ids else []
    if order_ids and source is not None:
        order_match.append((orders.c.source == source) & orders.c.external_id.in_(order_ids))
    if order_match:
        found.orders = list(connection.execute(select(orders).where(or_(*order_match))))
    named = {(source, o) for o in order_ids} if source is not None else set()
    return _subject(found, extra_emails={email.lower()} if email else set(), named=named)


def find_shop(connection: Connection, source: str) -> StoredSubject:
    """Every customer and order of one store (``shop/redact``)."""
    customers, orders = CustomerRow.__table__, OrderRow.__table__
    found = _Found(
        customers=list(connection.execute(select(customers).where(customers.c.source == source))),
        orders=list(connection.execute(select(orders).where(orders.c.source == source))),
    )
    return _subject(found, extra_emails=set(), named=set())


def _subject(
    found: _Found, *, extra_emails: set[str], named: set[tuple[str, str]]
) -> StoredSubject:
    return StoredSubject(
        customer_ids=tuple(c.id for c in found.customers),
        emails=frozenset({c.email.lower() for c in found.customers} | extra_emails),
        order_row_ids=tuple(o.id for o in found.orders),
        order_keys=frozenset({(o.source, o.external_id) for o in found.orders} | named),
        customer_external_ids=frozenset(
            (c.source, c.external_id) for c in found.customers if c.external_id
        ),
    )


def stored_deliveries(connection: Connection, source: str | None) -> Iterator[StoredDelivery]:
    """Inbox rows that still hold a body, headers or an event (erased ones are skipped)."""
    table = InboxEventRow.__table__
    query = select(
        table.c.id.label("inbox_id"),
        table.c.source,
        table.c.topic,
        table.c.status,
        table.c.raw_body,
        table.c.raw_headers,
        table.c.payload,
        table.c.received_at,
    ).order_by(table.c.id)
    if source is not None:
        query = query.where(table.c.source == source)
    for row in connection.execute(query.execution_options(yield_per=_CHUNK)):
        if row.raw_body is None and row.raw_headers is None and not row.payload:
            continue
        yield StoredDelivery(**{**row._mapping, "payload": row.payload or {}})


def emails_of(
    connection: Connection, emails: Collection[str], inbox_ids: Collection[int]
) -> list[int]:
    """Outbox rows sent to one of ``emails`` or made from one of these deliveries."""
    table = OutboxEmailRow.__table__
    found: set[int] = set()
    for chunk in _chunks(sorted(emails)):
        query = select(table.c.id).where(func.lower(table.c.recipient).in_(chunk))
        found.update(connection.execute(query).scalars())
    for chunk in _chunks(sorted(inbox_ids)):
        query = select(table.c.id).where(table.c.inbox_event_id.in_(chunk))
        found.update(connection.execute(query).scalars())
    return sorted(found)


def erase(
    session: Session,
    subject: StoredSubject,
    *,
    inbox_ids: Collection[int],
    email_ids: Collection[int],
    now: datetime,
) -> Erasure:
    """Empty the personal fields of these rows; keep the rows, their keys and statuses."""
    connection = session.connection()
    erasure = Erasure()
    erasure.customers = _erase_customers(connection, subject.customer_ids)
    for chunk in _chunks(subject.order_row_ids):
        erasure.orders += connection.execute(
            update(OrderRow)
            .where(OrderRow.id.in_(chunk))
            .values(shipping_address=None, billing_address=None, note=None, status_url=None)
        ).rowcount
        connection.execute(
            update(FulfilmentRow)
            .where(FulfilmentRow.order_id.in_(chunk))
            .values(tracking_numbers=[], tracking_urls=[])
        )
        connection.execute(
            update(RefundRow).where(RefundRow.order_id.in_(chunk)).values(reason=None)
        )
    for chunk in _chunks(sorted(inbox_ids)):
        # Not processed yet: it never will be (its body is gone), and says why.
        connection.execute(
            update(InboxEventRow)
            .where(InboxEventRow.id.in_(chunk), InboxEventRow.status == InboxStatus.PENDING)
            .values(status=InboxStatus.IGNORED, last_error=ERASED_NOTE, processed_at=now)
        )
        erasure.deliveries += connection.execute(
            update(InboxEventRow)
            .where(InboxEventRow.id.in_(chunk))
            .values(raw_body=None, raw_headers=null(), payload={})
        ).rowcount
    for chunk in _chunks(sorted(email_ids)):
        emails = OutboxEmailRow.id.in_(chunk)
        erasure.emails_in_flight += _count(
            connection, emails, OutboxEmailRow.status == OutboxStatus.SENDING
        )
        erasure.emails_withdrawn += connection.execute(
            update(OutboxEmailRow)
            .where(emails, OutboxEmailRow.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.SKIPPED, last_error=f"not sent: {ERASED_NOTE}")
        ).rowcount
        erasure.emails += connection.execute(
            update(OutboxEmailRow)
            .where(emails, OutboxEmailRow.status != OutboxStatus.SENDING)
            .values(recipient="", subject="", mime=b"")
        ).rowcount
        # The customer's own words about these emails; the answers themselves stay.
        connection.execute(
            update(CustomerActionRow)
            .where(
                CustomerActionRow.email_key.in_(
                    select(OutboxEmailRow.idempotency_key).where(emails)
                ),
                CustomerActionRow.comment.is_not(None),
            )
            .values(comment=None)
        )
    return erasure


def _erase_customers(connection: Connection, ids: Collection[int]) -> int:
    """Email to a placeholder and names gone; a guest's key (``email:<address>``) too."""
    if not ids:
        return 0
    rows = connection.execute(
        select(CustomerRow.id, CustomerRow.source, CustomerRow.customer_key).where(
            CustomerRow.id.in_(list(ids))
        )
    ).all()
    values = []
    for row in rows:
        stable = f"{row.source}:{row.customer_key}"
        key = row.customer_key
        if key.startswith("email:"):
            key = "erased:" + erased_address(stable).split("@")[0].removeprefix("erased-")
        values.append({"row_id": row.id, "new_email": erased_address(stable), "new_key": key})
    table = CustomerRow.__table__
    connection.execute(
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values(
            email=bindparam("new_email"),
            customer_key=bindparam("new_key"),
            first_name=None,
            last_name=None,
        ),
        values,
    )
    return len(values)


def _count(connection: Connection, *where: Any) -> int:
    return connection.execute(
        select(func.count()).select_from(OutboxEmailRow).where(*where)
    ).scalar_one()


def _chunks(ids: Collection[Any]) -> Iterator[list[Any]]:
    items = list(ids)
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# --- what is stored (a data request) ------------------------------------------------------------


def stored_data(
    connection: Connection, subject: StoredSubject, email_ids: Collection[int]
) -> dict[str, Any]:
    """What Aftercare holds about a customer, in the store owner's words, as JSON values."""
    customers = [
        {
            "source": c.source,
            "customer_id": c.external_id,
            "email": c.email,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "locale": c.locale,
            "time_zone": c.time_zone,
            "marketing_consent": c.marketing_consent,
            "first_seen": c.created_at.isoformat(),
        }
        for c in _rows(connection, CustomerRow, subject.customer_ids)
    ]
    orders = []
    for o in _rows(connection, OrderRow, subject.order_row_ids):
        lines = connection.execute(
            select(LineItemRow.title, LineItemRow.quantity).where(LineItemRow.order_id == o.id)
        ).all()
        orders.append(
            {
                "source": o.source,
                "order_id": o.external_id,
                "number": o.number,
                "placed_at": o.placed_at.isoformat(),
                "total": f"{o.total} {o.currency}",
                "shipping_address": o.shipping_address,
                "billing_address": o.billing_address,
                "note": o.note,
                "items": [{"title": t, "quantity": q} for t, q in lines],
            }
        )
    emails = [
        {
            "kind": e.kind,
            "status": e.status,
            "to": e.recipient,
            "subject": e.subject,
            "written_at": e.created_at.isoformat(),
            "sent_at": e.sent_at.isoformat() if e.sent_at else None,
        }
        for e in _rows(connection, OutboxEmailRow, email_ids)
    ]
    return {"customers": customers, "orders": orders, "emails": emails}


def _rows(connection: Connection, model: Any, ids: Collection[int]) -> list[Any]:
    table = model.__table__
    found: list[Any] = []
    for chunk in _chunks(sorted(ids)):
        found.extend(
            connection.execute(select(table).where(table.c.id.in_(chunk)).order_by(table.c.id))
        )
    return found
