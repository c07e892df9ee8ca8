"""Sample emails for checking, previewing and benchmarking the templates.

A template is only as good as the orders it has been tried on, so every email kind is
rendered against orders that exercise different parts of it: a domestic order, an
international one (the customs notice), several items (pictures, FAQ answers and
cross-sell cards), a discount, zero tax, a partial shipment ("still to come"), a
shipment in two boxes (a tracking link each) and a partial refund. Their customer, orders
and events are the demo store's samples (``aftercare.sample_store.orders``, the real event
models) and go through the real ``merge_event`` and ``build_context``, so a sample can
never hold a fact the pipeline would not produce.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from aftercare.emails.context import build_context
from aftercare.emails.kinds import EmailKind
from aftercare.emails.slots import NO_ENRICHMENT, CrossSellItem, Enrichment, LikelyQuestion
from aftercare.enrichment.faq.snippets import SnippetLibrary, load_snippets
from aftercare.errors import TemplateError
from aftercare.events import (
    LineItem,
    Order,
    OrderEvent,
    RefundItem,
    RefundMethod,
    ShipmentItem,
    ShipmentStatus,
    TaxLine,
)
from aftercare.order_state import OrderState
from aftercare.rendering.locale_format import FALLBACK_LANGUAGE
from aftercare.sample_store import orders
from aftercare.sample_store.orders import (
    DELAYED_AT,
    PLACED_AT,
    REFUNDED_AT,
    SENT_AT,
    SHIPPED_AT,
    state_after,
)
from aftercare.settings import PROJECT_ROOT, StoreFacts

__all__ = [
    "DELAYED_AT",
    "DELIVERED_AT",
    "LARGE_ORDER_LINES",
    "ORDER_SAMPLES",
    "PLACED_AT",
    "REFUNDED_AT",
    "SENT_AT",
    "SHIPPED_AT",
    "SampleEmail",
    "large_order",
    "sample_cross_sell",
    "sample_emails",
    "sample_enrichment",
    "sample_questions",
    "sample_store_facts",
]

# "200 lines": a café restocking its shelves, past the lines an email lists
# (``StoreFacts.max_item_lines``): the list ends in "and 180 more items" and a link to the
# order, and the email stays far below Gmail's clipping size in every language.
LARGE_ORDER_LINES = 200
_LARGE = f"{LARGE_ORDER_LINES} lines"
ORDER_SAMPLES = ("domestic", "international", "multi-item", "discount", "zero tax", _LARGE)
# When DHL scans the sample parcels delivered: two days after they left.
DELIVERED_AT = datetime(2024, 6, 7, 11, 30, tzinfo=UTC)
_CDN = "https://cdn.fernandfield.example"


@dataclass(frozen=True)
class SampleEmail:
    """One email to try a template on: its kind, a name for reports, and its facts."""

    kind: EmailKind
    name: str
    event: OrderEvent
    state: OrderState | None
    enriched: bool = False  # with FAQ answers and cross-sell cards
    # When it goes out: a few minutes after its event, unless the sample is about an email
    # sent late (its past dates are left out, and the template must still read right).
    sent_at: datetime | None = None

    def context(
        self,
        store: StoreFacts,
        template_locales: Collection[str],
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """The template context the pipeline would build, plus enrichment when sampled."""
        customer = self.event.customer or (self.state.customer if self.state else None)
        locale = customer.locale if customer and customer.locale else None
        enrichment = sample_enrichment(store, locale) if self.enriched else NO_ENRICHMENT
        context = build_context(
            self.kind,
            self.event,
            self.state,
            store,
            now or self.sent_at or self.event.occurred_at + timedelta(minutes=5),
            template_locales=template_locales,
            enrichment=enrichment,
        )
        if enrichment.cross_sell:
            # Every email with recommendations carries its one-click opt-out.
            context["cross_sell_opt_out_url"] = f"{store.website_url}opt-out/sample-token"
        return context


def sample_store_facts() -> StoreFacts:
    """The store the check and the preview show when none is given: every optional part set.

    Social links, a rating page and a review page are off by default; a sample store
    without them would leave the footer's links, the rating block and the review line
    untried by the check and unseen in the preview.
    """
    return StoreFacts(
        social_links={
            "Instagram": "https://www.instagram.com/fernandfield",
            "Pinterest": "https://www.pinterest.com/fernandfield",
        },
        rating_url="https://fernandfield.example/pages/rate-your-order",
        review_url="https://fernandfield.example/pages/reviews",
    )


def sample_emails(
    locale: str | None = None, time_zone: str | None = None, first_name: str | None = "Anna"
) -> list[SampleEmail]:
    """Every sample of every kind, for a customer in ``locale`` and ``time_zone``."""
    buyer = {"locale": locale, "time_zone": time_zone, "first_name": first_name}
    samples = [
        SampleEmail(EmailKind.WELCOME, "new customer", orders.welcome(**buyer), None),
        SampleEmail(
            EmailKind.WELCOME,
            "no first name",
            orders.welcome(**(buyer | {"first_name": None})),
            None,
        ),
    ]
    for name in ORDER_SAMPLES:
        placed = orders.placed(customer=orders.customer(**buyer), order=_sample_order(name))
        # The large order too: the size check must see its list beside the FAQ answers.
        enriched = name in ("multi-item", _LARGE)
        samples.append(
            SampleEmail(EmailKind.ORDER_CONFIRMATION, name, placed, state_after(placed), enriched)
        )
        shipped = _whole_order_shipped(placed)
        samples.append(
            SampleEmail(
                EmailKind.ORDER_SHIPPED, name, shipped, state_after(placed, shipped), enriched
            )
        )
        delayed = orders.delayed() if name != "zero tax" else _delayed_without_coupon()
        samples.append(
            SampleEmail(
                EmailKind.ORDER_DELAYED, name, delayed, state_after(placed, delayed), enriched
            )
        )
        delivered = _delivered("f-1")
        samples.append(
            SampleEmail(
                EmailKind.ORDER_DELIVERED,
                name,
                delivered,
                state_after(placed, shipped, delivered),
                enriched,
            )
        )
        refunded = orders.refunded(
            amount=_order_of(placed).costs.total,
            # The large order's refund names every line, so its own list is cut too.
            items=_every_line_refunded(_order_of(placed)) if name == _LARGE else (),
            reason="You cancelled the order before it shipped.",
        )
        samples.append(
            SampleEmail(
                EmailKind.ORDER_REFUNDED, name, refunded, state_after(placed, refunded), enriched
            )
        )
    placed = orders.placed(customer=orders.customer(**buyer), order=_sample_order("multi-item"))
    # The apron and one mug; no tracking page from the store, so the number is linked.
    partial = orders.shipped(
        fulfilment=orders.fulfilment(
            tracking_urls=(),
            items=(ShipmentItem(line_id="L1", quantity=1), ShipmentItem(line_id="L3", quantity=1)),
        )
    )
    samples.append(
        SampleEmail(
            EmailKind.ORDER_SHIPPED, "partial shipment", partial, state_after(placed, partial)
        )
    )
    numbers = ("00340434161094042557", "00340434161094042564")
    boxes = orders.shipped(
        fulfilment=_whole_order_shipped(placed).fulfilment.model_copy(
            update={
                "tracking_numbers": numbers,
                "tracking_urls": tuple(
                    "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html"
                    f"?piececode={number}"
                    for number in numbers
                ),
            }
        )
    )
    samples.append(
        SampleEmail(EmailKind.ORDER_SHIPPED, "two boxes", boxes, state_after(placed, boxes))
    )
    stalled = _delayed_without_coupon()
    samples.append(
        SampleEmail(
            EmailKind.ORDER_DELAYED,
            "stalled in transit",
            stalled,
            state_after(placed, _whole_order_shipped(placed), stalled),
        )
    )
    refund = orders.refunded(external_id="r-2", method=RefundMethod.CARD)  # one chipped mug
    samples.append(
        SampleEmail(EmailKind.ORDER_REFUNDED, "partial refund", refund, state_after(placed, refund))
    )
    samples.extend(_delivered_in_two_parcels(placed))
    samples.append(_large_order_half_shipped(buyer))
    samples.extend(_sent_late(placed))
    return samples


def _delivered_in_two_parcels(placed: OrderEvent) -> list[SampleEmail]:
    """The multi-item order in two parcels: the first one's delivered email lists what is
    still on its way and asks nothing; the last one's completes the order and asks for the
    rating and the review."""
    first = orders.shipped(fulfilment_id="f-1", lines=(("L1", 1), ("L3", 1)))
    number = "00340434161094042564"
    rest = orders.shipped(
        fulfilment=orders.fulfilment(
            external_id="f-2",
            created_at=SHIPPED_AT + timedelta(days=1),
            tracking_numbers=(number,),
            tracking_urls=(
                f"https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode={number}",
            ),
            items=tuple(
                ShipmentItem(line_id=line, quantity=quantity)
                for line, quantity in (("L2", 3), ("L3", 1), ("L4", 1))
            ),
        )
    )
    first_arrived = _delivered("f-1")
    rest_arrived = _delivered("f-2", DELIVERED_AT + timedelta(days=1), message=None)
    return [
        SampleEmail(
            EmailKind.ORDER_DELIVERED,
            "first of two parcels",
            first_arrived,
            state_after(placed, first, rest, first_arrived),
        ),
        SampleEmail(
            EmailKind.ORDER_DELIVERED,
            "last of two parcels",
            rest_arrived,
            state_after(placed, first, rest, first_arrived, rest_arrived),
        ),
    ]


def _large_order_half_shipped(buyer: dict[str, Any]) -> SampleEmail:
    """The large order's first parcel, 120 of its lines: both lists are long, and share the
    lines the email shows."""
    placed = orders.placed(customer=orders.customer(**buyer), order=large_order())
    lines = _order_of(placed).line_items[:120]
    first = orders.shipped(lines=tuple((i.line_id, i.quantity) for i in lines))
    return SampleEmail(
        EmailKind.ORDER_SHIPPED, f"{_LARGE}, first parcel", first, state_after(placed, first)
    )


def _delivered(
    fulfilment_id: str,
    at: datetime = DELIVERED_AT,
    message: str | None = "Delivered to your neighbour at no. 12",
) -> OrderEvent:
    """DHL's scan: parcel ``fulfilment_id`` delivered."""
    return orders.carrier_report(
        f"evt-delivered-{fulfilment_id}",
        status=ShipmentStatus.DELIVERED,
        at=at,
        fulfilment_id=fulfilment_id,
        message=message,
    )


def _sent_late(placed: OrderEvent) -> list[SampleEmail]:
    """Emails that go out after the dates they would show have passed (a replay, a backlog):
    each template must read right with those dates left out."""
    promised = replace(
        state_after(placed),
        promised_ship_by=date(2024, 6, 7),
        promised_deliver_by=date(2024, 6, 12),
    )
    shipped = _whole_order_shipped(placed)
    refund = orders.refunded(external_id="r-3", method=RefundMethod.CARD)
    return [
        SampleEmail(
            EmailKind.ORDER_CONFIRMATION,
            "replayed after its ship-by date",
            placed,
            promised,
            sent_at=datetime(2024, 6, 14, 9, 0, tzinfo=UTC),
        ),
        SampleEmail(
            EmailKind.ORDER_SHIPPED,
            "sent after its estimate",
            shipped,
            state_after(placed, shipped),
            sent_at=shipped.occurred_at + timedelta(days=12),
        ),
        SampleEmail(
            EmailKind.ORDER_REFUNDED,
            "sent after the statement days",
            refund,
            state_after(placed, refund),
            sent_at=refund.occurred_at + timedelta(days=30),
        ),
    ]


def sample_enrichment(store: StoreFacts, locale: str | None = None) -> Enrichment:
    """FAQ answers and cross-sell cards as the enrichment steps hand them over."""
    return Enrichment(
        likely_questions=sample_questions(store, locale), cross_sell=sample_cross_sell()
    )


# The shipped answers the samples show, in the sample customer's language where it has them.
_SAMPLE_SNIPPETS = ("change-address", "returns-how")


@cache
def _shipped_snippets() -> SnippetLibrary | None:
    folder = PROJECT_ROOT / "faq_snippets"
    try:
        return load_snippets(folder) if folder.is_dir() else None
    except TemplateError:
        return None  # a broken snippet is the snippet check's to report


def sample_questions(store: StoreFacts, locale: str | None = None) -> tuple[LikelyQuestion, ...]:
    """FAQ answers as the FAQ selector hands them over: snippet id, question, answer HTML.

    For a customer in another language, the shipped snippets in that language (so a
    Russian sample email shows Russian answers, as a Russian customer's would)."""
    library = _shipped_snippets()
    if locale and library is not None:
        language = locale.replace("_", "-").split("-")[0]
        folder = next(
            (
                name
                for name in library.locales
                if name == locale.replace("_", "-") or name.split("-")[0] == language
            ),
            None,
        )
        found = [library.get(folder, i) for i in _SAMPLE_SNIPPETS] if folder else []
        if folder and folder != FALLBACK_LANGUAGE and all(found):
            return tuple(
                LikelyQuestion(
                    snippet_id=snippet.id,
                    question=snippet.question,
                    answer_html=snippet.answer_html,
                    answer_text=snippet.answer_text,
                    why="sample",
                )
                for snippet in found
                if snippet is not None
            )
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
            stock_left=left,
        )
        for title, slug, price, left in (
            ("Oak spoon", "oak-spoon", "€14.00", None),
            ("Linen tea towel", "linen-tea-towel", "€19.00", None),
            # The urgency line a store may switch on (AFTERCARE_CROSS_SELL__URGENCY_BELOW).
            ("Stoneware bowl", "stoneware-bowl", "€24.00", 3),
        )
    )


# A line without a picture or product: the layout must do without them.
_GIFT_WRAPPING = LineItem(
    line_id="L4", title="Gift wrapping", quantity=1, unit_price=Decimal("3.00")
)


# What the café orders: each product in every colour or size the shop makes.
_CAFE_RANGE = (
    ("Enamel mug", "enamel-mug", "18.00", ("White", "Sage", "Ink blue", "Rust", "Oat")),
    ("Stoneware bowl", "stoneware-bowl", "24.00", ("Small", "Medium", "Large", "Serving")),
    ("Linen tea towel", "linen-tea-towel", "19.00", ("Natural", "Sage stripe", "Charcoal")),
    ("Beeswax wraps", "beeswax-wraps", "12.50", ("Set of 3", "Set of 5", "Bread wrap")),
    ("Oak spoon", "oak-spoon", "14.00", ("Teaspoon", "Tablespoon", "Serving spoon")),
    ("Linen apron", "linen-apron", "39.00", ("Sage", "Charcoal", "Natural")),
    ("Hand-thrown stoneware plate with a speckled glaze", "stoneware-plate", "28.50", None),
)


def large_order(lines: int = LARGE_ORDER_LINES) -> Order:
    """An order of ``lines`` lines (a café stocking up), its costs adding up to its total.

    Quantities of one to four (so its summary counts pieces apart from lines), a discount
    on every seventh line, and a line without a picture every eleventh.
    """
    variants = [
        (title, slug, price, variant)
        for title, slug, price, colours in _CAFE_RANGE
        for variant in colours or (None,)
    ]
    items = []
    for index in range(lines):
        title, slug, price, variant = variants[index % len(variants)]
        batch = index // len(variants)
        quantity = 1 + index % 4
        items.append(
            LineItem(
                line_id=f"L{index + 1}",
                product_id=slug,
                title=f"{title} ({batch + 1})" if batch else title,
                variant_title=variant,
                quantity=quantity,
                unit_price=Decimal(price),
                total_discount=Decimal("2.00") if index % 7 == 6 else Decimal(0),
                image_url=None if index % 11 == 10 else f"{_CDN}/{slug}.jpg",
            )
        )
    return _order_with_costs("domestic", tuple(items))


def _every_line_refunded(order: Order) -> tuple[RefundItem, ...]:
    return tuple(
        RefundItem(line_id=item.line_id, quantity=item.quantity, amount=item.line_total)
        for item in order.line_items
    )


def _sample_order(name: str) -> Order:
    """The sample order ``name`` of ``ORDER_SAMPLES``, its costs adding up to its total."""
    if name == _LARGE:
        return large_order()
    apron, wraps, mug = orders.line_items()
    items = {
        "domestic": (apron,),
        "international": (apron, mug),
        "multi-item": (apron, wraps, mug, _GIFT_WRAPPING),
        "discount": (
            apron.model_copy(update={"quantity": 2, "total_discount": Decimal("7.80")}),
            wraps.model_copy(update={"quantity": 1}),
        ),
        "zero tax": (apron,),
    }[name]
    return _order_with_costs(name, items)


def _order_with_costs(name: str, items: tuple[LineItem, ...]) -> Order:
    subtotal = sum((i.unit_price * i.quantity for i in items), Decimal(0))
    discounts = sum((i.total_discount for i in items), Decimal(0))
    codes: tuple[str, ...] = ()
    if name == "discount":
        discounts, codes = discounts + Decimal("5.00"), ("SUMMER5",)
    shipping = Decimal("14.90") if name == "international" else Decimal("4.90")
    total = subtotal - discounts + shipping
    amounts = dict(subtotal=subtotal, discounts=discounts, shipping=shipping, total=total)
    if name == "zero tax":
        taxes: dict[str, Any] = dict(taxes=Decimal(0), taxes_included=False, tax_lines=())
    else:  # prices include German VAT
        vat = (total * Decimal("0.19") / Decimal("1.19")).quantize(Decimal("0.01"))
        vat_line = TaxLine(title="VAT", rate=Decimal("0.19"), amount=vat)
        taxes = dict(taxes=vat, taxes_included=True, tax_lines=(vat_line,))
    costs = orders.costs(discount_codes=codes, **amounts, **taxes)
    if name == "international":
        address = orders.address(
            line1="Bahnhofstrasse 21", city="Zürich", postal_code="8001", country_code="CH"
        )
    else:
        address = orders.address(line2="Hinterhaus, 3. OG")
    return orders.order(
        line_items=items, costs=costs, shipping_address=address, **_SAMPLE_CHECKOUTS.get(name, {})
    )


# How each sample order was paid and sent, so every way the confirmation names a payment,
# a billing address and a shipping method is rendered (and checked) in every language.
_SAMPLE_CHECKOUTS: dict[str, dict[str, Any]] = {
    "domestic": {
        "payment_method": "card",
        "payment": {"card_brand": "Visa", "card_last_four": "4242"},
        "shipping_method": "DHL Paket",
        "billing_address": orders.address(line2="Hinterhaus, 3. OG"),
    },
    "international": {
        "payment_method": "paypal",
        "shipping_method": "DHL Express International",
        "billing_address": orders.address(
            name="Anna Keller",
            company="Keller Design GmbH",
            line1="Seefeldstrasse 8",
            city="Zürich",
            postal_code="8008",
            country_code="CH",
        ),
    },
    "multi-item": {
        "payment_method": "bank_transfer",
        "payment": {"title": "Direct bank transfer"},
        "shipping_method": "Standard",
        "billing_address": orders.address(),
    },
    "discount": {"payment_method": "card", "payment": {"card_last_four": "5454"}},
    "zero tax": {"payment_method": "other", "payment": {"title": "Klarna Pay Later"}},
}


def _order_of(placed: OrderEvent) -> Order:
    assert placed.order is not None
    return placed.order


def _whole_order_shipped(placed: OrderEvent) -> OrderEvent:
    """Every line of the order in one DHL parcel."""
    return orders.shipped(
        lines=tuple((i.line_id, i.quantity) for i in _order_of(placed).line_items)
    )


def _delayed_without_coupon() -> OrderEvent:
    return orders.delayed(coupon_code=None, coupon_description=None)
