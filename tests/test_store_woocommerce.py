"""The WooCommerce adapter, driven by the REST API docs' examples signed as WooCommerce signs them.

A webhook body is the REST resource (``WC_Webhook::build_payload``), so the docs' order and
customer examples are the bodies. Expected values are read from those files.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import html
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aftercare.events import EventKind, Order, OrderEvent, RefundMethod
from aftercare.order_state import OrderState, merge_event
from aftercare.settings import StoreFacts, WooCommerceOptions
from aftercare.stores import Delivery, MalformedPayloadError, ParsedDelivery, SignatureError
from aftercare.stores.woocommerce import WooCommerceAdapter

FIXTURES = Path(__file__).parent / "fixtures" / "woocommerce"
SECRET = "wc_test_secret_7Qx9Lm2p"
RECEIVED_AT = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)


def sample_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def sample(name: str) -> Any:
    return json.loads(sample_bytes(name))


def order_sample(order_id: int) -> dict[str, Any]:
    """One order from the docs' list example (723 has refunds, 727 is processing)."""
    return copy.deepcopy(
        next(o for o in sample("orders__03_list_all_orders") if o["id"] == order_id)
    )


# The titles WooCommerce's own gateways give themselves, and one online gateway's.
PAYMENT_METHOD_TITLES = {
    "bacs": "Direct bank transfer",
    "cheque": "Check payments",
    "cod": "Cash on delivery",
    "stripe": "Credit Card (Stripe)",
}


def woo_order(
    status: str,
    payment_method: str = "bacs",
    *,
    modified: str = "2017-03-22T19:28:08",
    order_id: int | None = None,
) -> dict[str, Any]:
    """The docs' order 727 (``processing``, by bank transfer) in ``status``, paid with
    ``payment_method``, last modified at ``modified`` (UTC, as ``date_modified_gmt``).

    WooCommerce sets ``date_paid`` when an order reaches ``processing`` or ``completed``."""
    payload = sample("orders__01_create_an_order") | {
        "status": status,
        "payment_method": payment_method,
        "payment_method_title": PAYMENT_METHOD_TITLES[payment_method],
        "date_modified_gmt": modified,
    }
    if status not in ("processing", "completed"):
        payload |= {"date_paid": None, "date_paid_gmt": None}
    if order_id is not None:
        payload |= {"id": order_id, "number": str(order_id)}
    return payload


def in_turn(*deliveries: tuple[str, dict[str, Any]]) -> tuple[list[EventKind], OrderState]:
    """Each ``(topic, payload)`` delivered in turn, its events merged into the order's state
    as the drain merges them: the kinds emitted and the state after."""
    kinds: list[EventKind] = []
    state: OrderState | None = None
    for topic, payload in deliveries:
        for event in events(delivery(payload, topic)):
            kinds.append(event.kind)
            state = merge_event(state, event)
    assert state is not None
    return kinds, state


def woo_signature(body: bytes, secret: str = SECRET) -> str:
    """X-WC-Webhook-Signature: base64 of the HMAC-SHA256 of the body, keyed with the secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def delivery(
    body: bytes | dict[str, Any],
    topic: str,
    *,
    secret: str = SECRET,
    delivery_id: str = "4b9c1f0e8a7d",
    drop: tuple[str, ...] = (),
) -> Delivery:
    """A delivery with the headers WooCommerce's ``WC_Webhook::deliver`` sends."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    resource, event = topic.split(".", 1)
    headers = {
        "content-type": "application/json",
        "user-agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7)",
        "x-wc-webhook-source": "https://shop.example/",
        "x-wc-webhook-topic": topic,
        "x-wc-webhook-resource": resource,
        "x-wc-webhook-event": event,
        "x-wc-webhook-signature": woo_signature(raw, secret),
        "x-wc-webhook-id": "12",
        "x-wc-webhook-delivery-id": delivery_id,
    }
    for name in drop:
        headers.pop(name)
    return Delivery(headers=headers, body=raw, received_at=RECEIVED_AT)


def adapter() -> WooCommerceAdapter:
    return WooCommerceAdapter(WooCommerceOptions(webhook_secret=SECRET), StoreFacts())


def parse(the_delivery: Delivery) -> ParsedDelivery:
    woo = adapter()
    assert not woo.is_ping(the_delivery)
    woo.verify(the_delivery)
    return woo.parse(the_delivery)


def events(the_delivery: Delivery) -> tuple[OrderEvent, ...]:
    parsed = parse(the_delivery)
    assert parsed.ignored is None
    return parsed.events


def only_event(the_delivery: Delivery) -> OrderEvent:
    (event,) = events(the_delivery)
    return event


def assert_totals_add_up(order: Order) -> None:
    costs = order.costs
    assert costs.subtotal == sum(line.line_total for line in order.line_items)
    taxes = Decimal(0) if costs.taxes_included else costs.taxes
    assert costs.total == costs.subtotal - costs.discounts + costs.shipping + taxes


# --- signatures and the creation ping -------------------------------------------------------------


def test_a_body_signed_with_the_webhook_secret_is_authentic() -> None:
    # verify raises SignatureError unless the delivery is authentic
    body = sample_bytes("orders__01_create_an_order")
    assert adapter().verify(delivery(body, "order.created")) is None


def test_a_forged_signature_is_refused() -> None:
    signed = delivery(sample_bytes("orders__01_create_an_order"), "order.created")
    forged = dict(signed.headers) | {"x-wc-webhook-signature": woo_signature(b"something else")}
    with pytest.raises(SignatureError) as refused:
        adapter().verify(Delivery(forged, signed.body, signed.received_at))
    assert refused.value.status == 401


def test_a_missing_signature_names_the_header() -> None:
    unsigned = delivery(
        sample_bytes("orders__01_create_an_order"),
        "order.created",
        drop=("x-wc-webhook-signature",),
    )
    with pytest.raises(SignatureError, match="X-WC-Webhook-Signature header is missing"):
        adapter().verify(unsigned)


def test_without_a_configured_secret_every_delivery_is_refused_naming_the_setting() -> None:
    unconfigured = WooCommerceAdapter(WooCommerceOptions(), StoreFacts())
    with pytest.raises(SignatureError, match="AFTERCARE_WOOCOMMERCE__WEBHOOK_SECRET"):
        unconfigured.verify(delivery(sample_bytes("orders__01_create_an_order"), "order.created"))


def test_a_delivery_signed_with_another_secret_is_refused() -> None:
    other = delivery(sample_bytes("orders__01_create_an_order"), "order.created", secret="old")
    with pytest.raises(SignatureError, match="AFTERCARE_WOOCOMMERCE__WEBHOOK_SECRET"):
        adapter().verify(other)


def test_a_body_changed_after_signing_is_refused() -> None:
    signed = delivery(sample_bytes("orders__01_create_an_order"), "order.created")
    tampered = signed.body.replace(b'"total": "29.35"', b'"total": "2.35"')
    assert tampered != signed.body
    with pytest.raises(SignatureError):
        adapter().verify(Delivery(signed.headers, tampered, signed.received_at))


def test_the_unsigned_creation_ping_is_recognised() -> None:
    """``deliver_ping``: form body ``webhook_id=N``, no X-WC-Webhook-* headers at all."""
    ping = Delivery(
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=b"webhook_id=12",
        received_at=RECEIVED_AT,
    )
    assert adapter().is_ping(ping)
    for not_a_ping in (b"webhook_id=12&status=active", b"webhook_id=", b"{}"):
        assert not adapter().is_ping(Delivery(ping.headers, not_a_ping, RECEIVED_AT))
    signed = delivery(b"webhook_id=12", "order.created")
    assert not adapter().is_ping(signed), "a topic header means a real, signed delivery"


# --- dedupe key -----------------------------------------------------------------------------------


def test_the_dedupe_key_survives_woocommerces_new_delivery_id_on_every_attempt() -> None:
    body = sample_bytes("orders__01_create_an_order")
    payload = sample("orders__01_create_an_order")
    first = adapter().delivery_id(delivery(body, "order.created", delivery_id="a1"))
    again = adapter().delivery_id(delivery(body, "order.created", delivery_id="b2"))
    assert first == again
    assert first == (
        f"order:{payload['id']}:order.created:{payload['date_modified_gmt']}:{payload['status']}"
    )
    parsed = parse(delivery(body, "order.created", delivery_id="c3"))
    assert parsed.delivery_id == first
    assert parsed.events[0].source_event_id == first


def test_the_dedupe_key_changes_when_the_order_changes() -> None:
    payload = sample("orders__01_create_an_order")
    key = adapter().delivery_id(delivery(payload, "order.updated"))
    later = payload | {"date_modified_gmt": "2017-03-22T19:40:00"}
    assert adapter().delivery_id(delivery(later, "order.updated")) != key
    other_status = payload | {"status": "completed"}
    assert adapter().delivery_id(delivery(other_status, "order.updated")) != key


def test_a_refund_added_within_the_same_second_is_still_news() -> None:
    payload = order_sample(723)
    key = adapter().delivery_id(delivery(payload, "order.updated"))
    payload["refunds"].append({"id": 731, "reason": "", "total": "-5.00"})
    assert adapter().delivery_id(delivery(payload, "order.updated")) != key


# --- orders ---------------------------------------------------------------------------------------


def test_order_created_in_processing_is_the_confirmation() -> None:
    payload = sample("orders__01_create_an_order")
    assert payload["status"] == "processing"
    event = only_event(delivery(sample_bytes("orders__01_create_an_order"), "order.created"))
    assert event.kind is EventKind.ORDER_PLACED
    assert event.source == "woocommerce"
    order = event.order
    assert order is not None
    assert order.external_id == str(payload["id"]) == event.order_id
    assert order.number == payload["number"]
    assert order.currency == payload["currency"]
    assert order.placed_at == datetime.fromisoformat(payload["date_created_gmt"]).replace(
        tzinfo=UTC
    )
    assert event.occurred_at == datetime.fromisoformat(payload["date_modified_gmt"]).replace(
        tzinfo=UTC
    )
    costs = order.costs
    assert costs.subtotal == sum(Decimal(line["subtotal"]) for line in payload["line_items"])
    assert costs.discounts == Decimal(payload["discount_total"])
    assert costs.shipping == Decimal(payload["shipping_total"])
    assert costs.taxes == Decimal(payload["total_tax"])
    assert costs.total == Decimal(payload["total"])
    assert costs.taxes_included is payload["prices_include_tax"]
    (tax,) = costs.tax_lines
    assert tax.title == payload["tax_lines"][0]["label"]
    assert tax.amount == Decimal(payload["tax_lines"][0]["tax_total"])
    assert_totals_add_up(order)


def test_line_items_are_read_with_their_names_decoded() -> None:
    payload = sample("orders__01_create_an_order")
    order = only_event(delivery(payload, "order.created")).order
    assert order is not None
    for line, source in zip(order.line_items, payload["line_items"], strict=True):
        assert line.line_id == str(source["id"])
        assert line.product_id == str(source["product_id"])
        assert line.quantity == source["quantity"]
        assert line.unit_price * line.quantity == Decimal(source["subtotal"])
        assert line.sku == (source["sku"] or None)
        # "Ship Your Idea &ndash; Color: Black": the template escapes it once, not twice.
        assert line.title == html.unescape(source["name"])
    assert "&ndash;" not in "".join(line.title for line in order.line_items)


def test_the_billing_contact_is_the_customer_and_customer_id_0_is_a_guest() -> None:
    payload = sample("orders__01_create_an_order")
    assert payload["customer_id"] == 0
    event = only_event(delivery(payload, "order.created"))
    assert event.customer is not None and event.order is not None
    assert event.customer.email == payload["billing"]["email"]
    assert event.customer.first_name == payload["billing"]["first_name"]
    assert event.customer.external_id is None
    shipping, source = event.order.shipping_address, payload["shipping"]
    assert shipping is not None
    assert shipping.name == f"{source['first_name']} {source['last_name']}"
    assert shipping.line1 == source["address_1"]
    assert shipping.line2 is None and source["address_2"] == ""
    assert shipping.city == source["city"]
    assert shipping.region == source["state"]
    assert shipping.postal_code == source["postcode"]
    assert shipping.country_code == source["country"]
    assert event.order.billing_address is not None
    assert event.order.billing_address.phone == payload["billing"]["phone"]


def test_a_registered_customer_keeps_their_account_id() -> None:
    payload = order_sample(723)
    (event, *_) = events(delivery(payload, "order.updated"))
    assert event.customer is not None
    assert event.customer.external_id == str(payload["customer_id"])
    assert event.customer.first_name == payload["billing"]["first_name"]  # "João"


@pytest.mark.parametrize(
    ("status", "payment_method"),
    [("pending", "bacs"), ("pending", "stripe"), ("failed", "stripe"), ("on-hold", "stripe")],
)
def test_an_order_not_paid_yet_only_updates_state(status: str, payment_method: str) -> None:
    """Pending: the checkout is not finished. Failed: the card was declined. On hold with an
    online gateway: the payment is under review and may yet be declined. The confirmation
    follows at ``processing``."""
    pending = next(
        o for o in sample("orders__06_batch_update_orders")["create"] if o["status"] == "pending"
    )
    changed = pending | {"status": status, "payment_method": payment_method}
    event = only_event(delivery(changed, "order.created"))
    assert event.kind is EventKind.ORDER_UPDATED
    assert event.order is not None and event.order.external_id == str(pending["id"])
    assert event.order.payment_due_later is False


@pytest.mark.parametrize("topic", ["order.created", "order.updated"])
@pytest.mark.parametrize("payment_method", ["bacs", "cheque", "cod"])
def test_an_order_on_hold_for_an_offline_payment_is_confirmed_and_due_later(
    payment_method: str, topic: str
) -> None:
    """The customer pays after ordering, and needs the confirmation (the bank details) first."""
    event = only_event(delivery(woo_order("on-hold", payment_method), topic))
    assert event.kind is EventKind.ORDER_PLACED
    assert event.order is not None and event.order.payment_due_later is True


def test_cash_on_delivery_is_processing_from_the_start_and_paid_at_the_door() -> None:
    event = only_event(delivery(woo_order("processing", "cod"), "order.created"))
    assert event.kind is EventKind.ORDER_PLACED
    assert event.order is not None and event.order.payment_due_later is True
    delivered = only_event(delivery(woo_order("completed", "cod"), "order.updated"))
    assert delivered.order is not None and delivered.order.payment_due_later is False


def test_a_bank_transfer_in_processing_has_been_received() -> None:
    payload = sample("orders__01_create_an_order")
    assert (payload["status"], payload["payment_method"]) == ("processing", "bacs")
    event = only_event(delivery(payload, "order.created"))
    assert event.order is not None and event.order.payment_due_later is False


@pytest.mark.parametrize("topic", ["order.created", "order.updated"])
@pytest.mark.parametrize("status", ["cancelled", "failed", "refunded"])
def test_an_order_cancelled_failed_or_refunded_is_never_confirmed(topic: str, status: str) -> None:
    for payment_method in ("bacs", "cod", "stripe"):
        found = events(delivery(woo_order(status, payment_method), topic))
        assert EventKind.ORDER_PLACED not in [e.kind for e in found], payment_method


def test_an_order_that_reaches_processing_later_is_confirmed_then() -> None:
    payload = sample("orders__01_create_an_order")
    event = only_event(delivery(payload, "order.updated"))
    assert event.kind is EventKind.ORDER_PLACED


def test_an_order_created_already_completed_is_confirmed() -> None:
    payload = sample("orders__04_update_an_order")
    event = only_event(delivery(payload, "order.created"))
    assert event.kind is EventKind.ORDER_PLACED


def test_a_completed_order_is_shipped_in_one_parcel_with_every_line() -> None:
    payload = sample("orders__04_update_an_order")
    assert payload["status"] == "completed"
    event = only_event(delivery(sample_bytes("orders__04_update_an_order"), "order.updated"))
    assert event.kind is EventKind.ORDER_SHIPPED
    assert event.order is not None, "the snapshot travels along: no confirmation needed first"
    parcel = event.fulfilment
    assert parcel is not None
    assert parcel.external_id == str(payload["id"])
    assert parcel.tracking_numbers == () and parcel.carrier is None
    assert [(i.line_id, i.quantity) for i in parcel.items] == [
        (str(line["id"]), line["quantity"]) for line in payload["line_items"]
    ]
    assert parcel.created_at == datetime.fromisoformat(payload["date_modified_gmt"]).replace(
        tzinfo=UTC
    )


def test_shipment_tracking_meta_gives_the_parcel_its_carrier_and_link() -> None:
    """The Shipment Tracking extension's meta entry, as its REST API returns it (added here:
    the docs' examples predate the extension)."""
    payload = sample("orders__04_update_an_order")
    tracking = [
        {
            "tracking_provider": "",
            "custom_tracking_provider": "Österreichische Post",
            "custom_tracking_link": "https://www.post.at/s/sendungsdetails?snr=RR123456785AT",
            "tracking_number": "RR123456785AT",
            "date_shipped": "1490209200",
            "tracking_id": "5b1f7e3c2a9d4e6f8a0b1c2d3e4f5a6b",
        },
        {
            "tracking_provider": "usps",
            "custom_tracking_provider": "",
            "custom_tracking_link": "",
            "tracking_number": "9400111899223397658538",
            "date_shipped": "1490295600",
            "tracking_id": "0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f",
        },
    ]
    payload["meta_data"].append(
        {"id": 13200, "key": "_wc_shipment_tracking_items", "value": tracking}
    )
    parcel = only_event(delivery(payload, "order.updated")).fulfilment
    assert parcel is not None
    assert parcel.external_id == str(payload["id"])
    assert parcel.carrier == tracking[0]["custom_tracking_provider"]
    assert parcel.tracking_numbers == tuple(t["tracking_number"] for t in tracking)
    assert parcel.tracking_urls == (tracking[0]["custom_tracking_link"],)
    assert parcel.created_at == datetime.fromtimestamp(int(tracking[0]["date_shipped"]), tz=UTC)


def test_a_slug_carrier_is_named_as_customers_know_it() -> None:
    payload = sample("orders__04_update_an_order")
    tracking = [{"tracking_provider": "usps", "tracking_number": "9400111899223397658538"}]
    payload["meta_data"].append({"id": 1, "key": "_wc_shipment_tracking_items", "value": tracking})
    parcel = only_event(delivery(payload, "order.updated")).fulfilment
    assert parcel is not None and parcel.carrier == "USPS"


def test_an_order_with_refunds_reports_each_refund() -> None:
    """Order 723 is completed with two partial refunds (totals negative, as WooCommerce sends)."""
    payload = order_sample(723)
    shipped, *refunds = events(delivery(payload, "order.updated"))
    assert shipped.kind is EventKind.ORDER_SHIPPED
    assert [e.kind for e in refunds] == [EventKind.ORDER_REFUNDED] * len(payload["refunds"])
    for event, source in zip(refunds, payload["refunds"], strict=True):
        assert event.refund is not None
        assert event.refund.external_id == str(source["id"])
        assert event.refund.amount == -Decimal(source["total"])
        assert event.refund.currency == payload["currency"]
        assert event.refund.method is RefundMethod.ORIGINAL_PAYMENT
        assert event.order_id == str(payload["id"])
    assert len({e.source_event_id for e in (shipped, *refunds)}) == 3


def test_a_refunded_order_is_its_refunds() -> None:
    payload = order_sample(723) | {"status": "refunded"}  # changed in the test: fully refunded
    found = events(delivery(payload, "order.updated"))
    assert [e.kind for e in found] == [EventKind.ORDER_REFUNDED] * len(payload["refunds"])
    assert [e.refund.amount for e in found if e.refund] == [
        -Decimal(r["total"]) for r in payload["refunds"]
    ]


def test_a_cancelled_order_is_cancelled_when_it_changed() -> None:
    payload = sample("orders__01_create_an_order") | {"status": "cancelled"}
    event = only_event(delivery(payload, "order.updated"))
    assert event.kind is EventKind.ORDER_CANCELLED
    assert event.order is not None
    assert event.order.cancelled_at == datetime.fromisoformat(payload["date_modified_gmt"]).replace(
        tzinfo=UTC
    )


def test_prices_entered_with_tax_show_lines_and_costs_with_tax() -> None:
    payload = sample("orders__01_create_an_order") | {"prices_include_tax": True}
    order = only_event(delivery(payload, "order.created")).order
    assert order is not None
    assert order.costs.taxes_included
    assert order.costs.subtotal == sum(
        Decimal(line["subtotal"]) + Decimal(line["subtotal_tax"]) for line in payload["line_items"]
    )
    assert order.costs.total == Decimal(payload["total"])
    assert_totals_add_up(order)


def test_a_coupon_and_a_fee_keep_the_totals_adding_up() -> None:
    payload = sample("orders__01_create_an_order")
    payload["line_items"][1] |= {"total": "10.80"}  # 10 % off the 12.00 line
    payload |= {
        "discount_total": "1.20",
        "coupon_lines": [{"id": 320, "code": "spring10", "discount": "1.20", "discount_tax": "0"}],
        "fee_lines": [{"id": 321, "name": "Cash on delivery", "total": "2.50", "total_tax": "0"}],
        "total": str(Decimal(payload["total"]) - Decimal("1.20") + Decimal("2.50")),
    }
    order = only_event(delivery(payload, "order.created")).order
    assert order is not None
    assert order.costs.discount_codes == ("spring10",)
    assert order.costs.discounts == Decimal("1.20")
    fee = order.line_items[-1]
    assert (fee.title, fee.unit_price, fee.requires_shipping) == (
        "Cash on delivery",
        Decimal("2.50"),
        False,
    )
    assert order.costs.total == Decimal(payload["total"])
    assert_totals_add_up(order)


def test_an_order_without_billing_email_is_ignored_not_refused() -> None:
    payload = sample("orders__01_create_an_order")
    payload["billing"]["email"] = ""
    parsed = parse(delivery(payload, "order.created"))
    assert parsed.events == () and parsed.ignored is not None


# --- one confirmation, whichever topic brings the order -------------------------------------------

PLACED, UPDATED = EventKind.ORDER_PLACED, EventKind.ORDER_UPDATED
CHECKOUT = "2017-03-22T19:28:02"
PAID_AT_ONCE = "2017-03-22T19:28:08"
HOURS_LATER = "2017-03-23T01:15:40"
DAYS_LATER = "2017-03-25T10:02:11"


@pytest.mark.parametrize("paid_at", [PAID_AT_ONCE, HOURS_LATER])
def test_an_order_created_pending_is_confirmed_when_it_reaches_processing(paid_at: str) -> None:
    kinds, state = in_turn(
        ("order.created", woo_order("pending", "stripe", modified=CHECKOUT)),
        ("order.updated", woo_order("processing", "stripe", modified=paid_at)),
    )
    assert kinds == [UPDATED, PLACED]
    assert state.updated_at == datetime.fromisoformat(paid_at).replace(tzinfo=UTC)


def test_a_late_order_created_neither_confirms_again_nor_rolls_the_order_back() -> None:
    """WooCommerce queues deliveries; an older ``order.created`` may come after the update."""
    kinds, _ = in_turn(
        ("order.updated", woo_order("processing", "stripe", modified=PAID_AT_ONCE)),
        ("order.created", woo_order("pending", "stripe", modified=CHECKOUT)),
    )
    assert kinds == [PLACED, UPDATED]
    # By bank transfer the snapshots differ in the model: the newer one, paid, is kept.
    kinds, state = in_turn(
        ("order.updated", woo_order("processing", "bacs", modified=DAYS_LATER)),
        ("order.created", woo_order("on-hold", "bacs", modified=CHECKOUT)),
    )
    assert kinds == [PLACED, PLACED]  # the confirmation's key lets one through
    assert state.order.payment_due_later is False


def test_a_bank_transfer_is_confirmed_on_hold_and_its_payment_refreshes_the_order() -> None:
    kinds, state = in_turn(
        ("order.created", woo_order("on-hold", "bacs", modified=CHECKOUT)),
        ("order.updated", woo_order("processing", "bacs", modified=DAYS_LATER)),
    )
    assert kinds == [PLACED, PLACED]  # the confirmation's key lets the first through
    assert state.order.payment_due_later is False


def test_an_order_cancelled_before_payment_is_never_confirmed() -> None:
    kinds, state = in_turn(
        ("order.created", woo_order("pending", "stripe", modified=CHECKOUT)),
        ("order.updated", woo_order("cancelled", "stripe", modified=HOURS_LATER)),
    )
    assert kinds == [UPDATED, EventKind.ORDER_CANCELLED]
    assert state.order.cancelled_at is not None


# --- customers ------------------------------------------------------------------------------------


def test_customer_created_welcomes_the_new_customer() -> None:
    payload = sample("customers__01_create_a_customer")
    event = only_event(
        delivery(sample_bytes("customers__01_create_a_customer"), "customer.created")
    )
    assert event.kind is EventKind.CUSTOMER_CREATED
    assert event.customer is not None
    assert event.customer.external_id == str(payload["id"])
    assert event.customer.email == payload["email"]
    assert (event.customer.first_name, event.customer.last_name) == (
        payload["first_name"],
        payload["last_name"],
    )
    assert event.occurred_at == datetime.fromisoformat(payload["date_created_gmt"]).replace(
        tzinfo=UTC
    )


# --- what Aftercare does not use, and what it cannot read -----------------------------------------


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        ("customer.updated", sample_bytes("customers__01_create_a_customer")),
        ("order.deleted", b'{"id": 727}'),
        ("action.woocommerce_low_stock", b'{"action": "woocommerce_low_stock", "arg": 93}'),
    ],
)
def test_a_topic_aftercare_does_not_use_is_ignored(topic: str, body: bytes) -> None:
    parsed = parse(delivery(body, topic))
    assert parsed.events == ()
    assert parsed.ignored == f"topic {topic} is not used by Aftercare"
    assert parsed.delivery_id


def test_a_body_that_is_not_json_is_a_400() -> None:
    with pytest.raises(MalformedPayloadError) as refused:
        parse(delivery(b'{"id": 727, "status": "process', "order.created"))
    assert refused.value.status == 400


def test_a_missing_topic_header_is_a_400() -> None:
    broken = delivery(
        sample_bytes("orders__01_create_an_order"), "order.created", drop=("x-wc-webhook-topic",)
    )
    with pytest.raises(MalformedPayloadError, match="X-WC-Webhook-Topic") as refused:
        adapter().parse(broken)
    assert refused.value.status == 400


def test_a_missing_field_is_a_422_that_names_it() -> None:
    payload = sample("orders__01_create_an_order")
    del payload["line_items"][1]["quantity"]
    with pytest.raises(MalformedPayloadError, match=r"line_items\[1\]\.quantity is missing") as e:
        parse(delivery(payload, "order.created"))
    assert e.value.status == 422


def test_a_value_the_event_model_refuses_names_the_field_but_not_the_customer() -> None:
    payload = sample("orders__01_create_an_order") | {"currency": "DOLLARS"}
    with pytest.raises(MalformedPayloadError, match="order.currency") as refused:
        parse(delivery(payload, "order.created"))
    assert refused.value.status == 422
    assert payload["billing"]["email"] not in str(refused.value)
