"""The facts every email kind shares, formatted for the customer: plain data only.

Templates are edited by marketers and run in a sandbox, so they get strings, numbers,
booleans, lists and dicts — no ``Decimal`` to format, no time zone to convert, no model
object with methods. Every money amount, date and count is formatted here for the
customer's locale and time zone, so all emails agree and the templates stay simple. The
facts only one kind needs live in that kind's module (``emails/kinds/``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aftercare.emails.cross_sell_block import with_utm
from aftercare.emails.email_kind import EmailKind
from aftercare.enrichment.customs import crosses_customs
from aftercare.enrichment.promises import is_international, promise_of
from aftercare.enrichment.tracking.links import choose_tracking_link
from aftercare.errors import InvalidEventError
from aftercare.events import (
    Address,
    Costs,
    Fulfilment,
    LineItem,
    Order,
    PaymentDetails,
    PaymentMethod,
)
from aftercare.order_state import OrderState
from aftercare.rendering.locale_format import (
    Calendar,
    country_name,
    format_count_range,
    format_day,
    format_day_range,
    format_money,
    format_rate,
    local_date,
)
from aftercare.rendering.translations import lookup_chain, normalized
from aftercare.settings import StoreFacts

# Countries whose postal addresses read "City, Region Postcode" on one line.
_CITY_REGION_POSTCODE = frozenset({"US", "CA", "AU"})
# Countries whose postcode stands on a line of its own, after the town.
_POSTCODE_OWN_LINE = frozenset({"GB", "IE"})

_LOGO_WIDTH = 120

_T = TypeVar("_T")

_STORE_LINKS = ("website_url", "support_url", "faq_url", "return_policy_url")

# What ``store.utm`` adds to the store's own links (``{kind}``: the email kind), so its
# analytics tell the visits an email brought. Never to a carrier's tracking page, nor to a
# one-click answer (rating, FAQ feedback, delay choices): those are not visits to count.
STORE_UTM = {"utm_source": "aftercare", "utm_medium": "email", "utm_campaign": "{kind}"}


@dataclass(frozen=True)
class Reader:
    """The customer's locale and time zone, and how to format things for them."""

    locale: str
    time_zone: str
    calendar: Calendar = "gregorian"

    def money(self, amount: Decimal, currency: str) -> str:
        return format_money(amount, currency, self.locale)

    def day(self, day: date) -> str:
        return format_day(day, self.locale, self.calendar)

    def day_of(self, moment: datetime) -> date:
        return local_date(moment, self.time_zone)

    def days(self, first: date, last: date) -> str:
        return format_day_range(first, last, self.locale, self.calendar)

    def count(self, low: int, high: int) -> str:
        return format_count_range(low, high, self.locale)


def tracking_for(
    fulfilment: Fulfilment, store: StoreFacts, order_number: str | None = None
) -> dict[str, Any] | None:
    """The link, number and carrier for a shipment; ``None`` when there is nothing to track.

    ``enrichment.tracking.links.choose_tracking_link`` picks each link (the store's page,
    the store's link, the carrier's page, a universal tracker), so the customer always gets
    a link, never only a bare number. ``source`` is for the sent email's record (why this link);
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


def required(value: _T | None, field: str, kind: EmailKind) -> _T:
    if value is None:
        raise InvalidEventError(f"a {kind.value} email needs the event's {field}, which is missing")
    return value


def https_or_none(url: str | None) -> str | None:
    """``url`` when it is an absolute https link, else ``None``."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or any(c.isspace() for c in url):
        return None
    return url


def store_text(store: StoreFacts, name: str, locale: str) -> str:
    """One of the store's sentences in the email's language: the most specific of
    ``store.texts`` (``ru_UA`` → ``ru``, as the templates' catalogues are found), else the
    store's default one."""
    if store.texts:
        given = {normalized(tag): texts for tag, texts in store.texts.items()}
        for candidate in lookup_chain(locale):
            texts = given.get(candidate)
            value = getattr(texts, name, None) if texts else None
            if value:
                return value
    return getattr(store, name)


def store_link(url: str, store: StoreFacts, kind: str | None) -> str:
    """One of the store's own links, with the UTM parameters when the store wants them."""
    if not store.utm or kind is None:
        return url
    return with_utm(url, STORE_UTM, kind)


def store_facts(store: StoreFacts, reader: Reader, kind: str | None = None) -> dict[str, Any]:
    """What every email says about the store; ``kind`` names the email in the UTM
    parameters of the store's links (``store.utm``)."""
    links: dict[str, str] = {}
    for name in _STORE_LINKS:
        url = https_or_none(str(getattr(store, name)))
        if url is None:
            raise ValueError(
                f"store.{name} must be an absolute https URL: mail clients flag plain http links"
            )
        links[name] = store_link(url, store, kind)
    return {
        "name": store.name,
        **links,
        "support_email": str(store.reply_to or store.from_address),
        "return_policy_summary": store_text(store, "return_policy_summary", reader.locale),
        "support_reply_time": store_text(store, "support_reply_time", reader.locale),
        "ships_from": store_text(store, "ships_from", reader.locale),
        "ships_from_country": country_name(store.ships_from_country, reader.locale),
        "logo_url": https_or_none(str(store.logo_url)) if store.logo_url else None,
        "logo_width": _LOGO_WIDTH,
        "brand_colour": store.brand_colour,
        "social_links": [
            {"label": label, "url": str(url)} for label, url in store.social_links.items()
        ],
        # Who sends the email and where to write to them (in the EU, commercial
        # communication names its sender: Directive 2000/31/EC, articles 5 and 6).
        "legal_name": store.legal_name,
        "postal_address": store.postal_address,
    }


def shipping_times(store: StoreFacts, reader: Reader) -> dict[str, Any]:
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


def destination_of(order: Order) -> str | None:
    return order.shipping_address.country_code if order.shipping_address else None


def requires_shipping(order: Order) -> bool:
    return any(item.requires_shipping for item in order.line_items)


def order_facts(
    order: Order, store: StoreFacts, reader: Reader, kind: str | None = None
) -> dict[str, Any]:
    destination = destination_of(order)
    international = is_international(destination, store)
    customs = crosses_customs(store.ships_from_country, order.shipping_address)
    shown, rest = cut_lines(order.line_items, store.max_item_lines)
    return {
        # Shopify names orders "#1001", WooCommerce "1001": templates add the "#".
        "number": order.number.lstrip("#"),
        "placed_on": reader.day(reader.day_of(order.placed_at)),
        # The order's page in the store (Shopify's order status page): a store link.
        "status_url": _status_url(order, store, kind),
        "payment": payment_facts(order.payment_method, order.payment),
        "shipping_method": order.shipping_method,
        "billing_address": _billing_facts(order, reader),
        "currency": order.currency,
        "line_items": [item_facts(item, item.quantity, order.currency, reader) for item in shown],
        "more_items": more_items([item.quantity for item in rest]),
        "line_count": len(order.line_items),
        "costs": _cost_facts(order.costs, order.currency, customs, reader),
        "shipping_address": _address_facts(order.shipping_address, reader)
        if order.shipping_address
        else None,
        "requires_shipping": requires_shipping(order),
        "is_international": international,
        "destination_country": country_name(destination, reader.locale) if destination else None,
        "is_cancelled": order.cancelled_at is not None,
    }


def cut_lines(lines: Sequence[_T], shown: int) -> tuple[Sequence[_T], Sequence[_T]]:
    """The first ``shown`` of ``lines``, and the rest, which the email sums up.

    Every line costs about 1.4 KB of HTML as sent (its picture, styles inlined on each
    cell, the quantity sentence): at 200 lines a confirmation is near 300 KB, and Gmail
    clips a message above about 102 KB, hiding what follows the cut (the FAQ answers, the
    footer). A list of ``shown`` lines or fewer is shown whole.
    """
    if len(lines) <= shown:
        return lines, ()
    return lines[:shown], lines[shown:]


def share_lines(limit: int, *lengths: int) -> tuple[int, ...]:
    """How many lines each of one email's item lists shows, ``limit`` lines in all.

    A shipped email lists what is in the parcel and what is still to come: each list gets
    an equal share, a list shorter than its share leaves the rest to the others (in
    order), and a list with any lines shows at least one, so its heading is never empty.
    """
    shares = [0] * len(lengths)
    left = limit
    open_lists = [index for index, length in enumerate(lengths) if length > 0]
    while left > 0 and open_lists:
        each = max(left // len(open_lists), 1)
        for index in list(open_lists):
            given = min(each, lengths[index] - shares[index], left)
            shares[index] += given
            left -= given
            if shares[index] == lengths[index]:
                open_lists.remove(index)
            if left == 0:
                break
    return tuple(
        max(share, 1) if length > 0 else 0 for share, length in zip(shares, lengths, strict=True)
    )


def more_items(quantities: Sequence[int]) -> dict[str, Any] | None:
    """The summary of the lines a list leaves out: how many lines, and how many pieces
    they hold. The email links to the order's page (``order.status_url``), which lists
    every line and is where stores keep the invoice.

    ``None`` when the list is shown whole. Totals are never cut: an email's costs are the
    whole order's, whatever its list shows.
    """
    if not quantities:
        return None
    return {"lines": len(quantities), "quantity": sum(quantities)}


def lines_of(order: Order, quantities: Mapping[str, int]) -> list[tuple[LineItem, int]]:
    """The order's lines that ``quantities`` (by line id) holds any of, in the order's order."""
    return [
        (item, quantities[item.line_id])
        for item in order.line_items
        if quantities.get(item.line_id, 0) > 0
    ]


def listing(
    lines: Sequence[tuple[LineItem, int]], shown: int, reader: Reader
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """A parcel's list (items and quantities, no prices): its first ``shown`` lines, and
    the summary of the rest (``more_items``)."""
    first, rest = cut_lines(lines, shown)
    return (
        [item_facts(item, quantity, None, reader) for item, quantity in first],
        more_items([quantity for _, quantity in rest]),
    )


def _status_url(order: Order, store: StoreFacts, kind: str | None) -> str | None:
    url = https_or_none(order.status_url)
    return store_link(url, store, kind) if url else None


def payment_facts(
    method: PaymentMethod | None, details: PaymentDetails | None
) -> dict[str, Any] | None:
    """How the customer paid, for the templates to name: ``method`` (a ``PaymentMethod``
    value), the card's ``card_brand`` and ``card_last_four`` when the store reported them,
    and the store's own ``title``, shown for a method that is none of ours (the templates
    name ours in the customer's language). ``None``: the store said nothing."""
    if method is None and details is None:
        return None
    has_card = details is not None and bool(details.card_brand or details.card_last_four)
    if method is None:
        method = PaymentMethod.CARD if has_card else PaymentMethod.OTHER
    if method is PaymentMethod.OTHER and not has_card and not (details and details.title):
        return None  # nothing to name
    return {
        "method": method.value,
        "card_brand": details.card_brand if details else None,
        "card_last_four": details.card_last_four if details else None,
        "title": details.title if details else None,
    }


def _billing_facts(order: Order, reader: Reader) -> dict[str, Any] | None:
    """The billing address as lines, and whether it is the shipping address (then the
    confirmation says so instead of printing it twice)."""
    if order.billing_address is None:
        return None
    billing = _address_facts(order.billing_address, reader)
    shipping = _address_facts(order.shipping_address, reader) if order.shipping_address else None
    same = shipping is not None and shipping["lines"] == billing["lines"]
    return {**billing, "same_as_shipping": same}


def item_facts(
    item: LineItem, quantity: int, currency: str | None, reader: Reader
) -> dict[str, Any]:
    """One line as the customer sees it; prices only when ``currency`` is given.

    Shipment lists pass no currency: a parcel's contents are about what is in the box, and
    per-parcel prices would not add up to anything the customer paid.
    """
    image_url = https_or_none(item.image_url)
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
    ``due_on_delivery``: a parcel that passes customs (``enrichment.customs``) whose duties the
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
    costs: Costs, currency: str, passes_customs: bool, reader: Reader
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


def _address_facts(address: Address, reader: Reader) -> dict[str, Any]:
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


def promise_facts(
    state: OrderState,
    store: StoreFacts,
    reader: Reader,
    now: datetime,
    today: date,
    notes: list[str],
) -> dict[str, Any] | None:
    """The ship-by date and delivery window the store committed to for this order.

    ``None`` when nothing ships, or when the ship-by date has passed by ``today``: a late
    confirmation must not tell the customer to "reply before" a day that is gone. (The
    drain stores a promise counted from now for an order it first sees after its original
    ship-by date, so a confirmation that is merely late still carries one.) A window whose
    first days have passed starts today.
    """
    if not requires_shipping(state.order):
        return None
    promise = promise_of(state, store, now)
    if promise.ship_by < today:
        notes.append(f"ship-by date {promise.ship_by.isoformat()} had passed: promise left out")
        return None
    deliver_from = max(promise.deliver_from, today)
    return {
        "ship_by": reader.day(promise.ship_by),
        "deliver_by": reader.day(promise.deliver_by),
        "delivery_window": reader.days(deliver_from, promise.deliver_by),
        "processing_days": reader.count(store.processing_days_min, store.processing_days_max),
    }


def line_items_by_id(order: Order) -> dict[str, LineItem]:
    return {item.line_id: item for item in order.line_items}


def check_lines(order: Order, line_ids: list[str], what: str) -> None:
    known = line_items_by_id(order)
    unknown = [line_id for line_id in line_ids if line_id not in known]
    if unknown:
        raise InvalidEventError(
            f"{what} names line {unknown[0]!r}, which order {order.number} does not contain"
        )


def customer_link(base_url: str, order: Order, **answer: str) -> str:
    """A link that tells the store which order and what the customer answered, in one click.

    The query is merged into any the store's URL already has, so a support form that needs
    its own parameters keeps them.
    """
    parts = urlsplit(base_url)
    query = [*parse_qsl(parts.query), ("order", order.number.lstrip("#")), *answer.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def rating_links(store: StoreFacts, order: Order) -> dict[str, str]:
    """One link per answer to "how did we do?", so rating an order is a single click."""
    base = str(store.rating_url or store.support_url)
    return {score: customer_link(base, order, rating=score) for score in ("good", "okay", "bad")}
