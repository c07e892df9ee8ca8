"""The generic webhook: the documented examples, signed Standard Webhooks style.

The bodies come from docs/generic-webhooks.md itself, so the documentation cannot drift
from what the receiver accepts; the committed JSON Schema is checked against the model.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from aftercare.events import PARTS_BY_KIND, EventKind, OrderEvent
from aftercare.sample_store import orders
from aftercare.settings import GenericOptions
from aftercare.stores import (
    Delivery,
    MalformedPayloadError,
    ParsedDelivery,
    SignatureError,
    StaleDeliveryError,
)
from aftercare.stores.generic import (
    GenericAdapter,
    generic_event_schema,
    render_generic_event_schema,
    signature,
)

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "generic-webhooks.md"
SCHEMA = ROOT / "schemas" / "generic_event.schema.json"

SECRET = "whsec_" + base64.b64encode(b"a shared key of 32 random bytes!").decode()
NOW = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
TOLERANCE = 300


def documented(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)


def documented_events() -> list[dict[str, Any]]:
    return [json.loads(block) for block in documented("json")]


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode("utf-8")


def delivery(
    body: bytes | dict[str, Any],
    *,
    secret: str = SECRET,
    webhook_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
    signed_at: datetime = NOW,
    received_at: datetime = NOW,
    drop: tuple[str, ...] = (),
) -> Delivery:
    raw = body if isinstance(body, bytes) else body_of(body)
    timestamp = int(signed_at.timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, webhook_id, timestamp, raw),
    }
    for name in drop:
        headers.pop(name)
    return Delivery(headers=headers, body=raw, received_at=received_at)


def adapter(secret: str | None = SECRET) -> GenericAdapter:
    return GenericAdapter(
        GenericOptions(webhook_secret=secret, timestamp_tolerance_seconds=TOLERANCE)
    )


def parse(the_delivery: Delivery) -> ParsedDelivery:
    generic = adapter()
    generic.verify(the_delivery)
    return generic.parse(the_delivery)


def placed_example() -> dict[str, Any]:
    return next(e for e in documented_events() if e["kind"] == "order_placed")


# --- the documented format ------------------------------------------------------------------------


def test_every_documented_example_is_accepted_as_written() -> None:
    examples = documented_events()
    assert {e["kind"] for e in examples} == {"order_placed", "order_shipped"}
    for example in examples:
        parsed = parse(delivery(example))
        (event,) = parsed.events
        assert event.kind.value == example["kind"]
        assert event.source == "generic"
        assert event.source_event_id == example["source_event_id"]
        assert parsed.topic == example["kind"]


def test_the_documented_confirmation_keeps_its_values() -> None:
    example = placed_example()
    (event,) = parse(delivery(example)).events
    assert event.customer is not None and event.order is not None
    assert event.customer.first_name == example["customer"]["first_name"]
    costs, source = event.order.costs, example["order"]["costs"]
    assert costs.total == Decimal(source["total"])
    assert costs.discount_codes == tuple(source["discount_codes"])
    assert costs.subtotal == sum(line.line_total for line in event.order.line_items)
    assert costs.total == costs.subtotal - costs.discounts + costs.shipping  # taxes included


def test_the_documented_signing_code_signs_as_aftercare_verifies() -> None:
    (code,) = documented("python")
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the docs' own snippet, stdlib only
    body = body_of(placed_example())
    timestamp = int(NOW.timestamp())
    for secret in (SECRET, "a plain shared secret"):
        headers = namespace["sign"](secret, "msg_1", body, timestamp)
        assert headers["webhook-signature"] == signature(secret, "msg_1", timestamp, body)
        sent = Delivery(headers=headers, body=body, received_at=NOW)
        adapter(secret).verify(sent)


def test_a_whsec_secret_is_the_base64_key_and_any_other_secret_its_utf8_bytes() -> None:
    body = body_of(placed_example())
    as_whsec = signature(SECRET, "msg_1", 1, body)
    as_raw_key = signature(b"a shared key of 32 random bytes!".decode(), "msg_1", 1, body)
    assert as_whsec == as_raw_key


# --- signatures -----------------------------------------------------------------------------------


def test_a_forged_signature_is_refused() -> None:
    forged = delivery(placed_example(), secret="whsec_" + base64.b64encode(b"guess").decode())
    with pytest.raises(SignatureError) as refused:
        adapter().verify(forged)
    assert refused.value.status == 401


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused_by_name(header: str) -> None:
    with pytest.raises(SignatureError, match=f"the {header} header is missing"):
        adapter().verify(delivery(placed_example(), drop=(header,)))


def test_without_a_configured_secret_every_delivery_is_refused_naming_the_setting() -> None:
    with pytest.raises(SignatureError, match="AFTERCARE_GENERIC__WEBHOOK_SECRET"):
        adapter(secret=None).verify(delivery(placed_example()))


def test_a_delivery_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(SignatureError, match="AFTERCARE_GENERIC__WEBHOOK_SECRET"):
        adapter().verify(delivery(placed_example(), secret="the old secret"))


def test_a_body_changed_after_signing_is_refused() -> None:
    signed = delivery(placed_example())
    tampered = signed.body.replace(b'"134.10"', b'"1.10"')
    assert tampered != signed.body
    with pytest.raises(SignatureError):
        adapter().verify(Delivery(signed.headers, tampered, signed.received_at))


def test_a_moved_timestamp_breaks_the_signature() -> None:
    """The timestamp is signed: an attacker cannot freshen a captured request."""
    old = delivery(placed_example(), signed_at=NOW - timedelta(hours=2))
    freshened = dict(old.headers) | {"webhook-timestamp": str(int(NOW.timestamp()))}
    with pytest.raises(SignatureError):
        adapter().verify(Delivery(freshened, old.body, NOW))


def test_any_one_valid_entry_of_several_signatures_is_enough() -> None:
    """Secret rotation: the sender signs with the old and the new secret for a while."""
    signed = delivery(placed_example())
    timestamp = int(NOW.timestamp())
    old = signature("whsec_" + base64.b64encode(b"old").decode(), "x", timestamp, signed.body)
    entries = f"v1a,bm90IGEgdjEgc2lnbmF0dXJl {old} {signed.headers['webhook-signature']}"
    rotated = Delivery(dict(signed.headers) | {"webhook-signature": entries}, signed.body, NOW)
    assert adapter().verify(rotated) is None  # raises SignatureError when no entry matches


def test_a_whsec_secret_that_is_not_base64_names_the_setting() -> None:
    with pytest.raises(SignatureError, match="AFTERCARE_GENERIC__WEBHOOK_SECRET"):
        adapter("whsec_not base64!").verify(delivery(placed_example(), secret="x"))


# --- replays --------------------------------------------------------------------------------------


def test_a_retry_of_the_same_message_has_the_same_dedupe_key() -> None:
    first = parse(delivery(placed_example(), webhook_id="msg_42"))
    a_minute_later = NOW + timedelta(minutes=1)  # re-signed with a fresh timestamp
    retry = parse(
        delivery(
            placed_example(),
            webhook_id="msg_42",
            signed_at=a_minute_later,
            received_at=a_minute_later,
        )
    )
    assert first.delivery_id == retry.delivery_id == "msg_42"
    assert first.events[0].dedupe_key == retry.events[0].dedupe_key


def test_a_captured_delivery_replayed_after_the_tolerance_is_stale() -> None:
    captured = delivery(placed_example())
    adapter().verify(captured)
    replayed = Delivery(captured.headers, captured.body, NOW + timedelta(seconds=TOLERANCE + 1))
    with pytest.raises(StaleDeliveryError, match="301 s ago") as refused:
        adapter().verify(replayed)
    assert refused.value.status == 401


def test_a_timestamp_from_the_future_is_stale_too() -> None:
    ahead = delivery(placed_example(), signed_at=NOW + timedelta(seconds=TOLERANCE + 60))
    with pytest.raises(StaleDeliveryError, match="in the future"):
        adapter().verify(ahead)


def test_clocks_a_little_apart_either_way_are_fine() -> None:
    # verify raises StaleDeliveryError outside the tolerance
    for skew in (-TOLERANCE, TOLERANCE):
        signed_at = NOW + timedelta(seconds=skew)
        assert adapter().verify(delivery(placed_example(), signed_at=signed_at)) is None


def test_a_timestamp_that_is_not_unix_seconds_is_refused() -> None:
    signed = delivery(placed_example())
    iso = dict(signed.headers) | {"webhook-timestamp": NOW.isoformat()}
    with pytest.raises(SignatureError, match="unix seconds"):
        adapter().verify(Delivery(iso, signed.body, NOW))


# --- source and ids -------------------------------------------------------------------------------


def test_source_may_be_left_out_or_be_generic() -> None:
    example = placed_example()
    assert "source" not in example
    explicit = parse(delivery(example | {"source": "generic"})).events[0]
    assert explicit.source == "generic"


def test_another_source_is_refused_so_generic_cannot_write_into_a_store() -> None:
    with pytest.raises(MalformedPayloadError, match="source") as refused:
        parse(delivery(placed_example() | {"source": "shopify"}))
    assert refused.value.status == 422


def test_source_event_id_defaults_to_the_webhook_id() -> None:
    example = placed_example()
    del example["source_event_id"]
    (event,) = parse(delivery(example, webhook_id="msg_7")).events
    assert event.source_event_id == "msg_7"


# --- bad bodies -----------------------------------------------------------------------------------


def test_a_body_that_is_not_json_is_a_400() -> None:
    with pytest.raises(MalformedPayloadError) as refused:
        parse(delivery(b'{"kind": "order_placed", '))
    assert refused.value.status == 400


def test_a_json_array_is_a_422() -> None:
    with pytest.raises(MalformedPayloadError, match="JSON object") as refused:
        parse(delivery(b"[]"))
    assert refused.value.status == 422


def test_a_missing_field_is_a_422_that_names_its_path() -> None:
    example = placed_example()
    del example["order"]["currency"]
    with pytest.raises(MalformedPayloadError, match=r"order\.currency: Field required") as e:
        parse(delivery(example))
    assert e.value.status == 422


def test_a_kind_without_its_parts_says_which_part() -> None:
    example = placed_example()
    del example["customer"]
    with pytest.raises(MalformedPayloadError, match="needs customer"):
        parse(delivery(example))


def test_an_unknown_field_is_refused_not_silently_dropped() -> None:
    example = placed_example()
    example["order"]["shipping_adress"] = example["order"]["shipping_address"]
    with pytest.raises(MalformedPayloadError, match="order.shipping_adress"):
        parse(delivery(example))


def test_errors_never_repeat_the_customers_email() -> None:
    example = placed_example()
    example["customer"]["email"] = "zoe.mueller@"
    with pytest.raises(MalformedPayloadError, match="customer.email") as refused:
        parse(delivery(example))
    assert "zoe.mueller@" not in str(refused.value)


def test_generic_has_no_ping() -> None:
    assert not adapter().is_ping(delivery(placed_example()))


# --- the JSON Schema ------------------------------------------------------------------------------


def test_the_committed_schema_is_what_the_model_generates() -> None:
    """Regenerate with `python -m aftercare.stores.generic > schemas/generic_event.schema.json`."""
    assert SCHEMA.read_text(encoding="utf-8") == render_generic_event_schema()
    assert json.loads(SCHEMA.read_text(encoding="utf-8")) == generic_event_schema()


def test_the_schema_accepts_the_documented_examples_and_refuses_a_kind_without_its_parts() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    for example in documented_events():
        validator.validate(example)
    without_customer = placed_example()
    del without_customer["customer"]
    assert not validator.is_valid(without_customer)
    assert not validator.is_valid(placed_example() | {"source": "shopify"})
    assert not validator.is_valid(placed_example() | {"customer": None})


def _event_with_every_part(kind: EventKind) -> dict[str, Any]:
    parts: dict[str, Any] = {}
    for built in (
        orders.placed(),
        orders.shipped(),
        orders.refunded(),
        orders.delayed(),
        orders.carrier_report(),
    ):
        parts |= {k: v for k, v in built.model_dump(mode="json").items() if v is not None}
    return parts | {"kind": kind.value}


@pytest.mark.parametrize("kind", list(EventKind))
def test_the_published_parts_per_kind_are_exactly_what_the_model_requires(kind: EventKind) -> None:
    everything = _event_with_every_part(kind)
    OrderEvent.model_validate(everything)
    for part in (
        "customer",
        "order_id",
        "order",
        "fulfilment",
        "refund",
        "delay",
        "shipment_update",
    ):
        without = {k: v for k, v in everything.items() if k != part}
        try:
            OrderEvent.model_validate(without)
            required = False
        except ValueError:
            required = True
        assert required == (part in PARTS_BY_KIND[kind]), f"{kind.value} and {part}"
    assert set(PARTS_BY_KIND) == set(EventKind)
