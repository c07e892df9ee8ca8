"""The Shopify adapter, driven by Shopify's own sample payloads signed as Shopify signs them.

Expected values are read from the fixture files, not from the adapter: a test says "the
confirmation's total is the sample's ``total_price_set`` presentment amount".
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aftercare.events import EventKind, OrderEvent, RefundMethod, ShipmentStatus
from aftercare.order_state import OrderState, merge_event
from aftercare.settings import ShopifyOptions, StoreFacts
from aftercare.stores import Delivery, MalformedPayloadError, ParsedDelivery, SignatureError
from aftercare.stores.shopify import ShopifyAdapter

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
SECRET = "shpss_test_3f1c0a9d5b7e4c2a"
RECEIVED_AT = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def sample_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def sample(name: str) -> dict[str, Any]:
    return json.loads(sample_bytes(name))


def shopify_signature(body: bytes, secret: str = SECRET) -> str:
    """What Shopify puts in X-Shopify-Hmac-Sha256: base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery(
    body: bytes | dict[str, Any],
    topic: str,
    *,
    secret: str = SECRET,
    drop: tuple[str, ...] = (),
    **headers: str,
) -> Delivery:
    """A delivery with Shopify's documented headers (from the sample), signed with ``secret``."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    documented = sample("_delivery_headers_example")["headers"]
    sent = {name.lower(): value for name, value in documented.items()}
    sent["x-shopify-topic"] = topic
    sent["x-shopify-hmac-sha256"] = shopify_signature(raw, secret)
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    for name in drop:
        sent.pop(name, None)
    return Delivery(headers=sent, body=raw, received_at=RECEIVED_AT)


def adapter(**options: Any) -> ShopifyAdapter:
    return ShopifyAdapter(ShopifyOptions(webhook_secret=SECRET, **options), StoreFacts())


def parse(the_delivery: Delivery, **options: Any) -> ParsedDelivery:
    shopify = adapter(**options)
    shopify.verify(the_delivery)
    return shopify.parse(the_delivery)


def only_event(the_delivery: Delivery, **options: Any) -> OrderEvent:
    parsed = parse(the_delivery, **options)
    assert parsed.ignored is None
    (event,) = parsed.events
    return event


def presentment(money_set: dict[str, Any]) -> Decimal:
    return Decimal(money_set["presentment_money"]["amount"])


def open_order(
    financial_status: str, *gateways: str, order_id: int | None = None, **changes: Any
) -> dict[str, Any]:
    """Shopify's sample order as a live one: not cancelled, not a test, ``financial_status``
    as given, paid through ``gateways`` (Shopify Payments unless named). The sample itself is
    a voided, cancelled test order, the same on every order topic's page."""
    payload = sample("orders_create") | {
        "cancelled_at": None,
        "cancel_reason": None,
        "confirmed": True,
        "test": False,
        "financial_status": financial_status,
        "payment_gateway_names": list(gateways or ("shopify_payments",)),
    }
    if order_id is not None:
        payload["id"] = order_id
        payload["name"] = f"#{order_id}"
    return payload | changes


def in_turn(
    *deliveries: tuple[str, dict[str, Any], str], **options: Any
) -> tuple[list[EventKind], OrderState]:
    """Each ``(topic, payload, X-Shopify-Triggered-At)`` delivered in turn, its event merged
    into the order's state as the drain merges it: the kinds emitted and the state after."""
    kinds: list[EventKind] = []
    state: OrderState | None = None
    for number, (topic, payload, triggered_at) in enumerate(deliveries):
        signed = delivery(
            payload, topic, x_shopify_event_id=f"evt-{number}", x_shopify_triggered_at=triggered_at
        )
        event = only_event(signed, **options)
        kinds.append(event.kind)
        state = merge_event(state, event)
    assert state is not None
    return kinds, state


# --- signatures -----------------------------------------------------------------------------------


def test_a_sample_signed_with_the_app_secret_is_authentic() -> None:
    # verify raises SignatureError unless the delivery is authentic
    assert adapter().verify(delivery(sample_bytes("orders_create"), "orders/create")) is None


def test_a_forged_signature_is_refused() -> None:
    forged = delivery(sample_bytes("orders_create"), "orders/create")
    headers = dict(forged.headers) | {
        "x-shopify-hmac-sha256": sample("_delivery_headers_example")["headers"][
            "X-Shopify-Hmac-Sha256"
        ]
    }
    with pytest.raises(SignatureError) as refused:
        adapter().verify(Delivery(headers, forged.body, forged.received_at))
    assert refused.value.status == 401
    assert "AFTERCARE_SHOPIFY__WEBHOOK_SECRET" in str(refused.value)


def test_a_missing_signature_names_the_header() -> None:
    unsigned = delivery(
        sample_bytes("orders_create"), "orders/create", drop=("x-shopify-hmac-sha256",)
    )
    with pytest.raises(SignatureError, match="X-Shopify-Hmac-Sha256 header is missing"):
        adapter().verify(unsigned)


def test_without_a_configured_secret_every_delivery_is_refused_naming_the_setting() -> None:
    unconfigured = ShopifyAdapter(ShopifyOptions(), StoreFacts())
    with pytest.raises(SignatureError, match="AFTERCARE_SHOPIFY__WEBHOOK_SECRET"):
        unconfigured.verify(delivery(sample_bytes("orders_create"), "orders/create"))


def test_a_delivery_signed_with_another_secret_is_refused() -> None:
    other = delivery(sample_bytes("orders_create"), "orders/create", secret="another app's secret")
    with pytest.raises(SignatureError, match="does not match"):
        adapter().verify(other)


def test_a_body_changed_after_signing_is_refused() -> None:
    signed = delivery(sample_bytes("orders_create"), "orders/create")
    tampered = signed.body.replace(b'"total_price": "404.95"', b'"total_price": "0.95"')
    assert tampered != signed.body
    with pytest.raises(SignatureError):
        adapter().verify(Delivery(signed.headers, tampered, signed.received_at))


# --- dedupe key -----------------------------------------------------------------------------------


def test_the_dedupe_key_is_the_event_id_shopify_repeats_on_every_retry() -> None:
    documented = sample("_delivery_headers_example")["headers"]
    first = delivery(sample_bytes("orders_paid"), "orders/paid")
    retry = delivery(sample_bytes("orders_paid"), "orders/paid", x_shopify_webhook_id="other")
    assert adapter().delivery_id(first) == documented["X-Shopify-Event-Id"]
    assert adapter().delivery_id(retry) == documented["X-Shopify-Event-Id"]
    parsed = parse(first)
    assert parsed.delivery_id == documented["X-Shopify-Event-Id"]
    assert parsed.events[0].source_event_id == documented["X-Shopify-Event-Id"]


def test_without_an_event_id_the_webhook_id_is_the_dedupe_key() -> None:
    documented = sample("_delivery_headers_example")["headers"]
    older = delivery(sample_bytes("orders_paid"), "orders/paid", drop=("x-shopify-event-id",))
    assert adapter().delivery_id(older) == documented["X-Shopify-Webhook-Id"]
    neither = delivery(
        sample_bytes("orders_paid"),
        "orders/paid",
        drop=("x-shopify-event-id", "x-shopify-webhook-id"),
    )
    with pytest.raises(MalformedPayloadError):
        adapter().delivery_id(neither)


# --- orders ---------------------------------------------------------------------------------------


def test_the_confirmation_carries_every_cost_of_the_sample_order() -> None:
    payload = sample("orders_paid")
    event = only_event(delivery(sample_bytes("orders_paid"), "orders/paid"))
    order = event.order
    assert order is not None
    assert event.source == "shopify"
    assert order.external_id == str(payload["id"]) == event.order_id
    assert "#" + order.number == payload["name"]
    assert order.currency == payload["presentment_currency"]
    costs = order.costs
    assert costs.subtotal == presentment(payload["total_line_items_price_set"])
    assert costs.discounts == presentment(payload["total_discounts_set"])
    assert costs.shipping == presentment(payload["total_shipping_price_set"])
    assert costs.taxes == presentment(payload["total_tax_set"])
    assert costs.total == presentment(payload["total_price_set"])
    assert costs.duties == 0 and payload["original_total_duties_set"] is None
    assert costs.taxes_included is payload["taxes_included"]
    # The shape every template relies on: lines add up to the subtotal, costs to the total.
    assert costs.subtotal == sum(line.line_total for line in order.line_items)
    assert costs.total == costs.subtotal - costs.discounts + costs.shipping + costs.taxes


def test_line_items_keep_the_samples_ids_prices_and_skus() -> None:
    payload = sample("orders_paid")
    order = only_event(delivery(sample_bytes("orders_paid"), "orders/paid")).order
    assert order is not None
    assert [line.line_id for line in order.line_items] == [
        str(line["id"]) for line in payload["line_items"]
    ]
    for line, source in zip(order.line_items, payload["line_items"], strict=True):
        assert line.unit_price == presentment(source["price_set"])
        assert line.quantity == source["quantity"]
        assert line.sku == source["sku"]
        assert line.title == source["title"]
        assert line.product_id == (str(source["product_id"]) if source["product_id"] else None)
        assert line.requires_shipping is source["requires_shipping"]


def test_the_customer_addresses_and_status_link_come_from_the_order() -> None:
    payload = sample("orders_paid")
    event = only_event(delivery(sample_bytes("orders_paid"), "orders/paid"))
    assert event.customer is not None and event.order is not None
    assert event.customer.external_id == str(payload["customer"]["id"])
    assert event.customer.email == payload["customer"]["email"]
    assert event.customer.first_name == payload["customer"]["first_name"]
    assert event.customer.locale == payload["customer_locale"]
    assert event.customer.time_zone is None
    shipping, source = event.order.shipping_address, payload["shipping_address"]
    assert shipping is not None
    assert shipping.country_code == source["country_code"]
    assert shipping.region == source["province"]
    assert shipping.postal_code == source["zip"]
    assert shipping.line1 == source["address1"]
    assert shipping.city == source["city"]
    assert shipping.name == source["name"]
    assert shipping.company == source["company"]
    assert shipping.phone == source["phone"]
    assert event.order.billing_address is not None
    assert event.order.status_url == payload["order_status_url"]


def test_the_voided_sample_order_keeps_its_cancellation_as_data() -> None:
    payload = sample("orders_create")
    order = only_event(delivery(sample_bytes("orders_create"), "orders/create")).order
    assert order is not None
    assert order.cancelled_at == datetime.fromisoformat(payload["cancelled_at"])


def test_the_customer_is_billed_in_the_currency_they_saw() -> None:
    """A Canadian shopper on a US shop: every amount is the CAD presentment amount."""
    payload = sample("orders_paid")
    payload["presentment_currency"] = "CAD"

    def to_cad(node: Any) -> None:
        if isinstance(node, dict):
            if "presentment_money" in node:
                usd = Decimal(node["shop_money"]["amount"])
                node["presentment_money"] = {
                    "amount": str((usd * Decimal("1.37")).quantize(Decimal("0.01"))),
                    "currency_code": "CAD",
                }
            for value in node.values():
                to_cad(value)
        elif isinstance(node, list):
            for value in node:
                to_cad(value)

    to_cad(payload)
    order = only_event(delivery(payload, "orders/paid")).order
    assert order is not None
    assert order.currency == "CAD"
    assert order.costs.total == presentment(payload["total_price_set"])
    assert order.costs.total != Decimal(payload["total_price"])
    assert order.line_items[0].unit_price == presentment(payload["line_items"][0]["price_set"])


def test_an_older_payload_without_presentment_amounts_uses_the_shop_currency() -> None:
    """Shopify's Python library fixture predates ``*_set``: one currency, plain fields."""
    payload = json.loads(sample_bytes("rest_order"))["order"]
    order = only_event(delivery(payload, "orders/paid")).order
    assert order is not None
    assert order.currency == payload["currency"]
    assert order.costs.total == Decimal(payload["total_price"])
    assert order.costs.subtotal == Decimal(payload["total_line_items_price"])
    assert order.costs.taxes == Decimal(payload["total_tax"])
    (tax,) = order.costs.tax_lines
    assert tax.title == payload["tax_lines"][0]["title"]
    assert tax.rate == Decimal(str(payload["tax_lines"][0]["rate"]))  # a JSON number, not a float
    assert tax.amount == Decimal(payload["tax_lines"][0]["price"])
    assert order.costs.discount_codes == tuple(c["code"] for c in payload["discount_codes"])
    assert order.costs.shipping == sum(Decimal(s["price"]) for s in payload["shipping_lines"])


def test_an_older_payload_in_a_foreign_currency_is_refused_rather_than_misprinted() -> None:
    payload = json.loads(sample_bytes("rest_order"))["order"]
    payload["presentment_currency"] = "EUR"
    with pytest.raises(MalformedPayloadError, match="presentment_money is missing") as refused:
        parse(delivery(payload, "orders/paid"))
    assert refused.value.status == 422


def test_a_customer_with_a_non_ascii_name_and_a_discount_code() -> None:
    """Zoë Ørsted-Łukasiewicz pays 15.00 less with WINTER15; the HMAC covers the UTF-8 bytes."""
    payload = sample("orders_paid")
    payload["customer"] |= {"first_name": "Zoë", "last_name": "Ørsted-Łukasiewicz"}
    payload["shipping_address"] |= {
        "name": "Zoë Ørsted-Łukasiewicz",
        "address1": "Nørrebrogade 12, 3. th.",
        "city": "København N",
        "zip": "2200",
        "province": None,
        "country": "Denmark",
        "country_code": "DK",
    }
    payload["discount_codes"] = [{"code": "WINTER15", "amount": "15.00", "type": "fixed_amount"}]
    for name in ("total_discounts", "total_price"):
        old = Decimal(payload[name])
        new = str(old + Decimal("15.00") if name == "total_discounts" else old - Decimal("15.00"))
        payload[name] = new
        for money in payload[f"{name}_set"].values():
            money["amount"] = new
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    assert "Zoë".encode() in body
    event = only_event(delivery(body, "orders/paid"))
    assert event.customer is not None and event.order is not None
    assert event.customer.first_name == "Zoë"
    assert event.customer.last_name == "Ørsted-Łukasiewicz"
    assert event.order.shipping_address is not None
    assert event.order.shipping_address.name == "Zoë Ørsted-Łukasiewicz"
    assert event.order.shipping_address.city == "København N"
    costs = event.order.costs
    assert costs.discount_codes == ("WINTER15",)
    assert costs.discounts == Decimal(payload["total_discounts"])
    assert costs.total == Decimal(payload["total_price"])
    assert costs.total == costs.subtotal - costs.discounts + costs.shipping + costs.taxes


def test_an_unknown_customer_locale_falls_back_to_the_store_default() -> None:
    payload = sample("orders_paid") | {"customer_locale": "xx-QQ"}
    event = only_event(delivery(payload, "orders/paid"))
    assert event.customer is not None and event.customer.locale is None


def test_an_order_without_a_customer_object_is_addressed_to_the_order_email() -> None:
    payload = sample("orders_paid")
    del payload["customer"]
    event = only_event(delivery(payload, "orders/paid"))
    assert event.customer is not None
    assert event.customer.email == payload["email"]
    assert event.customer.first_name == payload["billing_address"]["first_name"]
    assert event.customer.external_id is None


def test_an_order_with_no_email_at_all_is_ignored_not_refused() -> None:
    """A POS sale without an email: nothing to send, and Shopify must not see a failure."""
    payload = sample("orders_paid") | {"email": None, "contact_email": None}
    del payload["customer"]
    parsed = parse(delivery(payload, "orders/paid"))
    assert parsed.events == ()
    assert parsed.ignored is not None and "no email address" in parsed.ignored


def test_orders_cancelled_records_the_cancellation_with_the_order() -> None:
    payload = sample("orders_cancelled")
    event = only_event(delivery(sample_bytes("orders_cancelled"), "orders/cancelled"))
    assert event.kind is EventKind.ORDER_CANCELLED
    assert event.order_id == str(payload["id"])
    assert event.order is not None
    assert event.order.cancelled_at == datetime.fromisoformat(payload["cancelled_at"])


def test_occurred_at_is_shopifys_triggered_at_when_sent() -> None:
    documented = sample("_delivery_headers_example")["headers"]
    event = only_event(delivery(sample_bytes("orders_paid"), "orders/paid"))
    assert event.occurred_at == datetime.fromisoformat(documented["X-Shopify-Triggered-At"])
    without = delivery(sample_bytes("orders_paid"), "orders/paid", drop=("x-shopify-triggered-at",))
    assert only_event(without).occurred_at == datetime.fromisoformat(
        sample("orders_paid")["updated_at"]
    )


# --- when the order is confirmed ------------------------------------------------------------------

PLACED, UPDATED = EventKind.ORDER_PLACED, EventKind.ORDER_UPDATED
ORDER_TOPICS = ("orders/create", "orders/paid")
# When Shopify triggered each delivery of a story (X-Shopify-Triggered-At).
CHECKOUT = "2026-11-16T09:30:00+01:00"
PAID_AT_ONCE = "2026-11-16T09:30:04+01:00"
HOURS_LATER = "2026-11-16T15:12:00+01:00"
DAYS_LATER = "2026-11-19T11:05:00+01:00"


def test_the_official_samples_are_a_cancelled_order_and_never_confirm_it() -> None:
    for topic, name in (("orders/create", "orders_create"), ("orders/paid", "orders_paid")):
        for policy in ORDER_TOPICS:
            event = only_event(delivery(sample_bytes(name), topic), confirm_on=policy)
            assert event.kind is UPDATED, (topic, policy)
    cancelled = only_event(delivery(sample_bytes("orders_cancelled"), "orders/cancelled"))
    assert cancelled.kind is EventKind.ORDER_CANCELLED


@pytest.mark.parametrize("topic", ORDER_TOPICS)
@pytest.mark.parametrize("status", ["paid", "partially_paid", "authorized", "partially_refunded"])
def test_an_order_seen_paid_or_authorised_is_confirmed_whichever_topic_brings_it(
    status: str, topic: str
) -> None:
    event = only_event(delivery(open_order(status), topic))
    assert event.kind is PLACED
    assert event.order is not None and event.order.payment_due_later is False


@pytest.mark.parametrize("topic", ORDER_TOPICS)
@pytest.mark.parametrize("status", ["pending", "voided", "expired", "refunded"])
def test_an_order_whose_money_is_not_secured_is_not_confirmed_yet(status: str, topic: str) -> None:
    """A card payment still pending is the gateway deciding; voided, expired or refunded, there
    is no order to thank the customer for."""
    event = only_event(delivery(open_order(status), topic))
    assert event.kind is UPDATED
    assert event.order is not None and event.order.payment_due_later is False


@pytest.mark.parametrize(
    "gateway", ["Cash on Delivery (COD)", "Bank Deposit", "Money Order", "manual"]
)
def test_a_manual_payment_method_is_confirmed_when_placed_and_due_later(gateway: str) -> None:
    """Pending by design: the customer pays at the door, or once they have the bank details."""
    event = only_event(delivery(open_order("pending", gateway), "orders/create"))
    assert event.kind is PLACED
    assert event.order is not None and event.order.payment_due_later is True


def test_a_manual_payment_method_the_store_created_is_confirmed_once_named() -> None:
    order = open_order("pending", "Vorkasse (Überweisung)")
    assert only_event(delivery(order, "orders/create")).kind is UPDATED
    named = only_event(
        delivery(order, "orders/create"), manual_payment_methods=(" vorkasse (überweisung)",)
    )
    assert named.kind is PLACED
    assert named.order is not None and named.order.payment_due_later is True


def test_payment_terms_confirm_a_b2b_order_when_placed() -> None:
    terms = {
        "id": 306184,
        "payment_terms_name": "Net 30",
        "payment_terms_type": "net",
        "due_in_days": 30,
        "payment_schedules": [{"due_at": "2026-12-16T09:30:00+01:00", "amount": "404.95"}],
    }
    event = only_event(delivery(open_order("pending", payment_terms=terms), "orders/create"))
    assert event.kind is PLACED
    assert event.order is not None and event.order.payment_due_later is True


def test_an_older_payload_saying_processing_method_manual_is_paid_later() -> None:
    """Before ``processing_method`` was deprecated it marked every manual method, named or not."""
    payload = json.loads(sample_bytes("rest_order"))["order"]
    payload |= {"financial_status": "pending", "processing_method": "manual", "gateway": "Rechnung"}
    event = only_event(delivery(payload, "orders/create"))
    assert event.kind is PLACED
    assert event.order is not None and event.order.payment_due_later is True


def test_a_manual_payment_marked_paid_is_no_longer_due() -> None:
    event = only_event(delivery(open_order("paid", "Cash on Delivery (COD)"), "orders/paid"))
    assert event.kind is PLACED
    assert event.order is not None and event.order.payment_due_later is False


@pytest.mark.parametrize("policy", ORDER_TOPICS)
@pytest.mark.parametrize("topic", ORDER_TOPICS)
def test_a_cancelled_order_is_never_confirmed_even_paid(topic: str, policy: str) -> None:
    order = open_order("paid", cancelled_at=CHECKOUT, cancel_reason="customer")
    assert only_event(delivery(order, topic), confirm_on=policy).kind is UPDATED
    cancelled = only_event(delivery(order, "orders/cancelled"), confirm_on=policy)
    assert cancelled.kind is EventKind.ORDER_CANCELLED


@pytest.mark.parametrize("topic", ORDER_TOPICS)
def test_a_store_confirming_unpaid_orders_confirms_them_on_first_sight(topic: str) -> None:
    """``confirm_on="orders/create"``: whatever the payment says, unless it is all refunded."""
    for status in ("pending", "voided", "paid"):
        event = only_event(delivery(open_order(status), topic), confirm_on="orders/create")
        assert event.kind is PLACED, status
    refunded = only_event(delivery(open_order("refunded"), topic), confirm_on="orders/create")
    assert refunded.kind is UPDATED


def test_a_test_order_is_confirmed_like_a_real_one() -> None:
    """How a store owner sees the email before going live (Shopify's Bogus gateway)."""
    order = open_order("paid", "bogus", test=True)
    assert only_event(delivery(order, "orders/create")).kind is PLACED


def test_without_a_financial_status_the_topic_says_whether_it_is_paid() -> None:
    order = open_order("paid")
    del order["financial_status"]
    assert only_event(delivery(order, "orders/create")).kind is UPDATED
    assert only_event(delivery(order, "orders/paid")).kind is PLACED


@pytest.mark.parametrize("paid_at", [PAID_AT_ONCE, HOURS_LATER])
def test_an_order_created_unpaid_is_confirmed_when_paid(paid_at: str) -> None:
    kinds, state = in_turn(
        ("orders/create", open_order("pending"), CHECKOUT),
        ("orders/paid", open_order("paid"), paid_at),
    )
    assert kinds == [UPDATED, PLACED]
    assert state.updated_at == datetime.fromisoformat(paid_at)


def test_paid_then_a_late_create_neither_confirms_again_nor_rolls_the_order_back() -> None:
    """The late ``orders/create`` is older than what the order already holds."""
    kinds, state = in_turn(
        ("orders/paid", open_order("paid"), PAID_AT_ONCE),
        ("orders/create", open_order("pending"), CHECKOUT),
    )
    assert kinds == [PLACED, UPDATED]
    # With cash on delivery the two snapshots differ in the model: the newer, paid, is kept.
    kinds, state = in_turn(
        ("orders/paid", open_order("paid", "Cash on Delivery (COD)"), DAYS_LATER),
        ("orders/create", open_order("pending", "Cash on Delivery (COD)"), CHECKOUT),
    )
    assert kinds == [PLACED, PLACED]  # the confirmation's key lets one through
    assert state.order.payment_due_later is False


def test_a_store_subscribed_to_orders_create_only_confirms_an_order_paid_at_checkout() -> None:
    """Issue 16: with the default policy, ``orders/create`` alone never confirmed anything."""
    kinds, _ = in_turn(("orders/create", open_order("paid"), CHECKOUT))
    assert kinds == [PLACED]


def test_a_store_subscribed_to_orders_paid_only_confirms_on_it() -> None:
    kinds, _ = in_turn(("orders/paid", open_order("paid"), PAID_AT_ONCE))
    assert kinds == [PLACED]


def test_a_bank_deposit_is_confirmed_at_checkout_and_its_payment_refreshes_the_order() -> None:
    kinds, state = in_turn(
        ("orders/create", open_order("pending", "Bank Deposit"), CHECKOUT),
        ("orders/paid", open_order("paid", "Bank Deposit"), DAYS_LATER),
    )
    assert kinds == [PLACED, PLACED]  # the confirmation's key lets the first through
    assert state.order.payment_due_later is False


def test_an_unpaid_order_cancelled_before_payment_is_never_confirmed() -> None:
    cancelled = open_order("voided", cancelled_at=HOURS_LATER, cancel_reason="customer")
    kinds, state = in_turn(
        ("orders/create", open_order("pending"), CHECKOUT),
        ("orders/cancelled", cancelled, HOURS_LATER),
    )
    assert kinds == [UPDATED, EventKind.ORDER_CANCELLED]
    assert state.order.cancelled_at == datetime.fromisoformat(HOURS_LATER)


# --- customers ------------------------------------------------------------------------------------


def test_customers_create_welcomes_the_new_customer() -> None:
    payload = sample("customers_create")
    event = only_event(delivery(sample_bytes("customers_create"), "customers/create"))
    assert event.kind is EventKind.CUSTOMER_CREATED
    assert event.customer is not None
    assert event.customer.external_id == str(payload["id"])
    assert event.customer.email == payload["email"]
    assert (event.customer.first_name, event.customer.last_name) == (
        payload["first_name"],
        payload["last_name"],
    )


def test_a_customer_without_email_is_ignored() -> None:
    parsed = parse(delivery(sample("customers_create") | {"email": None}, "customers/create"))
    assert parsed.events == () and parsed.ignored is not None


# --- fulfilments and carrier events ---------------------------------------------------------------


def test_fulfillments_create_is_one_shipped_parcel_with_its_tracking() -> None:
    payload = sample("fulfillments_create")
    event = only_event(delivery(sample_bytes("fulfillments_create"), "fulfillments/create"))
    assert event.kind is EventKind.ORDER_SHIPPED
    assert event.order_id == str(payload["order_id"])
    parcel = event.fulfilment
    assert parcel is not None
    assert parcel.external_id == str(payload["id"])
    assert parcel.created_at == datetime.fromisoformat(payload["created_at"])
    assert parcel.carrier == payload["tracking_company"]
    assert parcel.tracking_numbers == tuple(payload["tracking_numbers"])
    assert parcel.tracking_urls == tuple(payload["tracking_urls"])
    assert [(i.line_id, i.quantity) for i in parcel.items] == [
        (str(line["id"]), line["quantity"]) for line in payload["line_items"]
    ]


def test_a_cancelled_fulfilment_sends_no_shipped_email() -> None:
    payload = sample("fulfillments_create") | {"status": "cancelled"}
    parsed = parse(delivery(payload, "fulfillments/create"))
    assert parsed.events == () and parsed.ignored is not None


def test_fulfillments_update_without_a_carrier_status_refreshes_the_parcel() -> None:
    payload = sample("fulfillments_update")
    assert payload["shipment_status"] is None
    event = only_event(delivery(sample_bytes("fulfillments_update"), "fulfillments/update"))
    assert event.kind is EventKind.ORDER_SHIPPED
    assert event.fulfilment is not None
    assert event.fulfilment.external_id == str(payload["id"])


def test_fulfillments_update_with_a_carrier_status_is_a_shipment_update() -> None:
    payload = sample("fulfillments_update") | {"shipment_status": "delivered"}
    event = only_event(delivery(payload, "fulfillments/update"))
    assert event.kind is EventKind.SHIPMENT_UPDATED
    assert event.shipment_update is not None
    assert event.shipment_update.status is ShipmentStatus.DELIVERED
    assert event.shipment_update.fulfilment_id == str(payload["id"])
    assert event.order_id == str(payload["order_id"])


def test_fulfillment_events_create_reports_the_carrier_scan() -> None:
    payload = sample("fulfillment_events_create")
    event = only_event(
        delivery(sample_bytes("fulfillment_events_create"), "fulfillment_events/create")
    )
    assert event.kind is EventKind.SHIPMENT_UPDATED
    assert event.order_id == str(payload["order_id"])
    update = event.shipment_update
    assert update is not None
    assert update.fulfilment_id == str(payload["fulfillment_id"])
    assert update.status.value == payload["status"]
    assert update.happened_at == datetime.fromisoformat(payload["happened_at"])
    assert update.message == payload["message"]
    assert update.estimated_delivery_at is None and payload["estimated_delivery_at"] is None


@pytest.mark.parametrize(
    ("shopify_status", "status"),
    [
        ("delayed", ShipmentStatus.DELAYED),
        ("failure", ShipmentStatus.FAILURE),
        ("out_for_delivery", ShipmentStatus.OUT_FOR_DELIVERY),
        ("delivered", ShipmentStatus.DELIVERED),
        ("attempted_delivery", ShipmentStatus.ATTEMPTED_DELIVERY),
        ("ready_for_pickup", ShipmentStatus.READY_FOR_PICKUP),
        ("label_purchased", ShipmentStatus.LABEL_PRINTED),
        ("carrier_picked_up", ShipmentStatus.IN_TRANSIT),
        ("picked_up", ShipmentStatus.DELIVERED),
    ],
)
def test_every_carrier_status_shopify_sends_has_a_meaning(
    shopify_status: str, status: ShipmentStatus
) -> None:
    payload = sample("fulfillment_events_create") | {
        "status": shopify_status,
        "estimated_delivery_at": "2022-01-04T17:00:00-05:00",
    }
    event = only_event(delivery(payload, "fulfillment_events/create"))
    assert event.shipment_update is not None
    assert event.shipment_update.status is status
    assert event.shipment_update.estimated_delivery_at == datetime.fromisoformat(
        "2022-01-04T17:00:00-05:00"
    )


def test_a_carrier_status_aftercare_does_not_know_is_ignored() -> None:
    payload = sample("fulfillment_events_create") | {"status": "teleported"}
    parsed = parse(delivery(payload, "fulfillment_events/create"))
    assert parsed.events == () and parsed.ignored is not None


# --- refunds --------------------------------------------------------------------------------------


def test_refunds_create_refunds_what_the_successful_transactions_paid_back() -> None:
    payload = sample("refunds_create")
    event = only_event(delivery(sample_bytes("refunds_create"), "refunds/create"))
    assert event.kind is EventKind.ORDER_REFUNDED
    assert event.order_id == str(payload["order_id"])
    refund = event.refund
    assert refund is not None
    assert refund.external_id == str(payload["id"])
    assert refund.amount == sum(
        Decimal(t["amount"])
        for t in payload["transactions"]
        if t["kind"] == "refund" and t["status"] == "success"
    )
    # The transactions say no currency; the refunded lines' presentment money does.
    line_currency = payload["refund_line_items"][0]["subtotal_set"]["presentment_money"]
    assert refund.currency == line_currency["currency_code"]
    assert refund.method is RefundMethod.ORIGINAL_PAYMENT  # the "bogus" test gateway
    assert refund.reason == payload["note"]
    assert refund.created_at == datetime.fromisoformat(payload["processed_at"])
    assert [(i.line_id, i.quantity, i.amount) for i in refund.items] == [
        (
            str(line["line_item_id"]),
            line["quantity"],
            presentment(line["subtotal_set"]) + presentment(line["total_tax_set"]),
        )
        for line in payload["refund_line_items"]
    ]


def test_without_transactions_the_refunded_lines_are_the_amount() -> None:
    payload = sample("refunds_create") | {"transactions": []}
    refund = only_event(delivery(payload, "refunds/create")).refund
    assert refund is not None
    assert refund.amount == sum(
        presentment(line["subtotal_set"]) + presentment(line["total_tax_set"])
        for line in payload["refund_line_items"]
    )


@pytest.mark.parametrize(
    ("gateway", "method"),
    [
        ("gift_card", RefundMethod.GIFT_CARD),
        ("shopify_store_credit", RefundMethod.STORE_CREDIT),
        ("cash", RefundMethod.CASH),
        ("shopify_payments", RefundMethod.ORIGINAL_PAYMENT),
    ],
)
def test_the_refund_method_follows_the_gateway(gateway: str, method: RefundMethod) -> None:
    payload = sample("refunds_create")
    for transaction in payload["transactions"]:
        transaction["gateway"] = gateway
    refund = only_event(delivery(payload, "refunds/create")).refund
    assert refund is not None and refund.method is method


def test_a_refund_that_moves_no_money_is_ignored() -> None:
    payload = sample("refunds_create") | {"transactions": [], "refund_line_items": []}
    parsed = parse(delivery(payload, "refunds/create"))
    assert parsed.events == () and parsed.ignored is not None


# --- what Aftercare does not use, and what it cannot read -----------------------------------------


def test_an_unknown_topic_is_ignored_and_recorded() -> None:
    parsed = parse(delivery(sample_bytes("orders_fulfilled"), "orders/fulfilled"))
    assert parsed.events == ()
    assert parsed.ignored == "topic orders/fulfilled is not used by Aftercare"
    assert parsed.topic == "orders/fulfilled"
    assert parsed.relevant_headers["x-shopify-topic"] == "orders/fulfilled"


def test_a_body_that_is_not_json_is_a_400() -> None:
    with pytest.raises(MalformedPayloadError) as refused:
        parse(delivery(b'{"id": 820982911946154508, "line_items": [', "orders/paid"))
    assert refused.value.status == 400


def test_a_missing_topic_header_is_a_400() -> None:
    with pytest.raises(MalformedPayloadError, match="X-Shopify-Topic") as refused:
        parse(delivery(sample_bytes("orders_paid"), "orders/paid", drop=("x-shopify-topic",)))
    assert refused.value.status == 400


def test_a_missing_field_is_a_422_that_names_it() -> None:
    payload = sample("orders_paid")
    del payload["total_price"], payload["total_price_set"]
    with pytest.raises(MalformedPayloadError, match="total_price is missing") as refused:
        parse(delivery(payload, "orders/paid"))
    assert refused.value.status == 422


def test_a_missing_nested_field_names_its_path() -> None:
    payload = sample("orders_paid")
    del payload["line_items"][2]["price"], payload["line_items"][2]["price_set"]
    with pytest.raises(MalformedPayloadError, match=r"line_items\[2\]\.price is missing"):
        parse(delivery(payload, "orders/paid"))


def test_a_value_the_event_model_refuses_names_the_field_but_not_the_customer() -> None:
    payload = copy.deepcopy(sample("orders_paid"))
    payload["shipping_address"]["country_code"] = "ZZ"
    with pytest.raises(MalformedPayloadError) as refused:
        parse(delivery(payload, "orders/paid"))
    assert refused.value.status == 422
    message = str(refused.value)
    assert "order.shipping_address.country_code" in message
    assert payload["customer"]["email"] not in message
    assert payload["shipping_address"]["address1"] not in message


def test_shopify_has_no_ping() -> None:
    assert not adapter().is_ping(delivery(sample_bytes("orders_paid"), "orders/paid"))
