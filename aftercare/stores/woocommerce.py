"""WooCommerce webhooks: verify ``X-WC-Webhook-Signature`` and map orders and customers.

What WooCommerce sends, as read in its source (``includes/class-wc-webhook.php``: ``deliver``,
``generate_signature``, ``deliver_ping``, ``build_payload``):

- the body is the same JSON as ``GET /wp-json/wc/v3/{resource}s/{id}`` (the REST examples in
  https://woocommerce.github.io/woocommerce-rest-api-docs/ are webhook bodies);
- ``X-WC-Webhook-Signature`` is ``base64(HMAC-SHA256(body, secret))``, the secret being what
  the store owner typed (WooCommerce stores it HTML-escaped and decodes it before signing);
- on creation WooCommerce pings the URL with the unsigned form body ``webhook_id=N`` and no
  ``X-WC-Webhook-*`` headers, and reports anything but 200 as an error;
- ``X-WC-Webhook-Delivery-ID`` is ``wp_hash(webhook_id . time())``: new on every attempt, so
  it cannot deduplicate. The dedupe key is derived from the resource instead (``delivery_id``).

Money fields are decimal strings; line subtotals and totals exclude tax even when the store
enters prices with tax (``prices_include_tax``), and refunds in an order carry negative totals.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NoReturn

from babel import Locale, UnknownLocaleError

from aftercare.catalogue_changes import CatalogueChange
from aftercare.events import EventKind, RefundMethod
from aftercare.settings import StoreFacts, WooCommerceOptions
from aftercare.stores import (
    Accepted,
    Delivery,
    MalformedPayloadError,
    ParsedDelivery,
    UnreadableDeliveryError,
    require_keys,
)
from aftercare.stores.body_signature import verify_body_hmac
from aftercare.stores.payload_fields import PayloadFields, load_json, locality, validated_event
from aftercare.stores.payment_methods import payment_details, payment_method_of
from aftercare.stores.woocommerce_products import CATALOGUE_TOPICS, catalogue_change

SOURCE = "woocommerce"
SECRET_SETTING = "AFTERCARE_WOOCOMMERCE__WEBHOOK_SECRET"

SIGNATURE_HEADER = "x-wc-webhook-signature"
TOPIC_HEADER = "x-wc-webhook-topic"

# WooCommerce's creation ping: ``deliver_ping`` posts exactly this, form-encoded.
_PING_BODY = re.compile(rb"webhook_id=\d+")

# The Shipment Tracking extension keeps its parcels in this order meta entry; each item has
# tracking_provider (a slug, empty for a custom carrier), custom_tracking_provider,
# tracking_number, custom_tracking_link, date_shipped (a unix timestamp) and tracking_id
# (https://woocommerce.com/document/shipment-tracking/).
TRACKING_META_KEY = "_wc_shipment_tracking_items"

# WooCommerce orders and customers carry no language; the multilingual plugins keep it in
# ``meta_data``, read in this order: WPML's order language (``wpml_language``: "en",
# "zh-hans"), Polylang's (``pll_language``), TranslatePress's (``trp_language``: "ru_RU"),
# and the WordPress user's own ``locale`` ("th", "zh_CN") on a customer. Some setups
# keep them private, with a leading underscore.
LANGUAGE_META_KEYS = ("wpml_language", "pll_language", "trp_language", "locale")

# Provider slugs whose name is not simply the slug in title case.
_CARRIER_NAMES = {
    "usps": "USPS",
    "ups": "UPS",
    "fedex": "FedEx",
    "dhl": "DHL",
    "dhl-us": "DHL US",
    "dpd": "DPD",
    "dpd-uk": "DPD UK",
    "gls": "GLS",
    "tnt": "TNT",
    "ontrac": "OnTrac",
    "dhl-parcel": "DHL Parcel",
    "postnl": "PostNL",
}


class _Fields(PayloadFields):
    """A WooCommerce JSON object: money may be an empty string, times are ``*_gmt``."""

    def money(self, key: str) -> Decimal:
        """A money field WooCommerce may leave empty for "nothing" (``discount_tax: ""``)."""
        return self.decimal(key) or Decimal(0)

    def gmt_time(self, key: str) -> datetime | None:
        """A ``*_gmt`` field: ISO 8601 without an offset, in UTC.

        The fields without ``_gmt`` are in the site's time zone, which the payload does not
        name, so they are never used.
        """
        value = self._data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise MalformedPayloadError(f"{self.at(key)} is not a date and time")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise MalformedPayloadError(
                f"{self.at(key)} is not an ISO 8601 date and time"
            ) from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class WooCommerceAdapter:
    """Verifies and normalizes WooCommerce webhook deliveries (one ``StoreAdapter``)."""

    source = SOURCE
    # Topic, signature, source URL, webhook and delivery ids (``X-WC-Webhook-*``).
    kept_header_prefixes: tuple[str, ...] = ("x-wc-",)

    def __init__(self, options: WooCommerceOptions, store: StoreFacts) -> None:
        self.options = options
        self.store = store

    # --- StoreAdapter -------------------------------------------------------------------------

    def verify(self, delivery: Delivery) -> None:
        """Check ``X-WC-Webhook-Signature`` against the raw body, in constant time."""
        verify_body_hmac(
            delivery,
            self.options.webhook_secret,
            header=SIGNATURE_HEADER,
            header_label="X-WC-Webhook-Signature",
            no_secret="no WooCommerce webhook secret is configured: set "
            f"{SECRET_SETTING} to the secret of the webhook (WooCommerce → Settings → "
            "Advanced → Webhooks)",
            missing_header="the request did not come from a WooCommerce webhook",
            wrong_secret=f"{SECRET_SETTING} is not this webhook's secret",
        )

    def is_ping(self, delivery: Delivery) -> bool:
        """WooCommerce's unsigned ``webhook_id=N`` creation ping, answered 200 unverified.

        It carries no data, so answering it does nothing but let the store owner save the
        webhook; a body that merely starts like one is not a ping.
        """
        return (
            TOPIC_HEADER not in delivery.headers
            and _PING_BODY.fullmatch(delivery.body.strip()) is not None
        )

    def delivery_id(self, delivery: Delivery) -> str:
        """``{resource}:{id}:{topic}:{date_modified_gmt}:{status}``, read from the body.

        WooCommerce's own Delivery-ID changes on every attempt, but a re-delivery of the same
        change carries the same resource, modification time and status. Refund ids and
        tracking numbers are folded in (a short digest) because adding either may not move
        ``date_modified`` to a new second, yet is news the customer must hear about.
        """
        return _dedupe_key(self._topic(delivery), load_json(delivery.body), delivery.body)

    def accept(self, delivery: Delivery) -> Accepted:
        topic = self._topic(delivery)
        data = load_json(delivery.body)
        if topic in CATALOGUE_TOPICS:
            require_keys(data, CATALOGUE_TOPICS[topic], topic)
            return Accepted(_dedupe_key(topic, data, delivery.body), topic)
        if topic not in ("customer.created", "order.created", "order.updated"):
            key = f"{topic}:{hashlib.sha256(delivery.body).hexdigest()[:24]}"
            return Accepted(key, topic, ignored=f"topic {topic} is not used by Aftercare")
        require_keys(data, ("id",), topic)
        return Accepted(_dedupe_key(topic, data, delivery.body), topic)

    def catalogue_change(self, delivery: Delivery) -> CatalogueChange | None:
        """``product.created|updated|restored|deleted``: the product news that keeps the
        cross-sell catalogue current (``stores/woocommerce_products.py``); None for any
        other topic."""
        topic = self._topic(delivery)
        if topic not in CATALOGUE_TOPICS:
            return None
        return catalogue_change(topic, load_json(delivery.body), self.store)

    def parse(self, delivery: Delivery) -> ParsedDelivery:
        topic = self._topic(delivery)
        data = load_json(delivery.body)
        delivery_id = _dedupe_key(topic, data, delivery.body)
        relevant = {
            name: value
            for name, value in delivery.headers.items()
            if name.startswith("x-wc-webhook-") or name == "content-type"
        }

        def ignored(reason: str) -> ParsedDelivery:
            return ParsedDelivery(
                source=SOURCE,
                delivery_id=delivery_id,
                topic=topic,
                ignored=reason,
                relevant_headers=relevant,
            )

        if topic == "customer.created":
            outcome = _customer_created(_Fields(data, ""), delivery_id)
        elif topic in ("order.created", "order.updated"):
            outcome = _order_events(_Fields(data, ""), topic, delivery_id)
        elif topic in CATALOGUE_TOPICS:
            # No order event: the drain asks ``catalogue_change``.
            return ignored(f"topic {topic} is a catalogue change for Aftercare")
        else:
            return ignored(f"topic {topic} is not used by Aftercare")
        if isinstance(outcome, str):
            return ignored(outcome)
        return ParsedDelivery(
            source=SOURCE,
            delivery_id=delivery_id,
            topic=topic,
            events=tuple(validated_event(event, topic) for event in outcome),
            relevant_headers=relevant,
        )

    @staticmethod
    def _topic(delivery: Delivery) -> str:
        topic = (delivery.headers.get(TOPIC_HEADER) or "").strip()
        if not topic:
            raise UnreadableDeliveryError("the X-WC-Webhook-Topic header is missing")
        return topic


def _dedupe_key(topic: str, data: Any, body: bytes) -> str:
    resource = topic.split(".", 1)[0]
    if not isinstance(data, dict) or data.get("id") in (None, ""):
        # ``action.*`` topics send {"action", "arg"}; nothing identifies them but the bytes.
        return f"{resource}:{topic}:sha256:{hashlib.sha256(body).hexdigest()[:32]}"
    payload = _Fields(data, "")
    modified = payload.text("date_modified_gmt") or payload.text("date_created_gmt") or "-"
    status = payload.text("status") or "-"
    key = f"{resource}:{payload.ident('id')}:{topic}:{modified}:{status}"
    extras = _stock_marker(payload) if resource == "product" else _news_marker(payload)
    return f"{key}:{extras}" if extras else key


def _stock_marker(payload: _Fields) -> str:
    """A product's price and stock, digested: a sale can change them within the second of
    the last modification, and that update must not pass for a retry of the one before."""
    seen = json.dumps(
        [str(payload.raw(k)) for k in ("price", "stock_quantity", "stock_status", "manage_stock")]
    )
    return hashlib.sha256(seen.encode("utf-8")).hexdigest()[:12]


def _news_marker(payload: _Fields) -> str | None:
    refunds = sorted(str(r.raw("id")) for r in payload.children("refunds"))
    tracking = sorted(item.get("tracking_number") or "" for item in _tracking_items(payload))
    if not refunds and not tracking:
        return None
    seen = json.dumps({"refunds": refunds, "tracking": tracking}, sort_keys=True)
    return hashlib.sha256(seen.encode("utf-8")).hexdigest()[:12]


# --- customers ------------------------------------------------------------------------------------


def _customer_created(payload: _Fields, delivery_id: str) -> list[dict[str, Any]] | str:
    billing = payload.child("billing")
    email = payload.text("email") or (billing.text("email") if billing else None)
    if not email:
        return f"customer {payload.ident('id')} has no email address, so no welcome email"
    customer = {
        "external_id": payload.ident("id"),
        "email": email,
        "first_name": payload.text("first_name"),
        "last_name": payload.text("last_name"),
        "locale": meta_locale(payload),
        "locality": _address_locality(payload.child("shipping")) or _address_locality(billing),
    }
    occurred_at = payload.gmt_time("date_created_gmt") or payload.gmt_time("date_modified_gmt")
    if occurred_at is None:
        raise MalformedPayloadError("date_created_gmt is missing")
    return [
        {
            "kind": EventKind.CUSTOMER_CREATED,
            "source": SOURCE,
            "source_event_id": delivery_id,
            "occurred_at": occurred_at,
            "customer": customer,
        }
    ]


# --- orders ---------------------------------------------------------------------------------------


# WooCommerce's own offline payment methods (Direct bank transfer, Check payments, Cash on
# delivery): the customer pays after ordering, and the store marks the payment received.
_OFFLINE_METHODS = frozenset({"bacs", "cheque", "cod"})


def _payment_due_later(status: str, method: str | None) -> bool:
    """Whether the order waits for the offline payment its customer chose.

    A bank transfer or a cheque holds the order ``on-hold`` until the store has the money and
    moves it to ``processing``; cash on delivery is paid at the door, so its order is
    ``processing`` from the start (``on-hold`` when it holds downloads) and still unpaid.
    (WooCommerce sets ``date_paid`` on reaching ``processing`` either way, so it cannot tell.)
    """
    if method == "cod":
        return status in ("on-hold", "processing")
    return method in _OFFLINE_METHODS and status == "on-hold"


def _order_events(payload: _Fields, topic: str, delivery_id: str) -> list[dict[str, Any]] | str:
    """The events one order snapshot stands for, from its status, whichever topic brought it.

    - ``processing`` (paid, or cash on delivery) → ORDER_PLACED, and so is ``on-hold`` with
      an offline payment method (``_payment_due_later``): that customer pays after ordering
      and needs the confirmation, with the store's bank details, first. WooCommerce has no
      "confirmed" event of its own; the confirmation is keyed per order, so the order moving
      on from ``on-hold`` to ``processing``, or a repeat of the status, sends nothing twice.
    - ``pending`` (checkout not finished: the customer may still be at the payment page),
      ``failed``, and ``on-hold`` with an online gateway (a payment under review, a debit
      still clearing: it may yet be declined) are not confirmed yet → ORDER_UPDATED; the
      confirmation follows when the order moves to ``processing``.
    - ``completed`` → ORDER_SHIPPED (WooCommerce's "your order is complete" moment), with
      the Shipment Tracking extension's parcels when present. An order *created* already
      completed (a virtual order paid on the spot) is confirmed instead.
    - ``cancelled`` → ORDER_CANCELLED.
    - every refund in ``refunds`` → ORDER_REFUNDED. A partial refund leaves the status alone,
      so refunds are read on every update; the refunded email is keyed per refund id.
      ``refunded`` itself adds nothing beyond its refunds.

    Every event carries the whole order and its customer, so whichever arrives first
    creates the order's state (a shipment before its confirmation loses nothing).
    """
    order_id = payload.ident("id")
    customer = _order_customer(payload)
    if customer is None:
        return f"order {order_id} has no billing email, so there is no one to write to"
    status = payload.text("status") or ""
    occurred_at = (
        payload.gmt_time("date_modified_gmt")
        or payload.gmt_time("date_created_gmt")
        or _missing("date_modified_gmt")
    )
    due_later = _payment_due_later(status, payload.text("payment_method"))
    order = _order(
        payload,
        cancelled_at=occurred_at if status == "cancelled" else None,
        payment_due_later=due_later,
    )

    def event(kind: EventKind, event_id: str, **parts: Any) -> dict[str, Any]:
        return {
            "kind": kind,
            "source": SOURCE,
            "source_event_id": event_id,
            "occurred_at": occurred_at,
            "order_id": order_id,
            "order": order,
            "customer": customer,
            **parts,
        }

    refunds = (
        [
            event(
                EventKind.ORDER_REFUNDED,
                f"{delivery_id}:refund:{refund['external_id']}",
                refund=refund,
            )
            for refund in _refunds(payload, order["currency"], occurred_at)
        ]
        if topic == "order.updated"
        else []
    )

    placed = status == "processing" or (status == "on-hold" and due_later)
    if placed or (status == "completed" and topic == "order.created"):
        primary = [event(EventKind.ORDER_PLACED, delivery_id)]
    elif status == "completed":
        fulfilment = _fulfilment(payload, order, shipped_at=occurred_at)
        primary = [event(EventKind.ORDER_SHIPPED, delivery_id, fulfilment=fulfilment)]
    elif status == "cancelled":
        primary = [event(EventKind.ORDER_CANCELLED, delivery_id)]
    elif status == "refunded" and refunds:
        primary = []
    else:
        primary = [event(EventKind.ORDER_UPDATED, delivery_id)]
    return primary + refunds


def _missing(field: str) -> NoReturn:
    raise MalformedPayloadError(f"{field} is missing")


def _order_customer(order: _Fields) -> dict[str, Any] | None:
    """The billing contact: WooCommerce emails the billing address, guests included.

    ``customer_id`` 0 means a guest checkout: no account, so no external id.
    """
    billing = order.child("billing")
    email = billing.text("email") if billing else None
    if not email:
        return None
    assert billing is not None
    account = order.text("customer_id")
    return {
        "external_id": account if account and account != "0" else None,
        "email": email,
        "first_name": billing.text("first_name"),
        "last_name": billing.text("last_name"),
        "locale": meta_locale(order),
    }


def meta_locale(payload: _Fields) -> str | None:
    """The customer's language as a multilingual plugin stored it (``LANGUAGE_META_KEYS``),
    or None: an unknown tag never refuses the order, the store's language applies."""
    found: dict[str, str] = {}
    for meta in payload.children("meta_data"):
        key, value = meta.raw("key"), meta.raw("value")
        if isinstance(key, str) and isinstance(value, str) and value.strip():
            found.setdefault(key.removeprefix("_"), value.strip())
    for key in LANGUAGE_META_KEYS:
        tag = found.get(key)
        if tag:
            try:
                return str(Locale.parse(tag.replace("-", "_")))
            except (UnknownLocaleError, ValueError):
                continue
    return None


def _address_locality(address: _Fields | None) -> dict[str, Any] | None:
    if address is None:
        return None
    return locality(address.text("country"), address.text("state"), address.text("city"))


def _address(address: _Fields | None) -> dict[str, Any] | None:
    """A WooCommerce ``billing``/``shipping`` block, or None when it is empty.

    Orders of only virtual products have an empty ``shipping`` block.
    """
    if address is None:
        return None
    line1 = address.text("address_1") or address.text("address_2")
    line2 = address.text("address_2") if address.text("address_1") else None
    city = address.text("city") or address.text("state")
    country = address.text("country")
    if not (line1 and city and country):
        return None
    names = (address.text("first_name"), address.text("last_name"))
    return {
        "name": " ".join(n for n in names if n) or None,
        "company": address.text("company"),
        "line1": line1,
        "line2": line2,
        "city": city,
        "region": address.text("state"),
        "postal_code": address.text("postcode"),
        "country_code": country,
        "phone": address.text("phone"),
    }


def _title(text: str | None) -> str | None:
    """WooCommerce stores product names HTML-escaped (``Ship Your Idea &ndash; Black``);
    the templates escape again, so the entity is decoded here, once."""
    return html.unescape(text) if text else text


def _order(
    payload: _Fields, *, cancelled_at: datetime | None, payment_due_later: bool
) -> dict[str, Any]:
    """An order snapshot with every cost the customer pays.

    WooCommerce's line ``subtotal`` is before coupons and ``total`` after; both exclude tax.
    Lines are kept at their undiscounted price and the coupons appear once, as
    ``discounts`` with their codes, so ``subtotal`` (the sum of line subtotals) minus
    ``discounts`` plus shipping, taxes and duties is the order ``total``. When the store
    enters prices with tax (``prices_include_tax``), the customer saw prices with tax, so
    lines, discounts and shipping include their tax and ``taxes`` is only the part of the
    total that was tax.

    Fees (a payment surcharge) are part of the total, so a positive fee is listed as a line
    the customer can see and a negative fee (a discount given as a fee) joins ``discounts``.
    """
    with_tax = payload.raw("prices_include_tax") is True

    def gross(fields: _Fields, amount: str, tax: str) -> Decimal:
        return fields.money(amount) + (fields.money(tax) if with_tax else Decimal(0))

    lines = []
    for line in payload.children("line_items"):
        quantity = line.integer("quantity")
        if quantity <= 0:
            continue
        subtotal = gross(line, "subtotal", "subtotal_tax")
        lines.append(
            {
                "line_id": line.ident("id"),
                "product_id": line.text("product_id")
                if line.text("product_id") not in (None, "0")
                else None,
                "sku": line.text("sku"),
                "title": _title(line.text("name")),
                "quantity": quantity,
                "unit_price": _unit_price(subtotal, quantity),
                # WooCommerce notes an item ordered beyond its stock in the line's meta.
                "backordered": any(
                    meta.text("key") == "Backordered" for meta in line.children("meta_data")
                ),
            }
        )
    discounts = gross(payload, "discount_total", "discount_tax")
    for fee in payload.children("fee_lines"):
        amount = gross(fee, "total", "total_tax")
        if amount < 0:
            discounts += -amount
        elif amount > 0:
            lines.append(
                {
                    "line_id": f"fee-{fee.ident('id')}",
                    "title": _title(fee.text("name")) or "Fee",
                    "quantity": 1,
                    "unit_price": amount,
                    "requires_shipping": False,
                }
            )
    shipping = gross(payload, "shipping_total", "shipping_tax")
    tax_lines = []
    for tax in payload.children("tax_lines"):
        rate_percent = tax.decimal("rate_percent")
        tax_lines.append(
            {
                "title": tax.text("label") or tax.text("rate_code") or "Tax",
                "rate": rate_percent / 100 if rate_percent is not None else None,
                "amount": tax.money("tax_total") + tax.money("shipping_tax_total"),
            }
        )
    number = payload.text("number") or payload.ident("id")
    return {
        "external_id": payload.ident("id"),
        "number": number.removeprefix("#"),
        "placed_at": payload.gmt_time("date_created_gmt") or _missing("date_created_gmt"),
        "currency": payload.required("currency"),
        "line_items": lines,
        "costs": {
            "subtotal": sum((line["unit_price"] * line["quantity"] for line in lines), Decimal(0)),
            "discounts": discounts,
            "shipping": shipping,
            "taxes": payload.money("total_tax"),
            "total": payload.required_decimal("total"),
            "taxes_included": with_tax,
            "tax_lines": tax_lines,
            "discount_codes": [
                code for c in payload.children("coupon_lines") if (code := c.text("code"))
            ],
        },
        "shipping_address": _address(payload.child("shipping")),
        "billing_address": _address(payload.child("billing")),
        "note": payload.text("customer_note"),
        "cancelled_at": cancelled_at,
        "payment_due_later": payment_due_later,
        "payment_method": payment_method_of([payload.text("payment_method")]),
        "payment": payment_details(title=payload.text("payment_method_title")),
        "shipping_method": " + ".join(
            dict.fromkeys(
                title
                for line in payload.children("shipping_lines")
                if (title := line.text("method_title"))
            )
        )
        or None,
    }


def _unit_price(line_subtotal: Decimal, quantity: int) -> Decimal:
    """Whole cents in practice; an odd division (10.00 for 3) keeps six places, as the model
    allows, and ``subtotal`` is summed from these so the lines still add up to it."""
    unit = line_subtotal / quantity
    exponent = unit.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        unit = unit.quantize(Decimal("0.000001"))
    return unit


def _refunds(payload: _Fields, currency: str, seen_at: datetime) -> list[dict[str, Any]]:
    """The order's ``refunds``: ``[{id, reason, total}]``, total negative.

    The order payload carries no refund date or items (those live under
    ``/orders/{id}/refunds``), so ``created_at`` is when the order last changed, which for a
    new refund is when it was made. Whether the money went back through the gateway is not
    in the order either: ORIGINAL_PAYMENT, as WooCommerce's own refund email says.
    """
    refunds = []
    for refund in payload.children("refunds"):
        amount = abs(refund.required_decimal("total"))
        if amount == 0:
            continue
        refunds.append(
            {
                "external_id": refund.ident("id"),
                "created_at": seen_at,
                "amount": amount,
                "currency": currency,
                "method": RefundMethod.ORIGINAL_PAYMENT,
                # Older API versions call the reason "refund".
                "reason": refund.text("reason") or refund.text("refund"),
            }
        )
    return refunds


# --- shipment tracking ----------------------------------------------------------------------------


def _tracking_items(payload: _Fields) -> list[dict[str, Any]]:
    """The Shipment Tracking extension's parcels, tolerating how plugins store them.

    The REST API returns the meta value as a list of objects; a few setups hand it over as
    a JSON string. Anything else is not tracking data Aftercare can read, and is skipped
    rather than refusing the order.
    """
    for meta in payload.children("meta_data"):
        if meta.raw("key") != TRACKING_META_KEY:
            continue
        value = meta.raw("value")
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                return []
        if isinstance(value, dict):  # a PHP array with non-sequential keys
            value = list(value.values())
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
    return []


def _carrier_name(item: Mapping[str, Any]) -> str | None:
    custom = str(item.get("custom_tracking_provider") or "").strip()
    if custom:
        return custom
    slug = str(item.get("tracking_provider") or "").strip()
    if not slug:
        return None
    return _CARRIER_NAMES.get(slug.lower(), slug.replace("-", " ").title())


def _fulfilment(
    payload: _Fields, order: Mapping[str, Any], *, shipped_at: datetime
) -> dict[str, Any]:
    """One parcel for the whole order, tracked when the extension recorded tracking.

    Completion is one moment per WooCommerce order, and WooCommerce does not say which items
    went in which box, so every shippable line ships and the fulfilment id is the order id:
    a tracking number added after completion refreshes this parcel instead of sending a
    second "shipped" email.
    """
    tracking = _tracking_items(payload)
    numbers = [str(i.get("tracking_number") or "").strip() for i in tracking]
    links = [
        str(i.get("custom_tracking_link") or i.get("formatted_tracking_link") or "").strip()
        for i in tracking
    ]
    carriers = [name for name in (_carrier_name(i) for i in tracking) if name]
    shipped = [_unix_time(i.get("date_shipped")) for i in tracking]
    return {
        "external_id": str(order["external_id"]),
        "created_at": next((when for when in shipped if when), None) or shipped_at,
        "carrier": carriers[0] if carriers else None,
        "tracking_numbers": [n for n in numbers if n],
        "tracking_urls": [link for link in links if link.startswith(("https://", "http://"))],
        "items": [
            {"line_id": line["line_id"], "quantity": line["quantity"]}
            for line in order["line_items"]
            if line.get("requires_shipping", True)
        ],
    }


def _unix_time(value: Any) -> datetime | None:
    """``date_shipped``: a unix timestamp, as a number or a string of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal) or (isinstance(value, str) and value.isdigit()):
        return datetime.fromtimestamp(int(value), tz=UTC)
    return None
