"""Sample emails for checking, previewing and benchmarking the templates.

A template is only as good as the orders it has been tried on, so every email kind is
rendered against orders that exercise different parts of it: a domestic order, an
international one (the customs notice), several items (pictures, FAQ answers and
cross-sell cards), a discount, zero tax, a partial shipment ("still to come"), a
shipment in two boxes (a tracking link each) and a partial refund. They are built from
the real event models and go through the real ``merge_event`` and ``build_context``, so a
sample can never hold a fact the pipeline would not produce.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from aftercare.emails.context import build_context
from aftercare.emails.kinds import EmailKind
from aftercare.emails.slots import NO_ENRICHMENT, CrossSellItem, Enrichment, LikelyQuestion
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
    RefundMethod,
    ShipmentItem,
    TaxLine,
)
from aftercare.order_state import OrderState, merge_event
from aftercare.settings import StoreFacts

# Tuesday 4 June 2024, 09:00 in Berlin: an ordinary business week, no holidays near.
PLACED_AT = datetime(2024, 6, 4, 7, 0, tzinfo=UTC)
SHIPPED_AT = datetime(2024, 6, 5, 14, 0, tzinfo=UTC)
DELAYED_AT = datetime(2024, 6, 10, 6, 0, tzinfo=UTC)
REFUNDED_AT = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)
SENT_AT = datetime(2024, 6, 12, 10, 5, tzinfo=UTC)

ORDER_SAMPLES = ("domestic", "international", "multi-item", "discount", "zero tax")
_CDN = "https://cdn.fernandfield.example"


@dataclass(frozen=True)
class SampleEmail:
    """One email to try a template on: its kind, a name for reports, and its facts."""

    kind: EmailKind
    name: str
    event: OrderEvent
    state: OrderState | None
    enriched: bool = False  # with FAQ answers and cross-sell cards

    def context(
        self,
        store: StoreFacts,
        template_locales: Collection[str],
        now: datetime = SENT_AT,
    ) -> dict[str, Any]:
        """The template context the pipeline would build, plus enrichment when sampled."""
        enrichment = sample_enrichment(store) if self.enriched else NO_ENRICHMENT
        return build_context(
            self.kind,
            self.event,
            self.state,
            store,
            now,
            template_locales=template_locales,
            enrichment=enrichment,
        )


def sample_store_facts() -> StoreFacts:
    """The store the check and the preview show when none is given: every optional part set.

    Social links and a rating page are off by default; a sample store without them would
    leave the footer's links and the rating block untried by the check and unseen in the
    preview.
    """
    return StoreFacts(
        social_links={
            "Instagram": "https://www.instagram.com/fernandfield",
            "Pinterest": "https://www.pinterest.com/fernandfield",
        },
        rating_url="https://fernandfield.example/pages/rate-your-order",
    )


def sample_emails(
    locale: str | None = None, time_zone: str | None = None, first_name: str | None = "Anna"
) -> list[SampleEmail]:
    """Every sample of every kind, for a customer in ``locale`` and ``time_zone``."""
    buyer = _customer(locale, time_zone, first_name)
    samples = [
        SampleEmail(EmailKind.WELCOME, "new customer", _welcome(buyer), None),
        SampleEmail(
            EmailKind.WELCOME,
            "no first name",
            _welcome(buyer.model_copy(update={"first_name": None})),
            None,
        ),
    ]
    for name in ORDER_SAMPLES:
        placed = _placed(_order(name), buyer)
        enriched = name == "multi-item"
        samples.append(
            SampleEmail(EmailKind.ORDER_CONFIRMATION, name, placed, _state(placed), enriched)
        )
        shipped = _shipped(_full_parcel(placed))
        samples.append(
            SampleEmail(EmailKind.ORDER_SHIPPED, name, shipped, _state(placed, shipped), enriched)
        )
        delayed = _delayed(coupon=name != "zero tax")
        samples.append(
            SampleEmail(EmailKind.ORDER_DELAYED, name, delayed, _state(placed, delayed), enriched)
        )
        refunded = _refunded(_full_refund(placed))
        samples.append(
            SampleEmail(
                EmailKind.ORDER_REFUNDED, name, refunded, _state(placed, refunded), enriched
            )
        )
    placed = _placed(_order("multi-item"), buyer)
    partial = _shipped(
        Fulfilment(
            external_id="f-1",
            created_at=SHIPPED_AT,
            carrier="DHL",
            tracking_numbers=("00340434161094042557",),
            items=(ShipmentItem(line_id="L1", quantity=1), ShipmentItem(line_id="L3", quantity=1)),
        )
    )
    samples.append(
        SampleEmail(EmailKind.ORDER_SHIPPED, "partial shipment", partial, _state(placed, partial))
    )
    boxes = _shipped(
        _full_parcel(placed).model_copy(
            update={
                "tracking_numbers": ("00340434161094042557", "00340434161094042564"),
                "tracking_urls": tuple(
                    "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html"
                    f"?piececode={number}"
                    for number in ("00340434161094042557", "00340434161094042564")
                ),
            }
        )
    )
    samples.append(SampleEmail(EmailKind.ORDER_SHIPPED, "two boxes", boxes, _state(placed, boxes)))
    stalled = _delayed(coupon=False)
    samples.append(
        SampleEmail(
            EmailKind.ORDER_DELAYED,
            "stalled in transit",
            stalled,
            _state(placed, _shipped(_full_parcel(placed)), stalled),
        )
    )
    refund = _refunded(
        Refund(
            external_id="r-2",
            created_at=REFUNDED_AT,
            amount=Decimal("18.00"),
            currency="EUR",
            method=RefundMethod.CARD,
            items=(RefundItem(line_id="L3", quantity=1, amount=Decimal("18.00")),),
            reason="One mug arrived chipped.",
        )
    )
    samples.append(
        SampleEmail(EmailKind.ORDER_REFUNDED, "partial refund", refund, _state(placed, refund))
    )
    return samples


def sample_enrichment(store: StoreFacts) -> Enrichment:
    """FAQ answers and cross-sell cards as the enrichment steps hand them over."""
    return Enrichment(likely_questions=sample_questions(store), cross_sell=sample_cross_sell())


def sample_questions(store: StoreFacts) -> tuple[LikelyQuestion, ...]:
    """FAQ answers as the FAQ selector hands them over: snippet id, question, answer HTML."""
    return (
        LikelyQuestion(
            snippet_id="change-address",
            question="Can I change my delivery address?",
            answer_html="<p>Yes, until your order ships. Reply to this email with the new"
            " address and we will <strong>update it the same day</strong>.</p>",
            why="sample",
        ),
        LikelyQuestion(
            snippet_id="returns",
            question="How do returns work?",
            answer_html=f"<p>{store.return_policy_summary}</p><p>Start a return from"
            f' <a href="{store.return_policy_url}">our returns page</a>; the label is'
            " free.</p>",
            why="sample",
        ),
    )


def sample_cross_sell() -> tuple[CrossSellItem, ...]:
    return tuple(
        CrossSellItem(
            product_id=slug,
            title=title,
            url=f"https://fernandfield.example/products/{slug}",
            image_url=f"{_CDN}/{slug}.jpg",
            price=price,
            why="sample",
        )
        for title, slug, price in (
            ("Oak spoon", "oak-spoon", "€14.00"),
            ("Linen tea towel", "linen-tea-towel", "€19.00"),
            ("Stoneware bowl", "stoneware-bowl", "€24.00"),
        )
    )


def _customer(locale: str | None, time_zone: str | None, first_name: str | None) -> Customer:
    return Customer(
        external_id="c-1",
        email="anna.keller@example.com",
        first_name=first_name,
        last_name="Keller",
        locale=locale,
        time_zone=time_zone,
    )


def _address(country: str) -> Address:
    if country == "CH":
        return Address(
            name="Anna Keller",
            line1="Bahnhofstrasse 21",
            city="Zürich",
            postal_code="8001",
            country_code="CH",
        )
    return Address(
        name="Anna Keller",
        line1="Karl-Liebknecht-Str. 12",
        line2="Hinterhaus, 3. OG",
        city="Leipzig",
        postal_code="04107",
        country_code="DE",
    )


def _items(name: str) -> tuple[LineItem, ...]:
    apron = LineItem(
        line_id="L1",
        title="Linen apron",
        variant_title="Sage",
        quantity=1,
        unit_price=Decimal("39.00"),
        image_url=f"{_CDN}/apron.jpg",
    )
    if name == "multi-item":
        return (
            apron,
            LineItem(
                line_id="L2",
                title="Beeswax wraps",
                variant_title="Set of 3",
                quantity=3,
                unit_price=Decimal("12.50"),
                image_url=f"{_CDN}/wraps.jpg",
            ),
            LineItem(
                line_id="L3",
                title="Enamel mug",
                quantity=2,
                unit_price=Decimal("18.00"),
                image_url=f"{_CDN}/mug.jpg",
            ),
            LineItem(line_id="L4", title="Gift wrapping", quantity=1, unit_price=Decimal("3.00")),
        )
    if name == "discount":
        return (
            apron.model_copy(update={"quantity": 2, "total_discount": Decimal("7.80")}),
            LineItem(line_id="L2", title="Beeswax wraps", quantity=1, unit_price=Decimal("12.50")),
        )
    if name == "international":
        return (
            apron,
            LineItem(line_id="L3", title="Enamel mug", quantity=2, unit_price=Decimal("18.00")),
        )
    return (apron,)


def _order(name: str) -> Order:
    items = _items(name)
    subtotal = sum((i.unit_price * i.quantity for i in items), Decimal(0))
    line_discounts = sum((i.total_discount for i in items), Decimal(0))
    code_discount = Decimal("5.00") if name == "discount" else Decimal(0)
    shipping = Decimal("14.90") if name == "international" else Decimal("4.90")
    total = subtotal - line_discounts - code_discount + shipping
    if name == "zero tax":
        costs = Costs(subtotal=subtotal, shipping=shipping, total=total)
    else:
        vat = (total * Decimal("0.19") / Decimal("1.19")).quantize(Decimal("0.01"))
        costs = Costs(
            subtotal=subtotal,
            discounts=line_discounts + code_discount,
            discount_codes=("SUMMER5",) if name == "discount" else (),
            shipping=shipping,
            taxes=vat,
            taxes_included=True,
            tax_lines=(TaxLine(title="VAT", rate=Decimal("0.19"), amount=vat),),
            total=total,
        )
    return Order(
        external_id="o-1001",
        number="#1001",
        placed_at=PLACED_AT,
        currency="EUR",
        line_items=items,
        costs=costs,
        shipping_address=_address("CH" if name == "international" else "DE"),
        status_url="https://fernandfield.example/account/orders/1001",
    )


def _welcome(customer: Customer) -> OrderEvent:
    return OrderEvent(
        kind=EventKind.CUSTOMER_CREATED,
        source="sample",
        source_event_id="welcome",
        occurred_at=PLACED_AT,
        customer=customer,
    )


def _placed(order: Order, customer: Customer) -> OrderEvent:
    return OrderEvent(
        kind=EventKind.ORDER_PLACED,
        source="sample",
        source_event_id="placed",
        occurred_at=PLACED_AT,
        customer=customer,
        order=order,
    )


def _full_parcel(placed: OrderEvent) -> Fulfilment:
    assert placed.order is not None
    return Fulfilment(
        external_id="f-1",
        created_at=SHIPPED_AT,
        carrier="DHL",
        tracking_numbers=("00340434161094042557",),
        tracking_urls=(
            "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html"
            "?piececode=00340434161094042557",
        ),
        items=tuple(
            ShipmentItem(line_id=i.line_id, quantity=i.quantity) for i in placed.order.line_items
        ),
    )


def _shipped(parcel: Fulfilment) -> OrderEvent:
    return OrderEvent(
        kind=EventKind.ORDER_SHIPPED,
        source="sample",
        source_event_id=f"shipped-{parcel.external_id}",
        occurred_at=parcel.created_at,
        order_id="o-1001",
        fulfilment=parcel,
    )


def _delayed(coupon: bool) -> OrderEvent:
    return OrderEvent(
        kind=EventKind.ORDER_DELAYED,
        source="sample",
        source_event_id="delayed",
        occurred_at=DELAYED_AT,
        order_id="o-1001",
        delay=DelayNotice(
            reason="Our linen supplier delivered the sage fabric two weeks late.",
            new_estimated_delivery=date(2024, 6, 21),
            what_we_will_do="We will sew your apron first thing when the fabric arrives"
            " and ship it by express at our cost.",
            coupon_code="SORRY15" if coupon else None,
            coupon_description="15% off your next order" if coupon else None,
        ),
    )


def _full_refund(placed: OrderEvent) -> Refund:
    assert placed.order is not None
    return Refund(
        external_id="r-1",
        created_at=REFUNDED_AT,
        amount=placed.order.costs.total,
        currency="EUR",
        reason="You cancelled the order before it shipped.",
    )


def _refunded(refund: Refund) -> OrderEvent:
    return OrderEvent(
        kind=EventKind.ORDER_REFUNDED,
        source="sample",
        source_event_id=f"refunded-{refund.external_id}",
        occurred_at=refund.created_at,
        order_id="o-1001",
        refund=refund,
    )


def _state(*events: OrderEvent) -> OrderState:
    state: OrderState | None = None
    for event in events:
        state = merge_event(state, event)
    assert state is not None
    return state
