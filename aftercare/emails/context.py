"""What a template may show for one email: plain, already formatted data.

Templates are edited by marketers and run in a sandbox, so they get strings, numbers,
booleans, lists and dicts — no ``Decimal`` to format, no time zone to convert, no model
object with methods. Every money amount, date and count is formatted here for the
customer's locale and time zone, so all five emails agree and the templates stay simple.

Every email's context has the same keys; a key that does not apply to an email kind is
``None`` (or an empty list), so shared partials can test it under ``StrictUndefined``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aftercare.emails.kinds import EmailKind
from aftercare.enrichment.customs import crosses_customs
from aftercare.enrichment.promises import (
    add_business_days,
    delivery_window,
    is_international,
    promise_for,
)
from aftercare.enrichment.tracking.links import choose_tracking_link
from aftercare.errors import InvalidEventError, OrderNotYetKnownError
from aftercare.events import (
    Address,
    Costs,
    Customer,
    DelayNotice,
    Fulfilment,
    LineItem,
    Order,
    OrderEvent,
    Refund,
    RefundMethod,
)
from aftercare.order_state import OrderState
from aftercare.rendering.locale_format import (
    FALLBACK_LANGUAGE,
    country_name,
    email_locale,
    format_count_range,
    format_day,
    format_day_range,
    format_money,
    format_rate,
    language_tag,
    local_date,
    text_direction,
)
from aftercare.settings import StoreFacts

# Money that lands without a bank in between: the customer can use it at once.
_IMMEDIATE_REFUNDS = frozenset(
    {RefundMethod.STORE_CREDIT, RefundMethod.GIFT_CARD, RefundMethod.CASH}
)

# Countries whose postal addresses read "City, Region Postcode" on one line.
_CITY_REGION_POSTCODE = frozenset({"US", "CA", "AU"})
# Countries whose postcode stands on a line of its own, after the town.
_POSTCODE_OWN_LINE = frozenset({"GB", "IE"})

_LOGO_WIDTH = 120

_T = TypeVar("_T")

_STORE_LINKS = ("website_url", "support_url", "faq_url", "return_policy_url")


@dataclass(frozen=True)
class _Reader:
    """The customer's locale and time zone, and how to format things for them."""

    locale: str
    time_zone: str

    def money(self, amount: Decimal, currency: str) -> str:
        return format_money(amount, currency, self.locale)

    def day(self, day: date) -> str:
        return format_day(day, self.locale)

    def day_of(self, moment: datetime) -> date:
        return local_date(moment, self.time_zone)

    def days(self, first: date, last: date) -> str:
        return format_day_range(first, last, self.locale)

    def count(self, low: int, high: int) -> str:
        return format_count_range(low, high, self.locale)


def build_context(
    kind: EmailKind,
    event: OrderEvent,
    state: OrderState | None,
    store: StoreFacts,
    now: datetime,
    *,
    template_locales: Collection[str] = (FALLBACK_LANGUAGE,),
) -> dict[str, Any]:
    """The template context for a ``kind`` email about ``event``.

    ``state`` is the order as Aftercare knows it after merging ``event``; it is ``None``
    only for the welcome email, which is about a customer, not an order.
    ``template_locales`` are the translations the templates exist in
    (``EmailRenderer.available_locales()``): facts are formatted in the language the
    email will be written in, so a German customer reading the English fallback does not
    get a German date inside an English sentence. Raises
    ``InvalidEventError`` when the event lacks what this email must say, and
    ``OrderNotYetKnownError`` when an order email has no order state yet.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    customer = _customer_for(kind, event, state)
    reader = _Reader(
        locale=email_locale(customer.locale or store.default_locale, template_locales),
        time_zone=customer.time_zone or store.time_zone,
    )
    context: dict[str, Any] = {
        "kind": kind.value,
        "locale": reader.locale,
        "lang": language_tag(reader.locale),
        "dir": text_direction(reader.locale),
        "time_zone": reader.time_zone,
        "sent_on": reader.day(reader.day_of(now)),
        "store": _store_facts(store, reader),
        "customer": {"first_name": customer.first_name or None},
        "shipping_times": _shipping_times(store, reader),
        "order": None,
        "promise": None,
        "shipment": None,
        "tracking": None,
        "delay": None,
        "refund": None,
        "rating": None,
        # Slots the enrichment steps fill (FAQ selector, cross-sell); empty until then.
        "likely_questions": [],
        "cross_sell": [],
    }
    if kind is EmailKind.WELCOME:
        return context

    assert state is not None  # _customer_for raised otherwise
    order = state.order
    context["order"] = _order_facts(order, store, reader)
    context["rating"] = _rating_links(store, order)
    context["promise"] = _promise_facts(state, store, reader)
    match kind:
        case EmailKind.ORDER_CONFIRMATION:
            pass
        case EmailKind.ORDER_SHIPPED:
            fulfilment = _required(event.fulfilment, "fulfilment", kind)
            context["shipment"] = _shipment_facts(fulfilment, state, store, reader)
            context["tracking"] = tracking_for(fulfilment, store, context["order"]["number"])
        case EmailKind.ORDER_DELAYED:
            delay = _required(event.delay, "delay", kind)
            context["delay"] = _delay_facts(delay, state, store, reader)
            latest = _latest_fulfilment(state)
            order_number = context["order"]["number"]
            context["tracking"] = tracking_for(latest, store, order_number) if latest else None
        case EmailKind.ORDER_REFUNDED:
            refund = _required(event.refund, "refund", kind)
            context["refund"] = _refund_facts(refund, state, store, reader)
    return context


def tracking_for(
    fulfilment: Fulfilment, store: StoreFacts, order_number: str | None = None
) -> dict[str, Any] | None:
    """The link, number and carrier for a shipment; ``None`` when there is nothing to track.

    ``tracking_links.choose_tracking_link`` picks each link (the store's page, the store's
    link, the carrier's page, a universal tracker), so the customer always gets a link,
    never only a bare number. ``source`` is for the sent email's record (why this link);
    ``format`` and ``check_digit_ok`` say what the number was read as, for support staff.

    A shipment of several boxes carries a tracking number for each (Shopify's
    ``tracking_numbers``, with ``tracking_urls`` in the same order): ``parcels`` has a link
    for every one, so the customer can follow the second box too. The top-level keys are
    the first parcel's, for templates that show one link.
    """
    numbers = fulfilment.tracking_numbers
    urls = fulfilment.tracking_urls
    paired = len(urls) == len(numbers)  # the store's link for each number, in order
    parcels: list[dict[str, Any]] = []
    seen: set[tuple[str | None, str]] = set()
    for index, raw in enumerate(numbers):
        if not raw.strip():
            continue
        parcel = _parcel_tracking(
            raw, (urls[index],) if paired else urls, fulfilment, store, order_number
        )
        if parcel is None:
            continue
        # The same box written twice is one box; two boxes whose numbers cannot go into a
        # link (``number`` None) are still two when the store gave each its own page.
        key = (parcel["number"], parcel["url"])
        if key not in seen:
            seen.add(key)
            parcels.append(parcel)
    if not any(n.strip() for n in numbers):  # no number: the store's link alone, if any
        parcel = _parcel_tracking(None, urls, fulfilment, store, order_number)
        parcels = [parcel] if parcel is not None else []
    if not parcels:
        return None
    return {**parcels[0], "parcels": parcels}


def _parcel_tracking(
    raw_number: str | None,
    store_urls: Sequence[str],
    fulfilment: Fulfilment,
    store: StoreFacts,
    order_number: str | None,
) -> dict[str, Any] | None:
    link = choose_tracking_link(
        raw_number,
        store_urls=store_urls,
        store_carrier=fulfilment.carrier,
        order_number=order_number,
        settings=store.tracking_links,
    )
    if link is None:
        return None
    reading = link.reading
    return {
        "url": link.url,
        "number": link.number,
        # The store's name for its carrier wins: it is the name on the label.
        "carrier": fulfilment.carrier or (reading.courier.name if reading else None),
        "source": link.source.value,
        "format": reading.format_name if reading else None,
        "check_digit_ok": reading.verified if reading and reading.format.check_digit else None,
    }


def _required(value: _T | None, field: str, kind: EmailKind) -> _T:
    if value is None:
        raise InvalidEventError(f"a {kind.value} email needs the event's {field}, which is missing")
    return value


def _customer_for(kind: EmailKind, event: OrderEvent, state: OrderState | None) -> Customer:
    if kind is EmailKind.WELCOME:
        return _required(event.customer, "customer", kind)
    if state is None:
        raise OrderNotYetKnownError(
            f"a {kind.value} email for order {event.order_id} needs the order's state,"
            " which Aftercare does not hold yet"
        )
    return state.customer


def _https_or_none(url: str | None) -> str | None:
    """``url`` when it is an absolute https link, else ``None``."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or any(c.isspace() for c in url):
        return None
    return url


def _store_facts(store: StoreFacts, reader: _Reader) -> dict[str, Any]:
    links: dict[str, str] = {}
    for name in _STORE_LINKS:
        url = _https_or_none(str(getattr(store, name)))
        if url is None:
            raise ValueError(
                f"store.{name} must be an absolute https URL: mail clients flag plain http links"
            )
        links[name] = url
    return {
        "name": store.name,
        **links,
        "support_email": str(store.reply_to or store.from_address),
        "return_policy_summary": store.return_policy_summary,
        "support_reply_time": store.support_reply_time,
        "ships_from": store.ships_from,
        "ships_from_country": country_name(store.ships_from_country, reader.locale),
        "logo_url": _https_or_none(str(store.logo_url)) if store.logo_url else None,
        "logo_width": _LOGO_WIDTH,
        "brand_colour": store.brand_colour,
        "social_links": [
            {"label": label, "url": str(url)} for label, url in store.social_links.items()
        ],
    }


def _rating_links(store: StoreFacts, order: Order) -> dict[str, str]:
    """One link per answer to "how did we do?", so rating an order is a single click."""
    base = urlsplit(str(store.rating_url or store.support_url))
    links = {}
    for score in ("good", "okay", "bad"):
        query = [*parse_qsl(base.query), ("order", order.number.lstrip("#")), ("rating", score)]
        links[score] = urlunsplit(base._replace(query=urlencode(query)))
    return links


def _shipping_times(store: StoreFacts, reader: _Reader) -> dict[str, Any]:
    """What the welcome email promises before any order exists."""
    return {
        "processing_days": reader.count(store.processing_days_min, store.processing_days_max),
        "processing_days_max": store.processing_days_max,
        "domestic_region": country_name(store.ships_from_country, reader.locale),
        "domestic_transit_days": reader.count(*store.domestic_transit_days),
        "domestic_transit_days_max": store.domestic_transit_days[1],
        "international_transit_days": reader.count(*store.international_transit_days),
        "international_transit_days_max": store.international_transit_days[1],
    }


def _destination(order: Order) -> str | None:
    return order.shipping_address.country_code if order.shipping_address else None


def _requires_shipping(order: Order) -> bool:
    return any(item.requires_shipping for item in order.line_items)


def _order_facts(order: Order, store: StoreFacts, reader: _Reader) -> dict[str, Any]:
    destination = _destination(order)
    international = is_international(destination, store)
    customs = crosses_customs(store.ships_from_country, order.shipping_address)
    return {
        # Shopify names orders "#1001", WooCommerce "1001": templates add the "#".
        "number": order.number.lstrip("#"),
        "placed_on": reader.day(reader.day_of(order.placed_at)),
        "status_url": _https_or_none(order.status_url),
        "currency": order.currency,
        "line_items": [
            _item_facts(item, item.quantity, order.currency, reader) for item in order.line_items
        ],
        "costs": _cost_facts(order.costs, order.currency, customs, reader),
        "shipping_address": _address_facts(order.shipping_address, reader)
        if order.shipping_address
        else None,
        "requires_shipping": _requires_shipping(order),
        "is_international": international,
        "destination_country": country_name(destination, reader.locale) if destination else None,
        "is_cancelled": order.cancelled_at is not None,
    }


def _item_facts(
    item: LineItem, quantity: int, currency: str | None, reader: _Reader
) -> dict[str, Any]:
    """One line as the customer sees it; prices only when ``currency`` is given.

    Shipment lists pass no currency: a parcel's contents are about what is in the box, and
    per-parcel prices would not add up to anything the customer paid.
    """
    image_url = _https_or_none(item.image_url)
    facts: dict[str, Any] = {
        "line_id": item.line_id,
        "title": item.title,
        "variant_title": item.variant_title,
        "sku": item.sku,
        "quantity": quantity,
        "image_url": image_url,
        "unit_price": None,
        "line_total": None,
        "discount": None,
    }
    if currency is not None:
        facts["unit_price"] = reader.money(item.unit_price, currency)
        facts["line_total"] = reader.money(item.line_total, currency)
        if item.total_discount:
            facts["discount"] = reader.money(-item.total_discount, currency)
    return facts


def _duties_status(costs: Costs, passes_customs: bool) -> str:
    """How import duties reach the customer; the confirmation must hide no cost.

    ``charged``: paid at checkout (a line in the totals). ``included``: in the prices.
    ``due_on_delivery``: a parcel that passes customs (``customs_borders``) whose duties the
    store did not collect, so customs or the carrier may ask for them on delivery.
    ``none``: nothing to say.
    """
    if costs.duties > 0:
        return "charged"
    if costs.duties_included:
        return "included"
    if passes_customs:
        return "due_on_delivery"
    return "none"


def _cost_facts(
    costs: Costs, currency: str, passes_customs: bool, reader: _Reader
) -> dict[str, Any]:
    duties_status = _duties_status(costs, passes_customs)
    return {
        "subtotal": reader.money(costs.subtotal, currency),
        "discounts": reader.money(-costs.discounts, currency) if costs.discounts else None,
        "discount_codes": list(costs.discount_codes),
        "shipping": reader.money(costs.shipping, currency),
        "shipping_is_free": costs.shipping == 0,
        "taxes": reader.money(costs.taxes, currency),
        "taxes_included": costs.taxes_included,
        "tax_lines": [
            {
                "title": line.title,
                "rate": format_rate(line.rate, reader.locale) if line.rate is not None else None,
                "amount": reader.money(line.amount, currency),
            }
            for line in costs.tax_lines
        ],
        "duties": reader.money(costs.duties, currency) if costs.duties > 0 else None,
        "duties_status": duties_status,
        "duties_notice": duties_status == "due_on_delivery",
        "total": reader.money(costs.total, currency),
        "currency": currency,
    }


def _address_facts(address: Address, reader: _Reader) -> dict[str, Any]:
    """An address as lines to print, in the destination country's usual order.

    A simplification of postal formats that reads right for the countries most stores
    ship to; a line the customer typed is never dropped.
    """
    code = address.country_code
    postcode = address.postal_code or ""
    if code in _CITY_REGION_POSTCODE:
        town = [f"{address.city}, {address.region or ''} {postcode}".replace(" ,", ",")]
    elif code in _POSTCODE_OWN_LINE:
        town = [address.city, address.region or "", postcode]
    else:
        town = [f"{postcode} {address.city}", address.region or ""]
    lines = [
        address.name or "",
        address.company or "",
        address.line1,
        address.line2 or "",
        *town,
        country_name(code, reader.locale),
    ]
    return {
        "lines": [" ".join(line.split()) for line in lines if line and line.strip()],
        "country": country_name(code, reader.locale),
        "country_code": code,
    }


def _promise_facts(state: OrderState, store: StoreFacts, reader: _Reader) -> dict[str, Any] | None:
    """The ship-by date and delivery window the store committed to for this order.

    A promise stored with the order wins over a fresh computation, so a later change to
    the store's processing time does not rewrite what a customer was told.
    """
    order = state.order
    if not _requires_shipping(order):
        return None
    computed = promise_for(order.placed_at, store, _destination(order))
    ship_by = state.promised_ship_by or computed.ship_by
    deliver_by = state.promised_deliver_by or computed.deliver_by
    deliver_from = min(computed.deliver_from, deliver_by)
    return {
        "ship_by": reader.day(ship_by),
        "deliver_by": reader.day(deliver_by),
        "delivery_window": reader.days(deliver_from, deliver_by),
        "processing_days": reader.count(store.processing_days_min, store.processing_days_max),
    }


def _line_items_by_id(order: Order) -> dict[str, LineItem]:
    return {item.line_id: item for item in order.line_items}


def _check_lines(order: Order, line_ids: list[str], what: str) -> None:
    known = _line_items_by_id(order)
    unknown = [line_id for line_id in line_ids if line_id not in known]
    if unknown:
        raise InvalidEventError(
            f"{what} names line {unknown[0]!r}, which order {order.number} does not contain"
        )


def _shipment_facts(
    fulfilment: Fulfilment, state: OrderState, store: StoreFacts, reader: _Reader
) -> dict[str, Any]:
    """This parcel's contents, what is still to come, and when it should arrive.

    A fulfilment without an item list ships whatever no other parcel lists (the generic
    format allows it for one-parcel orders). Refunded quantities are not "still to
    come": they were cancelled, not delayed.
    """
    order = state.order
    others = [f for f in state.fulfilments if f.external_id != fulfilment.external_id]
    for parcel in (fulfilment, *others):
        _check_lines(order, [i.line_id for i in parcel.items], f"fulfilment {parcel.external_id}")

    listed_elsewhere: Counter[str] = Counter()
    for parcel in others:
        for shipped in parcel.items:
            listed_elsewhere[shipped.line_id] += shipped.quantity
    shippable = [item for item in order.line_items if item.requires_shipping]

    if fulfilment.items:
        in_parcel: Counter[str] = Counter()
        for shipped in fulfilment.items:
            in_parcel[shipped.line_id] += shipped.quantity
    else:
        in_parcel = Counter(
            {item.line_id: item.quantity - listed_elsewhere[item.line_id] for item in shippable}
        )

    if not fulfilment.items or any(not parcel.items for parcel in others):
        outstanding: Counter[str] = Counter()
    else:
        refunded: Counter[str] = Counter()
        for refund in state.refunds:
            for item in refund.items:
                refunded[item.line_id] += item.quantity
        outstanding = Counter(
            {
                item.line_id: item.quantity
                - listed_elsewhere[item.line_id]
                - in_parcel[item.line_id]
                - refunded[item.line_id]
                for item in shippable
            }
        )

    def listing(quantities: Counter[str]) -> list[dict[str, Any]]:
        return [
            _item_facts(item, quantities[item.line_id], None, reader)
            for item in order.line_items
            if quantities[item.line_id] > 0
        ]

    shipped_on = reader.day_of(fulfilment.created_at)
    if fulfilment.estimated_delivery_at is not None:
        deliver_from = deliver_by = reader.day_of(fulfilment.estimated_delivery_at)
    else:
        deliver_from, deliver_by = delivery_window(shipped_on, store, _destination(order))
    still_to_come = listing(outstanding)
    return {
        "shipped_on": reader.day(shipped_on),
        "carrier": fulfilment.carrier,
        "line_items": listing(in_parcel),
        "still_to_come": still_to_come,
        "is_partial": bool(still_to_come),
        "completes_order": not still_to_come and bool(others),
        "estimated_delivery": reader.days(deliver_from, deliver_by)
        if deliver_from != deliver_by
        else reader.day(deliver_by),
        "deliver_by": reader.day(deliver_by),
    }


def _latest_fulfilment(state: OrderState) -> Fulfilment | None:
    return max(state.fulfilments, key=lambda f: f.created_at, default=None)


def _support_link(store: StoreFacts, order: Order, choice: str) -> str:
    """A link to the store's support page that says which order and what the customer chose.

    The query is merged into any the store's URL already has, so a support form that needs
    its own parameters keeps them.
    """
    parts = urlsplit(str(store.support_url))
    query = [*parse_qsl(parts.query), ("order", order.number.lstrip("#")), ("choice", choice)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _delay_facts(
    delay: DelayNotice, state: OrderState, store: StoreFacts, reader: _Reader
) -> dict[str, Any]:
    order = state.order
    coupon = None
    if delay.coupon_code:
        coupon = {"code": delay.coupon_code, "description": delay.coupon_description}
    # Name the promise that was actually broken: an order still in the workshop missed its
    # ship-by date (its delivery date may not even have passed yet); a parcel on its way
    # missed its delivery date.
    already_shipped = bool(state.fulfilments)
    promise = None
    if _requires_shipping(order):
        promise = promise_for(order.placed_at, store, _destination(order))
    ship_by = state.promised_ship_by or (promise.ship_by if promise else None)
    deliver_by = state.promised_deliver_by or (promise.deliver_by if promise else None)
    broken = deliver_by if already_shipped else ship_by
    return {
        "reason": delay.reason,
        "new_estimated_delivery": reader.day(delay.new_estimated_delivery),
        "previous_estimate": reader.day(broken) if broken else None,
        "what_we_will_do": delay.what_we_will_do,
        "coupon": coupon,
        "already_shipped": already_shipped,
        "options": {
            choice: _support_link(store, order, choice)
            for choice in ("keep_waiting", "refund", "reship_faster")
        },
    }


def _refund_facts(
    refund: Refund, state: OrderState, store: StoreFacts, reader: _Reader
) -> dict[str, Any]:
    """What was refunded, how, and when the customer will see the money.

    Card and bank refunds take the store's ``refund_statement_days`` business days to show
    on a statement; store credit, gift cards and cash are there at once.
    """
    order = state.order
    _check_lines(order, [i.line_id for i in refund.items], f"refund {refund.external_id}")
    items_by_id = _line_items_by_id(order)
    refunded_on = reader.day_of(refund.created_at)
    immediate = refund.method in _IMMEDIATE_REFUNDS
    refunds = [r for r in state.refunds if r.external_id != refund.external_id] + [refund]
    total_refunded = sum((r.amount for r in refunds), Decimal(0))
    facts: dict[str, Any] = {
        "amount": reader.money(refund.amount, refund.currency),
        "currency": refund.currency,
        "method": refund.method.value,
        "refunded_on": reader.day(refunded_on),
        "reason": refund.reason,
        "line_items": [
            {
                "title": items_by_id[item.line_id].title,
                "variant_title": items_by_id[item.line_id].variant_title,
                "quantity": item.quantity,
                "amount": reader.money(item.amount, refund.currency),
            }
            for item in refund.items
        ],
        "appears_immediately": immediate,
        "statement_days": None,
        "expected_between": None,
        "expected_by": None,
        "is_full_refund": total_refunded >= order.costs.total,
        "total_refunded": reader.money(total_refunded, refund.currency),
    }
    if not immediate:
        fastest, slowest = store.refund_statement_days
        country = store.ships_from_country
        first = add_business_days(refunded_on, fastest, country)
        last = add_business_days(refunded_on, slowest, country)
        facts["statement_days"] = reader.count(fastest, slowest)
        facts["expected_between"] = reader.days(first, last)
        facts["expected_by"] = reader.day(last)
    return facts
