"""Sample customers, orders and events for the email tests, built from the real models.

Each factory takes keyword overrides so a test states only what it is about ("an order
shipping to Switzerland"), and the rest is a plausible small-store order.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
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
    ShipmentItem,
)
from aftercare.order_state import OrderState, merge_event
from aftercare.settings import StoreFacts

# Tuesday 4 June 2024, 09:00 in Berlin: a plain business week, no holidays near.
PLACED_AT = datetime(2024, 6, 4, 7, 0, tzinfo=UTC)
NOW = datetime(2024, 6, 4, 7, 5, tzinfo=UTC)


def store(**overrides: Any) -> StoreFacts:
    return StoreFacts(**overrides)


def customer(**overrides: Any) -> Customer:
    fields: dict[str, Any] = {
        "external_id": "c-1",
        "email": "anna.keller@example.com",
        "first_name": "Anna",
        "last_name": "Keller",
    }
    return Customer(**(fields | overrides))


def address(**overrides: Any) -> Address:
    fields: dict[str, Any] = {
        "name": "Anna Keller",
        "line1": "Karl-Liebknecht-Str. 12",
        "city": "Leipzig",
        "postal_code": "04107",
        "country_code": "DE",
    }
    return Address(**(fields | overrides))


def line_items() -> tuple[LineItem, ...]:
    return (
        LineItem(
            line_id="L1",
            title="Linen apron",
            variant_title="Sage",
            quantity=1,
            unit_price=Decimal("39.00"),
            image_url="https://cdn.fernandfield.example/apron.jpg",
        ),
        LineItem(line_id="L2", title="Beeswax wraps", quantity=3, unit_price=Decimal("12.50")),
        LineItem(line_id="L3", title="Enamel mug", quantity=2, unit_price=Decimal("18.00")),
    )


def costs(**overrides: Any) -> Costs:
    fields: dict[str, Any] = {
        "subtotal": Decimal("112.50"),
        "discounts": Decimal("10.00"),
        "discount_codes": ("WELCOME10",),
        "shipping": Decimal("4.90"),
        "taxes": Decimal("17.15"),
        "taxes_included": True,
        "total": Decimal("107.40"),
    }
    return Costs(**(fields | overrides))


def order(**overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "external_id": "o-1001",
        "number": "#1001",
        "placed_at": PLACED_AT,
        "currency": "EUR",
        "line_items": line_items(),
        "costs": costs(),
        "shipping_address": address(),
        "status_url": "https://fernandfield.example/account/orders/1001",
    }
    return Order(**(fields | overrides))


def welcome_event(**customer_overrides: Any) -> OrderEvent:
    return OrderEvent(
        kind=EventKind.CUSTOMER_CREATED,
        source="shopify",
        source_event_id="evt-welcome",
        occurred_at=NOW,
        customer=customer(**customer_overrides),
    )


def placed_event(
    the_order: Order | None = None, the_customer: Customer | None = None
) -> OrderEvent:
    return OrderEvent(
        kind=EventKind.ORDER_PLACED,
        source="shopify",
        source_event_id="evt-placed",
        occurred_at=PLACED_AT,
        customer=the_customer or customer(),
        order=the_order or order(),
    )


def fulfilment(**overrides: Any) -> Fulfilment:
    fields: dict[str, Any] = {
        "external_id": "f-1",
        "created_at": datetime(2024, 6, 5, 14, 0, tzinfo=UTC),
        "carrier": "DHL",
        "tracking_numbers": ("00340434161094042557",),
        "tracking_urls": (
            "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=00340434161094042557",
        ),
        "items": (
            ShipmentItem(line_id="L1", quantity=1),
            ShipmentItem(line_id="L2", quantity=3),
            ShipmentItem(line_id="L3", quantity=2),
        ),
    }
    return Fulfilment(**(fields | overrides))


def shipped_event(the_fulfilment: Fulfilment | None = None) -> OrderEvent:
    return OrderEvent(
        kind=EventKind.ORDER_SHIPPED,
        source="shopify",
        source_event_id=f"evt-shipped-{(the_fulfilment or fulfilment()).external_id}",
        occurred_at=datetime(2024, 6, 5, 14, 1, tzinfo=UTC),
        order_id="o-1001",
        fulfilment=the_fulfilment or fulfilment(),
    )


def delay_notice(**overrides: Any) -> DelayNotice:
    fields: dict[str, Any] = {
        "reason": "Our linen supplier delivered the sage fabric two weeks late.",
        "new_estimated_delivery": date(2024, 6, 21),
        "what_we_will_do": "We will sew your apron first thing when the fabric arrives"
        " and ship it by express at our cost.",
        "coupon_code": "SORRY15",
        "coupon_description": "15% off your next order",
    }
    return DelayNotice(**(fields | overrides))


def delayed_event(notice: DelayNotice | None = None) -> OrderEvent:
    return OrderEvent(
        kind=EventKind.ORDER_DELAYED,
        source="delay_scan",
        source_event_id="evt-delayed",
        occurred_at=datetime(2024, 6, 10, 6, 0, tzinfo=UTC),
        order_id="o-1001",
        delay=notice or delay_notice(),
    )


def refund(**overrides: Any) -> Refund:
    fields: dict[str, Any] = {
        "external_id": "r-1",
        "created_at": datetime(2024, 6, 12, 10, 0, tzinfo=UTC),
        "amount": Decimal("36.00"),
        "currency": "EUR",
        "items": (),
        "reason": "One mug arrived chipped.",
    }
    return Refund(**(fields | overrides))


def refunded_event(the_refund: Refund | None = None) -> OrderEvent:
    return OrderEvent(
        kind=EventKind.ORDER_REFUNDED,
        source="shopify",
        source_event_id="evt-refunded",
        occurred_at=datetime(2024, 6, 12, 10, 1, tzinfo=UTC),
        order_id="o-1001",
        refund=the_refund or refund(),
    )


def state_after(*events: OrderEvent) -> OrderState:
    """The order state the pipeline would hold after these events, merged in order."""
    state: OrderState | None = None
    for event in events:
        state = merge_event(state, event)
    assert state is not None
    return state
