"""Sample customers, orders and events of the demo store, built from the real models.

One small order at Fern & Field, the demo store: Anna Keller in Leipzig buys a linen
apron, beeswax wraps and two enamel mugs (order o-1001, "#1001") on Tuesday 4 June 2024,
09:00 in Berlin, an ordinary business week with no holidays near; the parcel ships the next
day, a delay follows, then a refund for a chipped mug. Every builder returns a real model
(``Customer``, ``Order``, ``OrderEvent``...), so a sample is validated like a store's event
and can never hold a fact the pipeline would not accept.

Each builder takes keyword overrides, so a test states only what it is about (an order
shipping to Switzerland is ``order(shipping_address=address(country_code="CH", ...))``)
and the rest stays a plausible order whose totals add up.

The tests, the template check and the preview (through ``aftercare.authoring.samples``)
and the benches all build their orders here, so there is one set of sample facts to read
and to keep right.
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
    RefundItem,
    ShipmentItem,
    ShipmentStatus,
    ShipmentUpdate,
    TaxLine,
)
from aftercare.order_state import OrderState, merge_event

__all__ = [
    "CARRIER_REPORTED_AT",
    "DELAYED_AT",
    "PLACED_AT",
    "REFUNDED_AT",
    "SENT_AT",
    "SHIPPED_AT",
    "SIGNED_UP_AT",
    "SOURCE",
    "address",
    "carrier_report",
    "costs",
    "customer",
    "delay_notice",
    "delayed",
    "fulfilment",
    "line_items",
    "order",
    "placed",
    "refund",
    "refunded",
    "shipped",
    "state_after",
    "welcome",
]

SOURCE = "sample"
"""The ``source`` of every sample event, so sample data never passes for a real store's."""

# The story's moments, in the order the events happen (the inbox claims them in this order).
SIGNED_UP_AT = datetime(2024, 6, 4, 6, 0, tzinfo=UTC)
PLACED_AT = datetime(2024, 6, 4, 7, 0, tzinfo=UTC)  # Tuesday 09:00 in Berlin
SHIPPED_AT = datetime(2024, 6, 5, 14, 0, tzinfo=UTC)
CARRIER_REPORTED_AT = datetime(2024, 6, 7, 9, 0, tzinfo=UTC)
DELAYED_AT = datetime(2024, 6, 10, 6, 0, tzinfo=UTC)
REFUNDED_AT = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)
SENT_AT = datetime(2024, 6, 12, 10, 5, tzinfo=UTC)
"""When the sample emails are written: after every event of the story."""

_ORDER_ID = "o-1001"
_CDN = "https://cdn.fernandfield.example"
_DHL_NUMBER = "00340434161094042557"
_DHL_PAGE = "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode="


def customer(**overrides: Any) -> Customer:
    """Anna Keller, with no locale or time zone: the store's are used."""
    fields: dict[str, Any] = dict(
        external_id="c-1", email="anna.keller@example.com", first_name="Anna", last_name="Keller"
    )
    return Customer(**(fields | overrides))


def welcome(
    event_id: str = "evt-welcome",
    *,
    at: datetime = SIGNED_UP_AT,
    source: str = SOURCE,
    **customer_overrides: Any,
) -> OrderEvent:
    """Anna opens an account, an hour before she orders."""
    return _event(
        EventKind.CUSTOMER_CREATED, event_id, at, source, customer=customer(**customer_overrides)
    )


def address(**overrides: Any) -> Address:
    """Anna's address in Leipzig: a domestic parcel for a store that ships from Germany."""
    fields: dict[str, Any] = {
        "name": "Anna Keller",
        "line1": "Karl-Liebknecht-Str. 12",
        "city": "Leipzig",
        "postal_code": "04107",
        "country_code": "DE",
    }
    return Address(**(fields | overrides))


def line_items() -> tuple[LineItem, ...]:
    """The apron (L1), three sets of beeswax wraps (L2) and two enamel mugs (L3)."""
    return tuple(
        LineItem(
            line_id=line_id,
            product_id=product_id,
            title=title,
            variant_title=variant,
            quantity=quantity,
            unit_price=Decimal(price),
            image_url=f"{_CDN}/{picture}",
        )
        for line_id, product_id, title, variant, quantity, price, picture in (
            ("L1", "linen-apron", "Linen apron", "Sage", 1, "39.00", "apron.jpg"),
            ("L2", "beeswax-wraps", "Beeswax wraps", "Set of 3", 3, "12.50", "wraps.jpg"),
            ("L3", "enamel-mug", "Enamel mug", None, 2, "18.00", "mug.jpg"),
        )
    )


def costs(**overrides: Any) -> Costs:
    """The costs of ``line_items()``: a welcome code, shipping, and German VAT included."""
    fields: dict[str, Any] = {
        "subtotal": Decimal("112.50"),
        "discounts": Decimal("10.00"),
        "discount_codes": ("WELCOME10",),
        "shipping": Decimal("4.90"),
        "taxes": Decimal("17.15"),
        "taxes_included": True,
        "tax_lines": (TaxLine(title="VAT", rate=Decimal("0.19"), amount=Decimal("17.15")),),
        "total": Decimal("107.40"),
    }
    return Costs(**(fields | overrides))


def order(**overrides: Any) -> Order:
    """Order o-1001 ("#1001"), placed at ``PLACED_AT``, shipping to ``address()``."""
    fields: dict[str, Any] = {
        "external_id": _ORDER_ID,
        "number": "#1001",
        "placed_at": PLACED_AT,
        "currency": "EUR",
        "line_items": line_items(),
        "costs": costs(),
        "shipping_address": address(),
        "status_url": "https://fernandfield.example/account/orders/1001",
    }
    return Order(**(fields | overrides))


def placed(
    event_id: str = "evt-placed",
    *,
    at: datetime = PLACED_AT,
    customer: Customer | None = None,
    order: Order | None = None,
    source: str = SOURCE,
    **order_overrides: Any,
) -> OrderEvent:
    """The order is placed: ``order`` as given, else ``order(**order_overrides)``."""
    if order is not None and order_overrides:
        raise TypeError("placed() takes an order or overrides for the sample order, not both")
    return _event(
        EventKind.ORDER_PLACED,
        event_id,
        at,
        source,
        customer=customer if customer is not None else _customer(),
        order=order if order is not None else _order(**order_overrides),
    )


def shipped(
    event_id: str | None = None,
    *,
    order_id: str = _ORDER_ID,
    fulfilment_id: str = "f-1",
    lines: tuple[tuple[str, int], ...] | None = None,
    at: datetime | None = None,
    fulfilment: Fulfilment | None = None,
    source: str = SOURCE,
) -> OrderEvent:
    """A parcel ships: ``fulfilment`` as given, else ``fulfilment()`` with this id, time
    and ``lines`` (``(line_id, quantity)`` pairs; by default the whole order)."""
    if fulfilment is not None and lines is not None:
        raise TypeError("shipped() takes a fulfilment or the lines of the sample one, not both")
    if fulfilment is None:
        parts: dict[str, Any] = {"external_id": fulfilment_id, "created_at": at or SHIPPED_AT}
        if lines is not None:
            parts["items"] = tuple(ShipmentItem(line_id=line, quantity=q) for line, q in lines)
        fulfilment = _fulfilment(**parts)
    event_id = event_id or f"evt-shipped-{fulfilment.external_id}"
    at = at or fulfilment.created_at
    return _event(
        EventKind.ORDER_SHIPPED, event_id, at, source, order_id=order_id, fulfilment=fulfilment
    )


def fulfilment(**overrides: Any) -> Fulfilment:
    """Everything in one DHL parcel, with the tracking page DHL gave the store."""
    fields: dict[str, Any] = {
        "external_id": "f-1",
        "created_at": SHIPPED_AT,
        "carrier": "DHL",
        "tracking_numbers": (_DHL_NUMBER,),
        "tracking_urls": (_DHL_PAGE + _DHL_NUMBER,),
        "items": tuple(ShipmentItem(line_id=i.line_id, quantity=i.quantity) for i in line_items()),
    }
    return Fulfilment(**(fields | overrides))


def carrier_report(
    event_id: str = "evt-carrier",
    *,
    status: ShipmentStatus | str = ShipmentStatus.DELAYED,
    at: datetime = CARRIER_REPORTED_AT,
    order_id: str = _ORDER_ID,
    fulfilment_id: str = "f-1",
    estimated: datetime | None = None,
    message: str | None = "Weather delay at the hub",
    source: str = SOURCE,
) -> OrderEvent:
    """The carrier reports on parcel ``fulfilment_id``: by default, a delay."""
    report = ShipmentUpdate(
        fulfilment_id=fulfilment_id,
        status=status,
        happened_at=at,
        estimated_delivery_at=estimated,
        message=message,
    )
    return _event(
        EventKind.SHIPMENT_UPDATED, event_id, at, source, order_id=order_id, shipment_update=report
    )


def delayed(
    event_id: str = "evt-delayed",
    *,
    order_id: str = _ORDER_ID,
    at: datetime = DELAYED_AT,
    notice: DelayNotice | None = None,
    source: str = SOURCE,
    **notice_overrides: Any,
) -> OrderEvent:
    """The store says the order is late: ``notice``, else ``delay_notice(**overrides)``."""
    if notice is not None and notice_overrides:
        raise TypeError("delayed() takes a notice or overrides for the sample one, not both")
    notice = notice if notice is not None else delay_notice(**notice_overrides)
    return _event(EventKind.ORDER_DELAYED, event_id, at, source, order_id=order_id, delay=notice)


def delay_notice(**overrides: Any) -> DelayNotice:
    """The store's apology: late fabric, a new date, what it will do, and a coupon."""
    fields: dict[str, Any] = {
        "reason": "Our linen supplier delivered the sage fabric two weeks late.",
        "new_estimated_delivery": date(2024, 6, 21),
        "what_we_will_do": "We will sew your apron first thing when the fabric arrives"
        " and ship it by express at our cost.",
        "coupon_code": "SORRY15",
        "coupon_description": "15% off your next order",
    }
    return DelayNotice(**(fields | overrides))


def refunded(
    event_id: str | None = None,
    *,
    order_id: str = _ORDER_ID,
    at: datetime | None = None,
    refund: Refund | None = None,
    source: str = SOURCE,
    **refund_overrides: Any,
) -> OrderEvent:
    """Money goes back: ``refund`` as given, else ``refund(**overrides)`` made at ``at``."""
    if refund is not None and (refund_overrides or at is not None):
        raise TypeError("refunded() takes a refund or overrides for the sample one, not both")
    if refund is None:
        refund = _refund(**({"created_at": at} if at is not None else {}) | refund_overrides)
    event_id = event_id or f"evt-refunded-{refund.external_id}"
    return _event(
        EventKind.ORDER_REFUNDED,
        event_id,
        refund.created_at,
        source,
        order_id=order_id,
        refund=refund,
    )


def refund(**overrides: Any) -> Refund:
    """One enamel mug (L3) refunded to the original payment: it arrived chipped."""
    fields: dict[str, Any] = {
        "external_id": "r-1",
        "created_at": REFUNDED_AT,
        "amount": Decimal("18.00"),
        "currency": "EUR",
        "items": (RefundItem(line_id="L3", quantity=1, amount=Decimal("18.00")),),
        "reason": "One mug arrived chipped.",
    }
    return Refund(**(fields | overrides))


def _event(kind: EventKind, event_id: str, at: datetime, source: str, **parts: Any) -> OrderEvent:
    return OrderEvent(kind=kind, source=source, source_event_id=event_id, occurred_at=at, **parts)


def state_after(*events: OrderEvent) -> OrderState:
    """The order state the pipeline would hold after these events, merged in order."""
    state: OrderState | None = None
    for event in events:
        state = merge_event(state, event)
    if state is None:
        raise ValueError("state_after needs at least one event about an order")
    return state


# The builders whose arguments are named after a builder (``placed(order=...)``) call it so.
_customer, _order, _fulfilment, _refund = customer, order, fulfilment, refund
