"""Reading and writing ``OrderState`` (orders, line items, fulfilments, refunds, customers).

The drain reads and writes the orders of a whole batch of events at once: four queries
load every order the batch touches, and a handful of multi-row statements write them
back. The ORM's unit of work did the same row by row and was most of the cost of an
email; these are plain Core statements, built once per dialect.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Delete,
    Insert,
    Select,
    and_,
    bindparam,
    case,
    delete,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from aftercare.errors import AftercareError
from aftercare.events import (
    Address,
    Costs,
    Customer,
    Fulfilment,
    LineItem,
    Order,
    Refund,
    RefundItem,
    ShipmentItem,
    TaxLine,
    merged_consent,
)
from aftercare.order_state import OrderState
from aftercare.storage.schema import (
    CustomerRow,
    FulfilmentRow,
    LineItemRow,
    OrderRow,
    RefundRow,
)

OrderKey = tuple[str, str]  # (source, the store's order id)

_customers = CustomerRow.__table__
_orders = OrderRow.__table__
_lines = LineItemRow.__table__
_fulfilments = FulfilmentRow.__table__
_refunds = RefundRow.__table__
_CHILDREN = (_lines, _fulfilments, _refunds)


def customer_key(customer: Customer) -> str:
    return customer.external_id or f"email:{customer.email.lower()}"


def _insert(dialect: str):  # noqa: ANN202 - the dialect's insert() with ON CONFLICT
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"database {dialect!r} is not supported; use SQLite or PostgreSQL")


@cache
def _upsert_customers(dialect: str) -> Insert:
    stmt = _insert(dialect)(_customers)
    updated = ("external_id", "email", "first_name", "last_name", "locale", "time_zone")
    stored, given = _customers.c.marketing_consent, stmt.excluded.marketing_consent
    return stmt.on_conflict_do_update(
        index_elements=["source", "customer_key"],
        set_={
            **{name: stmt.excluded[name] for name in updated},
            # ``events.merged_consent`` in SQL: an event that says nothing keeps what is
            # known, and "not subscribed" does not undo an "unsubscribed".
            "marketing_consent": case(
                (given.is_(None), stored),
                (and_(stored == "unsubscribed", given == "not_subscribed"), stored),
                else_=given,
            ),
        },
    ).returning(_customers.c.id, _customers.c.source, _customers.c.customer_key)


_ORDER_COLUMNS = tuple(
    c.name for c in _orders.columns if c.name not in ("id", "source", "external_id", "revision")
)


@cache
def _upsert_orders(dialect: str, *, checked: bool) -> Insert:
    """Insert or overwrite orders; ``checked``: only where the revision is still the one
    given with the row (the one the caller read), so a concurrent write is never lost."""
    stmt = _insert(dialect)(_orders)
    return stmt.on_conflict_do_update(
        index_elements=["source", "external_id"],
        set_={
            **{name: stmt.excluded[name] for name in _ORDER_COLUMNS},
            "revision": _orders.c.revision + 1,
        },
        where=(_orders.c.revision == stmt.excluded.revision) if checked else None,
    ).returning(_orders.c.id, _orders.c.source, _orders.c.external_id)


@cache
def _insert_orders(dialect: str) -> Insert:
    return (
        _insert(dialect)(_orders)
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(_orders.c.id, _orders.c.source, _orders.c.external_id)
    )


@cache
def _delete_children() -> tuple[Delete, ...]:
    return tuple(delete(t).where(t.c.order_id.in_(_order_ids())) for t in _CHILDREN)


def _order_ids():  # noqa: ANN202 - an expanding bind parameter
    return bindparam("order_ids", expanding=True)


@cache
def _load_orders(lock: bool) -> Select[Any]:
    query = (
        select(_orders, *(c.label(f"customer_{c.name}") for c in _customers.columns))
        .join(_customers, _customers.c.id == _orders.c.customer_id)
        .where(tuple_(_orders.c.source, _orders.c.external_id).in_(_order_keys()))
        .order_by(_orders.c.id)
    )
    # On PostgreSQL, two drainers merging events of one order take turns (in id order, so
    # two batches never wait for each other in a circle).
    return query.with_for_update(of=_orders) if lock else query


def _order_keys():  # noqa: ANN202 - an expanding bind parameter of (source, id) pairs
    return bindparam("order_keys", expanding=True)


@cache
def _load_children() -> tuple[Select[Any], ...]:
    return (
        select(_lines).where(_lines.c.order_id.in_(_order_ids())).order_by(_lines.c.position),
        select(_fulfilments)
        .where(_fulfilments.c.order_id.in_(_order_ids()))
        .order_by(_fulfilments.c.created_at, _fulfilments.c.id),
        select(_refunds)
        .where(_refunds.c.order_id.in_(_order_ids()))
        .order_by(_refunds.c.created_at, _refunds.c.id),
    )


@dataclass(frozen=True)
class StoredOrders:
    """Orders as read: each one's state, and the revision to save over (see ``revision``)."""

    states: dict[OrderKey, OrderState]
    revisions: dict[OrderKey, int]


def read_orders(
    connection: Connection, keys: Collection[OrderKey], *, lock: bool = False
) -> StoredOrders:
    """The stored orders among ``keys`` (orders Aftercare does not know are absent)."""
    if not keys:
        return StoredOrders({}, {})
    orders = connection.execute(_load_orders(lock), {"order_keys": list(keys)}).all()
    if not orders:
        return StoredOrders({}, {})
    ids = {"order_ids": [row.id for row in orders]}
    lines_q, fulfilments_q, refunds_q = _load_children()
    children: dict[int, tuple[list[Any], list[Any], list[Any]]] = {
        row.id: ([], [], []) for row in orders
    }
    for index, query in enumerate((lines_q, fulfilments_q, refunds_q)):
        for child in connection.execute(query, ids):
            children[child.order_id][index].append(child)
    return StoredOrders(
        states={
            (row.source, row.external_id): _state_from_rows(row, *children[row.id])
            for row in orders
        },
        revisions={(row.source, row.external_id): row.revision for row in orders},
    )


def load_order_states(
    connection: Connection, keys: Collection[OrderKey], *, lock: bool = False
) -> dict[OrderKey, OrderState]:
    """The stored state of each order in ``keys`` that Aftercare knows (others are absent)."""
    return read_orders(connection, keys, lock=lock).states


def _state_from_rows(
    row: Any, lines: list[Any], fulfilments: list[Any], refunds: list[Any]
) -> OrderState:
    customer = Customer(
        external_id=row.customer_external_id,
        email=row.customer_email,
        first_name=row.customer_first_name,
        last_name=row.customer_last_name,
        locale=row.customer_locale,
        time_zone=row.customer_time_zone,
        marketing_consent=row.customer_marketing_consent,
    )
    order = Order(
        external_id=row.external_id,
        number=row.number,
        placed_at=row.placed_at,
        currency=row.currency,
        line_items=tuple(
            LineItem(
                line_id=li.line_id,
                product_id=li.product_id,
                sku=li.sku,
                title=li.title,
                variant_title=li.variant_title,
                quantity=li.quantity,
                unit_price=li.unit_price,
                total_discount=li.total_discount,
                requires_shipping=li.requires_shipping,
                backordered=li.backordered,
                image_url=li.image_url,
            )
            for li in lines
        ),
        costs=Costs(
            subtotal=row.subtotal,
            discounts=row.discounts,
            shipping=row.shipping,
            taxes=row.taxes,
            duties=row.duties,
            total=row.total,
            taxes_included=row.taxes_included,
            duties_included=row.duties_included,
            tax_lines=tuple(TaxLine.model_validate(t) for t in row.tax_lines),
            discount_codes=tuple(row.discount_codes),
        ),
        shipping_address=Address.model_validate(row.shipping_address)
        if row.shipping_address
        else None,
        billing_address=Address.model_validate(row.billing_address)
        if row.billing_address
        else None,
        status_url=row.status_url,
        note=row.note,
        cancelled_at=row.cancelled_at,
        payment_due_later=row.payment_due_later,
        payment_method=row.payment_method,
    )
    return OrderState(
        source=row.source,
        order=order,
        customer=customer,
        fulfilments=tuple(
            Fulfilment(
                external_id=f.external_id,
                created_at=f.created_at,
                carrier=f.carrier,
                tracking_numbers=tuple(f.tracking_numbers),
                tracking_urls=tuple(f.tracking_urls),
                items=tuple(ShipmentItem.model_validate(i) for i in f.items),
                status=f.status,
                estimated_delivery_at=f.estimated_delivery_at,
                status_at=f.status_at,
            )
            for f in fulfilments
        ),
        refunds=tuple(
            Refund(
                external_id=r.external_id,
                created_at=r.created_at,
                amount=r.amount,
                currency=r.currency,
                method=r.method,
                items=tuple(RefundItem.model_validate(i) for i in r.items),
                reason=r.reason,
            )
            for r in refunds
        ),
        promised_ship_by=row.promised_ship_by,
        promised_deliver_by=row.promised_deliver_by,
        delay_check_at=row.delay_check_at,
        updated_at=row.state_as_of,
    )


def save_customers(
    connection: Connection, customers: Iterable[tuple[str, Customer]], now: datetime
) -> dict[tuple[str, str], int]:
    """Insert or update customers (newer facts — locale, name — replace older ones).

    Returns the row id of each (source, customer key). A customer named twice is written
    once, with the facts given last. The marketing consent is the exception: a customer
    given without one keeps the stored one (``events.merged_consent``).
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for source, customer in customers:
        key = customer_key(customer)
        earlier = rows[(source, key)]["marketing_consent"] if (source, key) in rows else None
        rows[(source, key)] = {
            "source": source,
            "customer_key": key,
            "external_id": customer.external_id,
            "email": str(customer.email),
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "locale": customer.locale,
            "time_zone": customer.time_zone,
            "created_at": now,
            "marketing_consent": merged_consent(earlier, customer.marketing_consent),
        }
    if not rows:
        return {}
    stmt = _upsert_customers(connection.dialect.name)
    result = connection.execute(stmt, [rows[key] for key in sorted(rows)])
    return {(r.source, r.customer_key): r.id for r in result}


class OrderChangedMeanwhileError(AftercareError):
    """Another drainer stored this order between our read and our write; retry the event."""


def save_order_states(
    connection: Connection,
    states: Sequence[OrderState],
    now: datetime,
    *,
    read: Mapping[OrderKey, int] | None = None,
) -> dict[OrderKey, int]:
    """Write each state over what is stored (the merge already decided what wins).

    ``read``: the revision of each order as the caller read it, for a caller that merged
    outside a lock; an order absent from it was read as absent. If an order changed in
    between (another drainer stored or updated it), its state was merged without that
    drainer's event: nothing is overwritten, ``OrderChangedMeanwhileError`` is raised and
    the caller retries. Without ``read`` every state is written as is.

    Returns each order's row id. Line items, parcels and refunds are replaced as a whole:
    the state holds all of them, and nothing refers to their rows.
    """
    if not states:
        return {}
    # Sorted, so two PostgreSQL transactions lock the same rows in the same order.
    latest = dict(sorted(((s.source, s.order.external_id), s) for s in states))
    customer_ids = save_customers(
        connection, ((s.source, s.customer) for s in latest.values()), now
    )
    dialect = connection.dialect.name
    if read is None:
        writes = [(_upsert_orders(dialect, checked=False), list(latest))]
    else:
        writes = [
            (_insert_orders(dialect), [k for k in latest if k not in read]),
            (_upsert_orders(dialect, checked=True), [k for k in latest if k in read]),
        ]
    order_ids: dict[OrderKey, int] = {}
    for statement, keys in writes:
        if not keys:
            continue
        rows = [
            {
                **_order_values(latest[k], customer_ids[(k[0], customer_key(latest[k].customer))]),
                "revision": read.get(k, 0) if read is not None else 0,
            }
            for k in keys
        ]
        result = connection.execute(statement, rows)
        order_ids.update({(r.source, r.external_id): r.id for r in result})
        missing = [k for k in keys if k not in order_ids]
        if missing:
            raise OrderChangedMeanwhileError(
                f"order {missing[0][1]} was changed by another drainer at the same time; "
                "its event is retried"
            )
    ids = {"order_ids": list(order_ids.values())}
    for statement in _delete_children():
        connection.execute(statement, ids)
    lines: list[dict[str, Any]] = []
    fulfilments: list[dict[str, Any]] = []
    refunds: list[dict[str, Any]] = []
    for key, state in latest.items():
        order_id = order_ids[key]
        lines += _line_values(order_id, state.order)
        fulfilments += (_fulfilment_values(order_id, f) for f in state.fulfilments)
        refunds += (_refund_values(order_id, r) for r in state.refunds)
    for table, values in ((_lines, lines), (_fulfilments, fulfilments), (_refunds, refunds)):
        if values:
            connection.execute(table.insert(), values)
    return order_ids


def _order_values(state: OrderState, customer_id: int) -> dict[str, Any]:
    order, costs = state.order, state.order.costs
    return {
        "source": state.source,
        "external_id": order.external_id,
        "customer_id": customer_id,
        "number": order.number,
        "currency": order.currency,
        "placed_at": order.placed_at,
        "subtotal": costs.subtotal,
        "discounts": costs.discounts,
        "shipping": costs.shipping,
        "taxes": costs.taxes,
        "duties": costs.duties,
        "total": costs.total,
        "taxes_included": costs.taxes_included,
        "duties_included": costs.duties_included,
        "tax_lines": [t.model_dump(mode="json") for t in costs.tax_lines],
        "discount_codes": list(costs.discount_codes),
        "shipping_address": order.shipping_address.model_dump(mode="json")
        if order.shipping_address
        else None,
        "billing_address": order.billing_address.model_dump(mode="json")
        if order.billing_address
        else None,
        "status_url": order.status_url,
        "note": order.note,
        "cancelled_at": order.cancelled_at,
        "payment_due_later": order.payment_due_later,
        "payment_method": order.payment_method.value if order.payment_method else None,
        "promised_ship_by": state.promised_ship_by,
        "promised_deliver_by": state.promised_deliver_by,
        "delay_check_at": state.delay_check_at,
        "state_as_of": state.updated_at,
    }


def _line_values(order_id: int, order: Order) -> list[dict[str, Any]]:
    return [
        {
            "order_id": order_id,
            "position": position,
            "line_id": item.line_id,
            "product_id": item.product_id,
            "sku": item.sku,
            "title": item.title,
            "variant_title": item.variant_title,
            "quantity": item.quantity,
            "unit_price": item.unit_price,
            "total_discount": item.total_discount,
            "requires_shipping": item.requires_shipping,
            "backordered": item.backordered,
            "image_url": item.image_url,
        }
        for position, item in enumerate(order.line_items)
    ]


def _fulfilment_values(order_id: int, fulfilment: Fulfilment) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "external_id": fulfilment.external_id,
        "created_at": fulfilment.created_at,
        "carrier": fulfilment.carrier,
        "tracking_numbers": list(fulfilment.tracking_numbers),
        "tracking_urls": list(fulfilment.tracking_urls),
        "items": [i.model_dump(mode="json") for i in fulfilment.items],
        "status": fulfilment.status,
        "estimated_delivery_at": fulfilment.estimated_delivery_at,
        "status_at": fulfilment.status_at,
    }


def _refund_values(order_id: int, refund: Refund) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "external_id": refund.external_id,
        "created_at": refund.created_at,
        "amount": refund.amount,
        "currency": refund.currency,
        "method": refund.method.value,
        "items": [i.model_dump(mode="json") for i in refund.items],
        "reason": refund.reason,
    }


# One order at a time, for the demo loader, the CLI and tests.


def load_order_state(
    session: Session, source: str, external_id: str, *, lock: bool = False
) -> OrderState | None:
    states = load_order_states(session.connection(), [(source, external_id)], lock=lock)
    return states.get((source, external_id))


def save_order_state(session: Session, state: OrderState, now: datetime) -> int:
    """Write one order's state; its row id."""
    ids = save_order_states(session.connection(), [state], now)
    return ids[(state.source, state.order.external_id)]


def orders_before(
    connection: Connection, orders: Collection[tuple[str, str, str, datetime]]
) -> dict[tuple[str, str], int]:
    """How many stored orders each customer placed before each of ``orders``.

    ``orders`` are (source, customer_key, order external id, placed_at); the answer is by
    (source, order external id). One query for a whole group: the FAQ's ``first_order``.
    """
    if not orders:
        return {}
    customers = {(source, key) for source, key, _, _ in orders}
    rows = connection.execute(
        select(
            _customers.c.source,
            _customers.c.customer_key,
            _orders.c.external_id,
            _orders.c.placed_at,
        )
        .join(_orders, _orders.c.customer_id == _customers.c.id)
        .where(tuple_(_customers.c.source, _customers.c.customer_key).in_(list(customers)))
    ).all()
    placed: dict[tuple[str, str], list[tuple[str, datetime]]] = {}
    for source, key, external_id, at in rows:
        placed.setdefault((source, key), []).append((external_id, at))
    return {
        (source, external_id): sum(
            1
            for other, at in placed.get((source, key), [])
            if other != external_id and at < placed_at
        )
        for source, key, external_id, placed_at in orders
    }
