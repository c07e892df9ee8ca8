"""Shopify webhooks: verify ``X-Shopify-Hmac-Sha256`` and map each topic to order events.

Shopify signs the raw request body with the app's client secret and sends
``base64(HMAC-SHA256(body, secret))`` in ``X-Shopify-Hmac-Sha256``
(https://shopify.dev/docs/apps/build/webhooks/subscribe/https, and the "Headers" section of
https://shopify.dev/docs/api/webhooks/2026-07).
It retries a failed delivery 8 times over 4 hours with the same ``X-Shopify-Event-Id`` and
deletes subscriptions that keep failing, so an authentic topic Aftercare has no use for is
answered 200 and recorded as ignored, never refused.

Money is read from the ``*_set.presentment_money`` amounts: that is the currency the customer
saw and paid in (``presentment_currency``); the plain fields are in the shop's currency.
Payloads are parsed with ``parse_float=Decimal``, so an amount Shopify sends as a JSON number
(``refund_line_items[].subtotal``, ``tax_lines[].rate``) never passes through a float.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from babel import Locale, UnknownLocaleError

from aftercare.catalogue_changes import CatalogueChange
from aftercare.events import (
    EventKind,
    PrivacyRequest,
    PrivacyRequestKind,
    RefundMethod,
    ShipmentStatus,
)
from aftercare.settings import ShopifyOptions, StoreFacts
from aftercare.stores import (
    Accepted,
    Delivery,
    MalformedPayloadError,
    ParsedDelivery,
    UnreadableDeliveryError,
)
from aftercare.stores.body_signature import verify_body_hmac
from aftercare.stores.identifying_fields import require_fields
from aftercare.stores.payload_fields import PayloadFields, load_json, locality, validated_event
from aftercare.stores.payment_methods import payment_details, payment_method_of
from aftercare.stores.shopify_products import CATALOGUE_TOPICS, catalogue_change

SOURCE = "shopify"
SECRET_SETTING = "AFTERCARE_SHOPIFY__WEBHOOK_SECRET"

HMAC_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"
EVENT_ID_HEADER = "x-shopify-event-id"
WEBHOOK_ID_HEADER = "x-shopify-webhook-id"
TRIGGERED_AT_HEADER = "x-shopify-triggered-at"

# Fulfillment event statuses (https://shopify.dev/docs/api/admin-rest/latest/resources/fulfillmentevent)
# that have no ShipmentStatus of their own, in the words the customer would use.
_EVENT_STATUS_ALIASES = {
    "label_purchased": ShipmentStatus.LABEL_PRINTED,
    "carrier_picked_up": ShipmentStatus.IN_TRANSIT,
    "picked_up": ShipmentStatus.DELIVERED,  # collected by the customer at a pickup point
}

# A fulfilment in one of these states never left (or was taken back): no shipped email.
_NOT_SHIPPED = frozenset({"cancelled", "error", "failure"})


class _Fields(PayloadFields):
    """A Shopify JSON object: times carry their UTC offset."""

    def time(self, key: str) -> datetime | None:
        value = self._data.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise MalformedPayloadError(f"{self.at(key)} is not a date and time")
        return _parse_time(value, self.at(key))

    def required_time(self, key: str) -> datetime:
        self.required(key)
        moment = self.time(key)
        assert moment is not None
        return moment


def _parse_time(value: str, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedPayloadError(f"{where} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        raise MalformedPayloadError(f"{where} has no UTC offset")
    return moment


def _known_locale(tag: str | None) -> str | None:
    """Shopify's ``customer_locale`` (``en``, ``pt-BR``), or None when Babel cannot format it.

    An unknown locale must not refuse the whole order: the email falls back to the store's.
    """
    if not tag:
        return None
    try:
        Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return None
    return tag.replace("-", "_")


class ShopifyAdapter:
    """Verifies and normalizes Shopify webhook deliveries (one ``StoreAdapter``)."""

    source = SOURCE
    # Topic, event and webhook ids, trigger time, signature, shop domain, API version.
    kept_header_prefixes: tuple[str, ...] = ("x-shopify-",)

    def __init__(self, options: ShopifyOptions, store: StoreFacts) -> None:
        self.options = options
        self.store = store

    # --- StoreAdapter -------------------------------------------------------------------------

    def verify(self, delivery: Delivery) -> None:
        """Check ``X-Shopify-Hmac-Sha256`` against the raw body, in constant time."""
        verify_body_hmac(
            delivery,
            self.options.webhook_secret,
            header=HMAC_HEADER,
            header_label="X-Shopify-Hmac-Sha256",
            no_secret="no Shopify webhook secret is configured: set "
            f"{SECRET_SETTING} to the app's client secret (Shopify admin → Apps → "
            "your app → API credentials)",
            missing_header="the request did not come from Shopify's webhook service",
            wrong_secret=f"{SECRET_SETTING} is not this app's client secret",
        )

    def delivery_id(self, delivery: Delivery) -> str:
        """``X-Shopify-Event-Id``: the same on every retry and on every subscription's copy.

        Older API versions send no event id; ``X-Shopify-Webhook-Id`` is then stable across
        retries of one delivery (https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates).
        """
        for header in (EVENT_ID_HEADER, WEBHOOK_ID_HEADER):
            value = (delivery.headers.get(header) or "").strip()
            if value:
                return value
        raise UnreadableDeliveryError(
            "the X-Shopify-Event-Id and X-Shopify-Webhook-Id headers are both missing, so the "
            "delivery cannot be told apart from Shopify's retries"
        )

    def accept(self, delivery: Delivery) -> Accepted:
        topic = (delivery.headers.get(TOPIC_HEADER) or "").strip()
        if not topic:
            raise UnreadableDeliveryError("the X-Shopify-Topic header is missing")
        delivery_id = self.delivery_id(delivery)
        if topic in CATALOGUE_TOPICS:
            require_fields(delivery.body, CATALOGUE_TOPICS[topic], topic)
            return Accepted(delivery_id, topic)
        if topic not in _TOPICS and topic not in _PRIVACY_TOPICS:
            return Accepted(delivery_id, topic, ignored=f"topic {topic} is not used by Aftercare")
        require_fields(delivery.body, _IDENTIFYING_KEYS[topic], topic)
        return Accepted(delivery_id, topic)

    def catalogue_change(self, delivery: Delivery) -> CatalogueChange | None:
        """``products/create|update|delete`` and ``inventory_levels/update``: the product
        and stock news that keeps the cross-sell catalogue current
        (``stores/shopify_products.py``); None for any other topic."""
        topic = (delivery.headers.get(TOPIC_HEADER) or "").strip()
        if topic not in CATALOGUE_TOPICS:
            return None
        return catalogue_change(topic, load_json(delivery.body), self.store)

    def privacy_request(self, delivery: Delivery) -> PrivacyRequest | None:
        """``customers/data_request``, ``customers/redact`` and ``shop/redact``: the
        compliance webhooks every public app must answer 200 (verified like every webhook),
        then act on within 30 days
        (https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance)."""
        topic = (delivery.headers.get(TOPIC_HEADER) or "").strip()
        kind = _PRIVACY_TOPICS.get(topic)
        if kind is None:
            return None
        payload = _Fields(load_json(delivery.body), "")
        shop_domain = payload.text("shop_domain")
        if kind is PrivacyRequestKind.SHOP_REDACT:
            payload.ident("shop_id")
            return PrivacyRequest(kind=kind, source=SOURCE, shop_domain=shop_domain)
        customer = payload.child("customer")
        if customer is None:
            raise MalformedPayloadError("customer is missing")
        customer_id, email = customer.optional_ident("id"), customer.text("email")
        if customer_id is None and email is None:
            raise MalformedPayloadError("customer.id and customer.email are both missing")
        order_key = (
            "orders_requested" if kind is PrivacyRequestKind.DATA_REQUEST else ("orders_to_redact")
        )
        orders = payload.raw(order_key) or []
        if not isinstance(orders, list) or any(
            isinstance(o, bool) or not isinstance(o, str | int) for o in orders
        ):
            raise MalformedPayloadError(f"{order_key} is not a list of ids")
        request = payload.child("data_request")
        return PrivacyRequest(
            kind=kind,
            source=SOURCE,
            shop_domain=shop_domain,
            customer_id=customer_id,
            email=email,
            phone=customer.text("phone"),
            order_ids=tuple(str(o) for o in orders),
            request_id=request.optional_ident("id") if request else None,
        )

    def is_ping(self, delivery: Delivery) -> bool:
        """Shopify has no ping: its "send test notification" is a signed, ordinary delivery."""
        return False

    def parse(self, delivery: Delivery) -> ParsedDelivery:
        topic = (delivery.headers.get(TOPIC_HEADER) or "").strip()
        if not topic:
            raise UnreadableDeliveryError("the X-Shopify-Topic header is missing")
        delivery_id = self.delivery_id(delivery)
        relevant = {
            name: value
            for name, value in delivery.headers.items()
            if name.startswith("x-shopify-") or name == "content-type"
        }
        mapper = _TOPICS.get(topic)
        if mapper is None:
            # A privacy request is no order event: the drain asks ``privacy_request``; nor is
            # a catalogue change: it asks ``catalogue_change``.
            unused = "is a privacy request for" if topic in _PRIVACY_TOPICS else "is not used by"
            unused = "is a catalogue change for" if topic in CATALOGUE_TOPICS else unused
            return ParsedDelivery(
                source=SOURCE,
                delivery_id=delivery_id,
                topic=topic,
                ignored=f"topic {topic} {unused} Aftercare",
                relevant_headers=relevant,
            )
        payload = _Fields(load_json(delivery.body), "")
        triggered_at = delivery.headers.get(TRIGGERED_AT_HEADER)
        context = _Context(
            topic=topic,
            event_id=delivery_id,
            triggered_at=_parse_time(triggered_at, "X-Shopify-Triggered-At")
            if triggered_at
            else None,
            options=self.options,
            store=self.store,
        )
        outcome = mapper(payload, context)
        if isinstance(outcome, str):
            return ParsedDelivery(
                source=SOURCE,
                delivery_id=delivery_id,
                topic=topic,
                ignored=outcome,
                relevant_headers=relevant,
            )
        event = validated_event(outcome, topic)
        return ParsedDelivery(
            source=SOURCE,
            delivery_id=delivery_id,
            topic=topic,
            events=(event,),
            relevant_headers=relevant,
        )


@dataclass(frozen=True)
class _Context:
    """What every topic mapper needs besides the payload."""

    topic: str
    event_id: str
    triggered_at: datetime | None
    options: ShopifyOptions
    store: StoreFacts

    def occurred_at(self, payload: _Fields) -> datetime:
        """When Shopify says the event happened: the header, else the resource's own times.

        ``X-Shopify-Triggered-At`` is what the receiver compares to ignore an update older
        than the state it already holds.
        """
        if self.triggered_at is not None:
            return self.triggered_at
        for key in ("updated_at", "created_at"):
            moment = payload.time(key)
            if moment is not None:
                return moment
        raise MalformedPayloadError("updated_at and created_at are both missing")

    def event(self, kind: EventKind, occurred_at: datetime, **parts: Any) -> dict[str, Any]:
        return {
            "kind": kind,
            "source": SOURCE,
            "source_event_id": self.event_id,
            "occurred_at": occurred_at,
            **parts,
        }


# --- money ----------------------------------------------------------------------------------------


def _presentment(resource: _Fields, name: str, *, same_currency: bool) -> Decimal | None:
    """``name`` in the currency the customer paid in (``{name}_set.presentment_money``).

    Older payloads have only the plain field, in the shop's currency: fine when the customer
    paid in that currency, a 422 otherwise (guessing an exchange rate would print a wrong
    amount in the email).
    """
    money_set = resource.child(f"{name}_set")
    if money_set is not None:
        presentment = money_set.child("presentment_money")
        if presentment is not None:
            return presentment.required_decimal("amount")
    if not same_currency:
        raise MalformedPayloadError(
            f"{resource.at(name + '_set')}.presentment_money is missing, and the order was "
            "paid in a currency other than the shop's"
        )
    return resource.decimal(name)


def _required_presentment(resource: _Fields, name: str, *, same_currency: bool) -> Decimal:
    amount = _presentment(resource, name, same_currency=same_currency)
    if amount is None:
        raise MalformedPayloadError(f"{resource.at(name)} is missing")
    return amount


def _presentment_currency(money_sets: Iterable[_Fields | None]) -> str | None:
    for money_set in money_sets:
        presentment = money_set.child("presentment_money") if money_set else None
        code = presentment.text("currency_code") if presentment else None
        if code:
            return code
    return None


# --- orders ---------------------------------------------------------------------------------------


def _address(address: _Fields | None) -> dict[str, Any] | None:
    """A Shopify address, or None when it has no street, town or country to print.

    Shopify leaves ``city`` empty for a few places (Hong Kong's districts are a
    ``province``); the region stands in rather than losing the whole order.
    """
    if address is None:
        return None
    line1 = address.text("address1") or address.text("address2")
    line2 = address.text("address2") if address.text("address1") else None
    city = address.text("city") or address.text("province")
    country = address.text("country_code")
    if not (line1 and city and country):
        return None
    names = (address.text("first_name"), address.text("last_name"))
    return {
        "name": address.text("name") or " ".join(n for n in names if n) or None,
        "company": address.text("company"),
        "line1": line1,
        "line2": line2,
        "city": city,
        "region": address.text("province"),
        "postal_code": address.text("zip"),
        "country_code": country,
        "phone": address.text("phone"),
    }


def _order_customer(order: _Fields) -> dict[str, Any] | None:
    """The person to email about this order; None when the order has no email address.

    The ``customer`` object is absent when the app lacks protected-customer-data access or
    the order came from a channel without one; the order's own ``email``/``contact_email``
    and the billing name still identify who to write to.
    """
    customer = order.child("customer")
    email = (customer.text("email") if customer else None) or order.text("email")
    email = email or order.text("contact_email")
    if not email:
        return None
    billing = order.child("billing_address") or order.child("shipping_address")
    first = customer.text("first_name") if customer else None
    last = customer.text("last_name") if customer else None
    if not (first or last) and billing is not None:
        first, last = billing.text("first_name"), billing.text("last_name")
    return {
        "external_id": customer.optional_ident("id") if customer else None,
        "email": email,
        "first_name": first,
        "last_name": last,
        # The locale the customer shopped in; the customer's own (``customer.locale``,
        # the GraphQL field some apps copy into the payload) where the order has none.
        "locale": _known_locale(order.text("customer_locale"))
        or (_known_locale(customer.text("locale")) if customer else None),
        # Shopify does not say where the customer is; the store's time zone applies.
        "time_zone": None,
        "marketing_consent": _marketing_consent(customer, order),
    }


# ``email_marketing_consent.state`` (https://shopify.dev/docs/api/admin-rest/latest/resources/customer)
# in Aftercare's three words. "pending" is a double opt-in not yet confirmed: no consent, and
# no objection either. "redacted" is a customer whose data Shopify erased on request: no
# consent to market to. "invalid" says nothing usable: the deprecated fields decide.
_CONSENT_STATES: dict[str, str | None] = {
    "subscribed": "subscribed",
    "not_subscribed": "not_subscribed",
    "pending": "not_subscribed",
    "unsubscribed": "unsubscribed",
    "redacted": "unsubscribed",
    "invalid": None,
}


def _marketing_consent(customer: _Fields | None, order: _Fields | None = None) -> str | None:
    """The customer's email-marketing consent; None when the payload does not say.

    In order: the customer's ``email_marketing_consent.state``, then the deprecated
    ``accepts_marketing`` (``false`` cannot tell "never subscribed" from "unsubscribed", so
    it reads as not subscribed), then the order's ``buyer_accepts_marketing`` — the box at
    this checkout, which Shopify's own sample orders carry alone: ticked is consent, left
    unticked withdraws none given before, so it says nothing. A value of the wrong shape is
    read as unsaid: a marketing flag never refuses an order.
    """
    if customer is not None:
        consent = customer.raw("email_marketing_consent")
        state = consent.get("state") if isinstance(consent, dict) else None
        if isinstance(state, str) and _CONSENT_STATES.get(state.strip().lower()):
            return _CONSENT_STATES[state.strip().lower()]
        accepts = customer.raw("accepts_marketing")
        if isinstance(accepts, bool):
            return "subscribed" if accepts else "not_subscribed"
    if order is not None and order.raw("buyer_accepts_marketing") is True:
        return "subscribed"
    return None


def _line_item(line: _Fields, *, same_currency: bool) -> dict[str, Any]:
    """A line at its undiscounted price.

    Shopify's ``total_discounts`` already includes every discount allocated to a line, and
    the order shows it as one "Discount" row with its codes; subtracting a line's share here
    too would show the customer the same discount twice and break
    ``subtotal == sum of line totals``.
    """
    return {
        "line_id": line.ident("id"),
        "product_id": line.optional_ident("product_id"),
        "sku": line.text("sku"),
        "title": line.text("title") or line.text("name"),
        "variant_title": line.text("variant_title"),
        "quantity": line.integer("quantity"),
        "unit_price": _required_presentment(line, "price", same_currency=same_currency),
        "requires_shipping": line.raw("requires_shipping") is not False,
    }


def _costs(order: _Fields, *, same_currency: bool) -> dict[str, Any]:
    """Every cost as Shopify charged it, in the presentment currency.

    ``subtotal`` is ``total_line_items_price`` (before discounts: Shopify's own
    ``subtotal_price`` is after them), so that
    ``total = subtotal - discounts + shipping + taxes (unless included) + duties``.
    Duties come from ``original_total_duties_set``, like ``total_price`` the amounts at
    checkout (the ``current_*`` fields move with later edits and refunds).
    """

    def money(name: str) -> Decimal | None:
        return _presentment(order, name, same_currency=same_currency)

    shipping = money("total_shipping_price")
    if shipping is None:  # payloads before total_shipping_price_set existed
        shipping = sum(
            (
                _required_presentment(line, "price", same_currency=same_currency)
                for line in order.children("shipping_lines")
            ),
            Decimal(0),
        )
    duties = Decimal(0)
    for name in ("original_total_duties_set", "current_total_duties_set"):
        duties_set = order.child(name)
        presentment = duties_set.child("presentment_money") if duties_set else None
        if presentment is not None:
            duties = presentment.required_decimal("amount")
            break
    tax_lines = [
        {
            "title": tax.text("title") or "Tax",
            "rate": tax.decimal("rate"),
            "amount": _required_presentment(tax, "price", same_currency=same_currency),
        }
        for tax in order.children("tax_lines")
    ]
    codes = [code.text("code") for code in order.children("discount_codes")]
    return {
        "subtotal": _required_presentment(
            order, "total_line_items_price", same_currency=same_currency
        ),
        "discounts": money("total_discounts") or Decimal(0),
        "shipping": shipping,
        "taxes": money("total_tax") or Decimal(0),
        "duties": duties,
        "total": _required_presentment(order, "total_price", same_currency=same_currency),
        "taxes_included": order.raw("taxes_included") is True,
        "duties_included": order.raw("duties_included") is True,
        "tax_lines": tax_lines,
        "discount_codes": [code for code in codes if code],
    }


def _order(order: _Fields, options: ShopifyOptions) -> dict[str, Any]:
    """An order snapshot. ``cancelled_at`` is data: Shopify's own sample order is voided."""
    shop_currency = order.text("currency")
    currency = order.text("presentment_currency") or shop_currency
    if not currency:
        raise MalformedPayloadError("presentment_currency and currency are both missing")
    same_currency = currency == shop_currency
    name = order.text("name") or order.text("order_number") or order.ident("id")
    return {
        "external_id": order.ident("id"),
        # The templates print "#" before the number; Shopify's name already starts with one.
        "number": name.removeprefix("#"),
        "placed_at": order.time("processed_at") or order.required_time("created_at"),
        "currency": currency,
        "line_items": [
            _line_item(line, same_currency=same_currency)
            for line in order.children("line_items")
            if line.raw("quantity") != 0  # a line removed by an order edit
        ],
        "costs": _costs(order, same_currency=same_currency),
        "shipping_address": _address(order.child("shipping_address")),
        "billing_address": _address(order.child("billing_address")),
        "status_url": order.text("order_status_url"),
        "note": order.text("note"),
        "cancelled_at": order.time("cancelled_at"),
        "payment_due_later": _payment_due_later(order, options),
        "payment_method": payment_method_of(_texts(order, "payment_gateway_names", "gateway")),
        "payment": _card(order.child("payment_details")),
        "shipping_method": _shipping_method(order),
    }


def _card(details: _Fields | None) -> dict[str, Any] | None:
    """The card of ``payment_details`` (orders and transactions of the REST API up to
    2024-04 carry it; newer webhooks keep it on the transactions only, so then none)."""
    if details is None:
        return None
    return payment_details(
        card_brand=details.text("credit_card_company"),
        card_number=details.text("credit_card_number"),
    )


def _shipping_method(order: _Fields) -> str | None:
    """The titles of the shipping lines the order still has (an order edit can remove
    one: ``is_removed``), joined when there are several."""
    titles = [
        title
        for line in order.children("shipping_lines")
        if line.raw("is_removed") is not True and (title := line.text("title"))
    ]
    return " + ".join(dict.fromkeys(titles)) or None


def _order_event(kind: EventKind, payload: _Fields, context: _Context) -> dict[str, Any] | str:
    customer = _order_customer(payload)
    if customer is None:
        if kind is EventKind.ORDER_CANCELLED:
            return context.event(kind, context.occurred_at(payload), order_id=payload.ident("id"))
        return f"order {payload.ident('id')} has no email address, so there is no one to write to"
    order = _order(payload, context.options)
    return context.event(
        kind,
        context.occurred_at(payload),
        order_id=order["external_id"],
        order=order,
        customer=customer,
    )


# ``financial_status`` of an order whose money is secured: captured in full or in part (a
# deposit), or authorised for the store to capture when it ships; a partly refunded order was
# paid and still stands (the values: OrderDisplayFinancialStatus in the GraphQL Admin API).
_MONEY_SECURED = frozenset({"paid", "partially_paid", "authorized", "partially_refunded"})

# The gateway names of Shopify's own manual payment methods, which a custom method cannot take
# (https://help.shopify.com/en/manual/payments/manual-payments), compared case-folded;
# ``manual`` is an order created in the admin with its payment left pending.
_MANUAL_GATEWAYS = frozenset({"cash on delivery (cod)", "bank deposit", "money order", "manual"})


def _payment_due_later(order: _Fields, options: ShopifyOptions) -> bool:
    """Whether the order waits for a payment the customer makes after ordering, as they chose.

    That is a pending payment by a manual payment method (cash on delivery, a bank deposit, a
    money order, or a method the store created, named in ``manual_payment_methods``), or by
    payment terms (B2B net terms, "due on fulfilment"). Payloads of older API versions also
    say ``processing_method: manual``, which covers a custom method without naming it.
    """
    if order.text("financial_status") != "pending":
        return False
    if order.child("payment_terms") is not None or order.text("processing_method") == "manual":
        return True
    manual = _MANUAL_GATEWAYS | {name.strip().casefold() for name in options.manual_payment_methods}
    gateways = _texts(order, "payment_gateway_names", "gateway")
    return any(gateway.casefold() in manual for gateway in gateways)


def _confirmation_due(order: _Fields, context: _Context) -> bool:
    """Whether this snapshot of an order is one to confirm, whichever topic brought it.

    Stores subscribe to ``orders/create``, ``orders/paid`` or both, and Shopify delivers them
    in any order, so the order's state decides: every confirmable snapshot is ORDER_PLACED, and
    the confirmation's key (one per order) lets only the first through.

    - Never a cancelled order, nor a fully refunded one: nothing is coming, and the
      cancellation or the refund is the news.
    - ``confirm_on="orders/paid"`` (the default): once its money is secured (paid, partly
      paid, authorised, partly refunded), or at once when the customer pays later by design
      (``_payment_due_later``). A cash-on-delivery order is paid at the door, so waiting
      for "paid" would confirm it after it arrived; a bank-deposit customer needs the
      confirmation, and the store's payment instructions, before they can pay at all. Any
      other pending payment is a gateway still deciding (a 3-D Secure challenge, a bank
      redirect, a debit clearing): it ends paid, and that snapshot confirms the order, or
      voided or expired, and there is no order to thank the customer for.
    - ``confirm_on="orders/create"``: on first sight, whatever the payment says: the store
      confirms unpaid orders and collects their payment itself.
    - Test orders (``test: true``) are confirmed like real ones: that is how a store owner
      sees the email before going live.
    - A payload without ``financial_status`` is taken at its topic's word: ``orders/paid``
      is paid.
    """
    status = order.text("financial_status")
    if order.time("cancelled_at") is not None or status == "refunded":
        return False
    if context.options.confirm_on == "orders/create":
        return True
    if status is None:
        return context.topic == "orders/paid"
    return status in _MONEY_SECURED or _payment_due_later(order, context.options)


def _order_created_or_paid(payload: _Fields, context: _Context) -> dict[str, Any] | str:
    """``orders/create`` and ``orders/paid``: one snapshot of the order either way; its state,
    not the topic, says whether it confirms the order (``_confirmation_due``)."""
    placed = _confirmation_due(payload, context)
    kind = EventKind.ORDER_PLACED if placed else EventKind.ORDER_UPDATED
    return _order_event(kind, payload, context)


def _order_cancelled(payload: _Fields, context: _Context) -> dict[str, Any] | str:
    return _order_event(EventKind.ORDER_CANCELLED, payload, context)


def _default_locality(customer: _Fields) -> dict[str, Any] | None:
    """Where a new customer lives, from ``default_address`` (the welcome email's language
    and send window): its ``country_code``, ``province_code`` (else ``province``), city."""
    address = customer.child("default_address")
    if address is None:
        return None
    return locality(
        address.text("country_code") or address.text("country"),
        address.text("province_code") or address.text("province"),
        address.text("city"),
    )


def _customer_created(payload: _Fields, context: _Context) -> dict[str, Any] | str:
    email = payload.text("email")
    if not email:
        return f"customer {payload.ident('id')} has no email address, so no welcome email"
    customer = {
        "external_id": payload.ident("id"),
        "email": email,
        "first_name": payload.text("first_name"),
        "last_name": payload.text("last_name"),
        "locale": _known_locale(payload.text("locale")),
        "marketing_consent": _marketing_consent(payload),
        "locality": _default_locality(payload),
    }
    return context.event(
        EventKind.CUSTOMER_CREATED, context.occurred_at(payload), customer=customer
    )


# --- fulfilments ----------------------------------------------------------------------------------


def _shipment_status(status: str | None) -> ShipmentStatus | None:
    if not status:
        return None
    if status in _EVENT_STATUS_ALIASES:
        return _EVENT_STATUS_ALIASES[status]
    try:
        return ShipmentStatus(status)
    except ValueError:
        return None


def _fulfilment(payload: _Fields) -> dict[str, Any]:
    status = _shipment_status(payload.text("shipment_status"))
    return {
        "external_id": payload.ident("id"),
        "created_at": payload.required_time("created_at"),
        "carrier": payload.text("tracking_company"),
        "tracking_numbers": _texts(payload, "tracking_numbers", "tracking_number"),
        "tracking_urls": _texts(payload, "tracking_urls", "tracking_url"),
        "items": [
            {"line_id": line.ident("id"), "quantity": line.integer("quantity")}
            for line in payload.children("line_items")
            if line.raw("quantity") != 0
        ],
        "status": status.value if status else None,
        "status_at": (payload.time("updated_at") or payload.time("created_at")) if status else None,
    }


def _texts(payload: _Fields, plural: str, singular: str) -> list[str]:
    values = payload.raw(plural)
    if values is None:
        one = payload.text(singular)
        return [one] if one else []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise MalformedPayloadError(f"{payload.at(plural)} is not a list of text")
    return [v.strip() for v in values if v.strip()]


def _fulfilment_created(payload: _Fields, context: _Context) -> dict[str, Any] | str:
    """``fulfillments/create``: one parcel left; the shipped email is about exactly it."""
    status = payload.text("status")
    if status in _NOT_SHIPPED:
        return f"fulfillment {payload.ident('id')} is {status}: nothing was shipped"
    return context.event(
        EventKind.ORDER_SHIPPED,
        context.occurred_at(payload),
        order_id=payload.ident("order_id"),
        fulfilment=_fulfilment(payload),
    )


def _fulfilment_updated(payload: _Fields, context: _Context) -> dict[str, Any] | str:
    """``fulfillments/update``: the carrier's latest status, or the parcel itself again.

    With a ``shipment_status`` it is a carrier report (SHIPMENT_UPDATED). Without one it is
    usually a tracking number added after the parcel was marked shipped: mapped to
    ORDER_SHIPPED, whose email is keyed on the fulfilment id, so the parcel's tracking is
    refreshed and a shipped email goes out only if ``fulfillments/create`` never produced one.
    """
    status = payload.text("status")
    if status in _NOT_SHIPPED:
        return f"fulfillment {payload.ident('id')} is {status}: nothing was shipped"
    reported = payload.text("shipment_status")
    if reported is None:
        return _fulfilment_created(payload, context)
    shipment_status = _shipment_status(reported)
    if shipment_status is None:
        return f"shipment status {reported} is not one Aftercare tracks"
    happened_at = payload.time("updated_at") or payload.required_time("created_at")
    update = {
        "fulfilment_id": payload.ident("id"),
        "status": shipment_status,
        "happened_at": happened_at,
    }
    return context.event(
        EventKind.SHIPMENT_UPDATED,
        context.occurred_at(payload),
        order_id=payload.ident("order_id"),
        shipment_update=update,
    )


def _fulfilment_event_created(payload: _Fields, context: _Context) -> dict[str, Any] | str:
    """``fulfillment_events/create``: a carrier scan (in transit, delayed, delivered, ...)."""
    reported = payload.text("status")
    status = _shipment_status(reported)
    if status is None:
        return f"fulfillment event status {reported} is not one Aftercare tracks"
    update = {
        "fulfilment_id": payload.ident("fulfillment_id"),
        "status": status,
        "happened_at": payload.time("happened_at") or payload.required_time("created_at"),
        "estimated_delivery_at": payload.time("estimated_delivery_at"),
        "message": payload.text("message"),
    }
    occurred_at = context.triggered_at or payload.time("updated_at") or update["happened_at"]
    return context.event(
        EventKind.SHIPMENT_UPDATED,
        occurred_at,
        order_id=payload.ident("order_id"),
        shipment_update=update,
    )


# --- refunds --------------------------------------------------------------------------------------


def _refund_method(gateways: set[str]) -> RefundMethod:
    """Where the money went, from the refund transactions' ``gateway``.

    Shopify names the gift card and store credit gateways ``gift_card`` and
    ``shopify_store_credit``; POS cash refunds use ``cash``. A refund split over several
    gateways goes back "to the payment methods you used": ORIGINAL_PAYMENT.
    """
    methods = set()
    for gateway in gateways:
        name = gateway.lower().replace("-", "_").replace(" ", "_")
        if "gift_card" in name:
            methods.add(RefundMethod.GIFT_CARD)
        elif "store_credit" in name:
            methods.add(RefundMethod.STORE_CREDIT)
        elif name == "cash":
            methods.add(RefundMethod.CASH)
        else:
            methods.add(RefundMethod.ORIGINAL_PAYMENT)
    return methods.pop() if len(methods) == 1 else RefundMethod.ORIGINAL_PAYMENT


def _refund_created(payload: _Fields, context: _Context) -> dict[str, Any] | str:
    """``refunds/create``: the amount is what actually went back to the customer.

    That is the sum of the successful ``refund`` transactions (a refund can also restock
    items or refund shipping, and a transaction can still be pending); without any, the
    refunded lines' subtotal plus tax. A refund that moves no money (a restock, a note) is
    ignored: there is nothing to tell the customer.

    The payload names no order currency: the transactions' ``currency`` (often null), else
    the presentment currency of the refunded lines or duties, else the store's default
    currency (a refund of shipping only, in a single-currency shop).
    """
    refund_id = payload.ident("id")
    lines = [line for line in payload.children("refund_line_items") if line.raw("quantity")]
    transactions = [
        t
        for t in payload.children("transactions")
        if t.text("kind") == "refund" and t.text("status") == "success"
    ]
    currency = next((t.text("currency") for t in transactions if t.text("currency")), None)
    currency = currency or _presentment_currency(
        [line.child("subtotal_set") for line in lines] + [payload.child("total_duties_set")]
    )
    currency = currency or context.store.default_currency
    items = [
        {
            "line_id": line.ident("line_item_id"),
            "quantity": line.integer("quantity"),
            "amount": _required_presentment(line, "subtotal", same_currency=True)
            + (_presentment(line, "total_tax", same_currency=True) or Decimal(0)),
        }
        for line in lines
    ]
    if transactions:
        amount = sum((t.required_decimal("amount") for t in transactions), Decimal(0))
    else:
        amount = sum((item["amount"] for item in items), Decimal(0))
    if amount == 0:
        return f"refund {refund_id} moves no money (a restock or a note): nothing to tell"
    refund = {
        "external_id": refund_id,
        "created_at": payload.time("processed_at") or payload.required_time("created_at"),
        "amount": amount,
        "currency": currency,
        "method": _refund_method({t.text("gateway") or "" for t in transactions}),
        "payment": next(
            (card for t in transactions if (card := _card(t.child("payment_details")))), None
        ),
        "items": items,
        "reason": payload.text("note"),
    }
    occurred_at = context.triggered_at or refund["created_at"]
    return context.event(
        EventKind.ORDER_REFUNDED,
        occurred_at,
        order_id=payload.ident("order_id"),
        refund=refund,
    )


# A topic's mapping: the event's fields, or the reason the delivery is ignored.
_Mapper = Callable[[_Fields, _Context], dict[str, Any] | str]

# The topics Aftercare subscribes to (README: Shopify setup); any other is answered 200 and
# recorded as ignored.
_TOPICS: dict[str, _Mapper] = {
    "customers/create": _customer_created,
    "orders/create": _order_created_or_paid,
    "orders/paid": _order_created_or_paid,
    "orders/cancelled": _order_cancelled,
    "fulfillments/create": _fulfilment_created,
    "fulfillments/update": _fulfilment_updated,
    "fulfillment_events/create": _fulfilment_event_created,
    "refunds/create": _refund_created,
}

# The mandatory compliance topics (README: Shopify setup); ``privacy_request`` reads them.
_PRIVACY_TOPICS: dict[str, PrivacyRequestKind] = {
    "customers/data_request": PrivacyRequestKind.DATA_REQUEST,
    "customers/redact": PrivacyRequestKind.CUSTOMER_REDACT,
    "shop/redact": PrivacyRequestKind.SHOP_REDACT,
}

# What the request path checks before answering 200: the fields that say which customer,
# order or parcel a delivery is about. Everything else is checked when the drain parses it.
_IDENTIFYING_KEYS: dict[str, tuple[str, ...]] = {
    "customers/create": ("id",),
    "orders/create": ("id", "line_items"),
    "orders/paid": ("id", "line_items"),
    "orders/cancelled": ("id",),
    "fulfillments/create": ("id", "order_id"),
    "fulfillments/update": ("id", "order_id"),
    "fulfillment_events/create": ("fulfillment_id", "order_id", "status"),
    "refunds/create": ("id", "order_id"),
    "customers/data_request": ("shop_id", "customer"),
    "customers/redact": ("shop_id", "customer"),
    "shop/redact": ("shop_id",),
}
