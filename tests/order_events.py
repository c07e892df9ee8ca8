"""Small builders for order events, so a test states only what it is about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from aftercare.events import (
    Address,
    Costs,
    Customer,
    DelayNotice,
    EventKind,
    Fulfilment,
    LineItem,
    Order,
    OrderEvent,
    Refund,
    RefundItem,
    ShipmentItem,
)

T0 = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)  # a Monday


def customer(**overrides: Any) -> Customer:
    values: dict[str, Any] = dict(
        external_id="cust-1",
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        locale="en_GB",
        time_zone="Europe/London",
    )
    return Customer(**(values | overrides))


def address(**overrides: Any) -> Address:
    values: dict[str, Any] = dict(
        name="Ada Lovelace",
        line1="12 St James's Square",
        city="London",
        postal_code="SW1Y 4JH",
        country_code="GB",
    )
    return Address(**(values | overrides))


def order(number: str = "#1001", external_id: str = "order-1", **overrides: Any) -> Order:
    values: dict[str, Any] = dict(
        external_id=external_id,
        number=number,
        placed_at=T0,
        currency="EUR",
        line_items=(
            LineItem(
                line_id="l1",
                product_id="p-shirt",
                title="Linen shirt",
                quantity=1,
                unit_price=Decimal("89.00"),
            ),
            LineItem(
                line_id="l2",
                product_id="p-towel",
                title="Waffle towel",
                quantity=2,
                unit_price=Decimal("24.50"),
            ),
        ),
        costs=Costs(
            subtotal=Decimal("138.00"),
            shipping=Decimal("9.90"),
            taxes=Decimal("0"),
            duties=Decimal("6.20"),
            total=Decimal("154.10"),
        ),
        shipping_address=address(),
    )
    return Order(**(values | overrides))


def placed(
    event_id: str = "evt-placed-1", *, at: datetime = T0, **order_overrides: Any
) -> OrderEvent:
    the_order = order(**order_overrides)
    return OrderEvent(
        kind=EventKind.ORDER_PLACED,
        source="test",
        source_event_id=event_id,
        occurred_at=at,
        customer=customer(),
        order=the_order,
    )


def shipped(
    event_id: str = "evt-shipped-1",
    *,
    order_id: str = "order-1",
    fulfilment_id: str = "ful-1",
    lines: tuple[tuple[str, int], ...] = (("l1", 1),),
    at: datetime | None = None,
) -> OrderEvent:
    at = at or T0 + timedelta(days=1)
    return OrderEvent(
        kind=EventKind.ORDER_SHIPPED,
        source="test",
        source_event_id=event_id,
        occurred_at=at,
        order_id=order_id,
        fulfilment=Fulfilment(
            external_id=fulfilment_id,
            created_at=at,
            carrier="DHL",
            tracking_numbers=("00340434161094042557",),
            items=tuple(ShipmentItem(line_id=line, quantity=q) for line, q in lines),
        ),
    )


def refunded(
    event_id: str = "evt-refund-1", *, order_id: str = "order-1", at: datetime | None = None
) -> OrderEvent:
    at = at or T0 + timedelta(days=5)
    return OrderEvent(
        kind=EventKind.ORDER_REFUNDED,
        source="test",
        source_event_id=event_id,
        occurred_at=at,
        order_id=order_id,
        refund=Refund(
            external_id="ref-1",
            created_at=at,
            amount=Decimal("24.50"),
            currency="EUR",
            items=(RefundItem(line_id="l2", quantity=1, amount=Decimal("24.50")),),
        ),
    )


def delayed(
    event_id: str = "evt-delay-1", *, order_id: str = "order-1", at: datetime | None = None
) -> OrderEvent:
    at = at or T0 + timedelta(days=4)
    return OrderEvent(
        kind=EventKind.ORDER_DELAYED,
        source="test",
        source_event_id=event_id,
        occurred_at=at,
        order_id=order_id,
        delay=DelayNotice(
            reason="Our linen delivery arrived a week late.",
            new_estimated_delivery=(at + timedelta(days=7)).date(),
            what_we_will_do="We will ship your order by express at our cost.",
        ),
    )


def welcome(event_id: str = "evt-cust-1", **customer_overrides: Any) -> OrderEvent:
    return OrderEvent(
        kind=EventKind.CUSTOMER_CREATED,
        source="test",
        source_event_id=event_id,
        occurred_at=T0 - timedelta(hours=1),
        customer=customer(**customer_overrides),
    )


def carrier_report(
    event_id: str = "evt-carrier-1",
    *,
    status: str = "delayed",
    at: datetime | None = None,
    fulfilment_id: str = "ful-1",
    estimated: datetime | None = None,
    message: str | None = "Weather delay at the hub",
) -> OrderEvent:
    from aftercare.events import ShipmentUpdate

    at = at or T0 + timedelta(days=3)
    return OrderEvent(
        kind=EventKind.SHIPMENT_UPDATED,
        source="test",
        source_event_id=event_id,
        occurred_at=at,
        order_id="order-1",
        shipment_update=ShipmentUpdate(
            fulfilment_id=fulfilment_id,
            status=status,
            happened_at=at,
            estimated_delivery_at=estimated,
            message=message,
        ),
    )
