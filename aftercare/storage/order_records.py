"""Reading and writing ``OrderState`` (orders, line items, fulfilments, refunds, customers)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

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
)
from aftercare.order_state import OrderState
from aftercare.storage.schema import (
    CustomerRow,
    FulfilmentRow,
    LineItemRow,
    OrderRow,
    RefundRow,
)


def customer_key(customer: Customer) -> str:
    return customer.external_id or f"email:{customer.email.lower()}"


def save_customer(
    session: Session,
    source: str,
    customer: Customer,
    now: datetime,
    known: CustomerRow | None = None,
) -> CustomerRow:
    """Insert or update the customer; newer facts (locale, name) replace older ones.

    ``known``: the row the order already points to, which saves a query when it is this one.
    """
    key = customer_key(customer)
    if known is not None and known.source == source and known.customer_key == key:
        row: CustomerRow | None = known
    else:
        row = session.scalars(
            select(CustomerRow).where(CustomerRow.source == source, CustomerRow.customer_key == key)
        ).one_or_none()
    if row is None:
        row = CustomerRow(source=source, customer_key=key, created_at=now)
        session.add(row)
    row.external_id = customer.external_id
    row.email = customer.email
    row.first_name = customer.first_name
    row.last_name = customer.last_name
    row.locale = customer.locale
    row.time_zone = customer.time_zone
    return row


def _order_row(session: Session, source: str, external_id: str, lock: bool) -> OrderRow | None:
    # The row ``load_order_state`` read in this transaction, so saving does not read it again.
    loaded: dict[tuple[str, str], OrderRow] = session.info.setdefault("order_rows", {})
    if (source, external_id) in loaded and not lock:
        return loaded[(source, external_id)]
    query = select(OrderRow).where(OrderRow.source == source, OrderRow.external_id == external_id)
    if lock:
        # On PostgreSQL, two drainers merging events of one order take turns.
        query = query.with_for_update(of=OrderRow)
    row = session.scalars(query).unique().one_or_none()
    if row is None:
        # A row created in a savepoint that was rolled back is gone: forget it too.
        loaded.pop((source, external_id), None)
    else:
        loaded[(source, external_id)] = row
    return row


def load_order_state(
    session: Session, source: str, external_id: str, *, lock: bool = False
) -> OrderState | None:
    row = _order_row(session, source, external_id, lock)
    return None if row is None else _state_from_row(row)


def _state_from_row(row: OrderRow) -> OrderState:
    c = row.customer
    customer = Customer(
        external_id=c.external_id,
        email=c.email,
        first_name=c.first_name,
        last_name=c.last_name,
        locale=c.locale,
        time_zone=c.time_zone,
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
                image_url=li.image_url,
            )
            for li in row.line_items
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
            for f in row.fulfilments
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
            for r in row.refunds
        ),
        promised_ship_by=row.promised_ship_by,
        promised_deliver_by=row.promised_deliver_by,
        updated_at=row.state_as_of,
    )


def save_order_state(session: Session, state: OrderState, now: datetime) -> OrderRow:
    """Write ``state`` over what is stored (the merge already decided what wins)."""
    row = _order_row(session, state.source, state.order.external_id, lock=False)
    customer_row = save_customer(
        session, state.source, state.customer, now, known=row.customer if row else None
    )
    if row is None:
        row = OrderRow(source=state.source, external_id=state.order.external_id)
        session.add(row)
    order, costs = state.order, state.order.costs
    row.customer = customer_row
    row.number = order.number
    row.currency = order.currency
    row.placed_at = order.placed_at
    row.subtotal, row.discounts, row.shipping = costs.subtotal, costs.discounts, costs.shipping
    row.taxes, row.duties, row.total = costs.taxes, costs.duties, costs.total
    row.taxes_included, row.duties_included = costs.taxes_included, costs.duties_included
    row.tax_lines = [t.model_dump(mode="json") for t in costs.tax_lines]
    row.discount_codes = list(costs.discount_codes)
    row.shipping_address = (
        order.shipping_address.model_dump(mode="json") if order.shipping_address else None
    )
    row.billing_address = (
        order.billing_address.model_dump(mode="json") if order.billing_address else None
    )
    row.status_url = order.status_url
    row.note = order.note
    row.cancelled_at = order.cancelled_at
    row.promised_ship_by = state.promised_ship_by
    row.promised_deliver_by = state.promised_deliver_by
    row.state_as_of = state.updated_at

    existing_lines = {li.line_id: li for li in row.line_items}
    row.line_items = []
    for position, item in enumerate(order.line_items):
        li = existing_lines.get(item.line_id) or LineItemRow(line_id=item.line_id)
        li.position = position
        li.product_id, li.sku, li.title = item.product_id, item.sku, item.title
        li.variant_title, li.quantity = item.variant_title, item.quantity
        li.unit_price, li.total_discount = item.unit_price, item.total_discount
        li.requires_shipping, li.image_url = item.requires_shipping, item.image_url
        row.line_items.append(li)

    existing_fulfilments = {f.external_id: f for f in row.fulfilments}
    row.fulfilments = []
    for fulfilment in state.fulfilments:
        f = existing_fulfilments.get(fulfilment.external_id) or FulfilmentRow(
            external_id=fulfilment.external_id
        )
        f.created_at, f.carrier = fulfilment.created_at, fulfilment.carrier
        f.tracking_numbers = list(fulfilment.tracking_numbers)
        f.tracking_urls = list(fulfilment.tracking_urls)
        f.items = [i.model_dump(mode="json") for i in fulfilment.items]
        f.status, f.estimated_delivery_at = fulfilment.status, fulfilment.estimated_delivery_at
        f.status_at = fulfilment.status_at
        row.fulfilments.append(f)

    existing_refunds = {r.external_id: r for r in row.refunds}
    row.refunds = []
    for refund in state.refunds:
        r = existing_refunds.get(refund.external_id) or RefundRow(external_id=refund.external_id)
        r.created_at, r.amount, r.currency = refund.created_at, refund.amount, refund.currency
        r.method, r.reason = refund.method.value, refund.reason
        r.items = [i.model_dump(mode="json") for i in refund.items]
        row.refunds.append(r)
    session.flush()
    return row
