"""Shopify's privacy webhooks and ``aftercare customer forget``: personal data goes, keys stay.

Real receiver over HTTP, the real drain, SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from aftercare.cli import build_cli
from aftercare.drain import Pipeline, drain
from aftercare.opt_out import address_hash
from aftercare.storage.database import session_factory
from aftercare.storage.opt_outs import VIA_PAGE, opted_out, record_opt_out
from aftercare.storage.retention import purge_expired
from aftercare.storage.schema import (
    CustomerRow,
    InboxEventRow,
    InboxStatus,
    MarketingOptOutRow,
    OrderRow,
    OutboxEmailRow,
    OutboxStatus,
)
from tests import test_webhook_receiver
from tests.test_webhook_receiver import shopify_headers, shopify_sample

# The receiver's own fixtures: the real app, its inbox writer, on a loopback port.
settings = test_webhook_receiver.settings
nudges = test_webhook_receiver.nudges
receiver = test_webhook_receiver.receiver
pipeline = test_webhook_receiver.pipeline
url = test_webhook_receiver.url

CUSTOMER = {"id": 115310627314723954, "email": "john@example.com", "phone": "555-625-1199"}
ORDER_ID = 820982911946154508


def _post(url: str, topic: str, event_id: str, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{url}/webhooks/shopify", content=body, headers=shopify_headers(body, topic, event_id)
    )


def _order_and_shipment(url: str, suffix: str = "") -> None:
    order = shopify_sample("orders_create", cancelled_at=None)
    parcel = shopify_sample("fulfillments_create", status="success")
    assert _post(url, "orders/create", f"evt-order{suffix}", order).status_code == 200
    assert _post(url, "fulfillments/create", f"evt-parcel{suffix}", parcel).status_code == 200


def _redact(url: str, event_id: str = "evt-redact", **customer: object) -> httpx.Response:
    body = json.dumps(
        {
            "shop_id": 954889,
            "shop_domain": "fern-and-field.myshopify.com",
            "customer": customer or CUSTOMER,
            "orders_to_redact": [ORDER_ID],
        }
    ).encode()
    return _post(url, "customers/redact", event_id, body)


def _rows(engine: Engine, model: type) -> list:
    with Session(engine) as s:
        return list(s.scalars(select(model).order_by(model.id)))


def _nothing_personal_left(engine: Engine) -> None:
    (customer,) = _rows(engine, CustomerRow)
    assert customer.email.endswith("@erased.example") and customer.first_name is None
    (order,) = _rows(engine, OrderRow)
    assert order.shipping_address is None and order.billing_address is None
    assert order.status_url is None
    for row in _rows(engine, InboxEventRow):
        assert row.raw_body is None and row.raw_headers is None and row.payload == {}
    for email in _rows(engine, OutboxEmailRow):
        assert (email.recipient, email.subject, email.mime) == ("", "", b"")


def test_customers_redact_erases_their_data_and_keeps_the_keys_so_nothing_is_sent_again(
    url: str, engine: Engine, pipeline: Pipeline
) -> None:
    _order_and_shipment(url)
    drain(pipeline)
    sent = _rows(engine, OutboxEmailRow)
    assert [e.kind for e in sent] == ["order_confirmation", "order_shipped"]
    assert _redact(url).status_code == 200
    drain(pipeline)
    _nothing_personal_left(engine)
    emails = _rows(engine, OutboxEmailRow)
    assert [(e.idempotency_key, e.status) for e in emails] == [
        (e.idempotency_key, e.status) for e in sent
    ]
    inbox = _rows(engine, InboxEventRow)
    assert [r.status for r in inbox] == [InboxStatus.PROCESSED] * 3
    assert inbox[-1].kind == "customer_redact"

    # The same webhooks again (Shopify's retries), and as new events (a replay): no email.
    _order_and_shipment(url)
    _order_and_shipment(url, suffix="-again")
    drain(pipeline)
    assert len(_rows(engine, OutboxEmailRow)) == 2
    assert {e.status for e in _rows(engine, OutboxEmailRow)} == {OutboxStatus.SENT}


def test_a_new_parcel_of_an_erased_customers_order_sends_no_email(
    url: str, engine: Engine, pipeline: Pipeline
) -> None:
    order = shopify_sample("orders_create", cancelled_at=None)
    assert _post(url, "orders/create", "evt-order", order).status_code == 200
    drain(pipeline)
    assert _redact(url).status_code == 200
    drain(pipeline)
    parcel = shopify_sample("fulfillments_create", status="success")
    assert _post(url, "fulfillments/create", "evt-parcel", parcel).status_code == 200
    drain(pipeline)
    shipped = [e for e in _rows(engine, OutboxEmailRow) if e.kind == "order_shipped"]
    assert [e.status for e in shipped] == [OutboxStatus.SKIPPED]


@pytest.mark.parametrize("request_kind", ["customers/redact", "shop/redact"])
def test_erasure_keeps_the_marketing_opt_out_list(
    url: str, engine: Engine, pipeline: Pipeline, request_kind: str
) -> None:
    """A suppression list outlives erasure: it holds only hashes, and erasing it would let
    product suggestions reach the customer again at their next order."""
    _order_and_shipment(url)
    drain(pipeline)
    hashed = address_hash("John@Example.com")
    with session_factory(engine).begin() as s:
        record_opt_out(s, hashed, VIA_PAGE, datetime(2026, 11, 20, tzinfo=UTC))
    if request_kind == "customers/redact":
        assert _redact(url).status_code == 200
    else:
        body = json.dumps({"shop_id": 954889, "shop_domain": "x.myshopify.com"}).encode()
        assert _post(url, "shop/redact", "evt-shop", body).status_code == 200
    drain(pipeline)
    _nothing_personal_left(engine)  # the erasure did run
    with engine.connect() as connection:
        assert opted_out(connection, [hashed]) == {hashed}
    (kept,) = _rows(engine, MarketingOptOutRow)
    assert kept.via == VIA_PAGE


def test_a_redact_for_an_unknown_customer_succeeds_harmlessly(
    url: str, engine: Engine, pipeline: Pipeline
) -> None:
    assert _redact(url, id=1, email="nobody@example.com").status_code == 200
    drain(pipeline)
    (row,) = _rows(engine, InboxEventRow)
    assert (row.status, row.kind) == (InboxStatus.PROCESSED, "customer_redact")


def test_a_malformed_privacy_payload_is_kept_as_invalid(
    url: str, engine: Engine, pipeline: Pipeline
) -> None:
    body = json.dumps({"shop_id": 954889, "customer": {"phone": "1"}}).encode()
    assert _post(url, "customers/redact", "evt-bad", body).status_code == 200
    drain(pipeline)
    (row,) = _rows(engine, InboxEventRow)
    assert row.status == InboxStatus.INVALID and "customer.id" in row.last_error
    assert row.raw_body == body


def test_shop_redact_erases_every_customer_of_the_shop(
    url: str, engine: Engine, pipeline: Pipeline
) -> None:
    _order_and_shipment(url)
    drain(pipeline)
    body = json.dumps({"shop_id": 954889, "shop_domain": "fern-and-field.myshopify.com"}).encode()
    assert _post(url, "shop/redact", "evt-shop", body).status_code == 200
    drain(pipeline)
    _nothing_personal_left(engine)
    assert len(_rows(engine, OutboxEmailRow)) == 2


def test_a_data_request_writes_a_report_of_their_orders_and_emails(
    url: str,
    engine: Engine,
    pipeline: Pipeline,
    settings,
) -> None:
    _order_and_shipment(url)
    drain(pipeline)
    body = json.dumps(
        {
            "shop_id": 954889,
            "shop_domain": "fern-and-field.myshopify.com",
            "orders_requested": [ORDER_ID],
            "customer": CUSTOMER,
            "data_request": {"id": 9999},
        }
    ).encode()
    assert _post(url, "customers/data_request", "evt-data", body).status_code == 200
    drain(pipeline)
    path: Path = settings.outbox_dir / "data_requests" / "shopify-9999.json"
    report = json.loads(path.read_text())
    assert [c["email"] for c in report["customers"]] == ["john@example.com"]
    # The sample order's ticked checkout box, stored through the drain and reported.
    assert [c["marketing_consent"] for c in report["customers"]] == ["subscribed"]
    assert [o["order_id"] for o in report["orders"]] == [str(ORDER_ID)]
    assert [e["kind"] for e in report["emails"]] == ["order_confirmation", "order_shipped"]
    # Reporting erases nothing.
    assert _rows(engine, CustomerRow)[0].email == "john@example.com"


def test_customer_forget_by_hand_does_what_a_redact_does(
    url: str,
    engine: Engine,
    pipeline: Pipeline,
    settings,
    monkeypatch,
) -> None:
    _order_and_shipment(url)
    drain(pipeline)
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    report = runner.invoke(build_cli(), ["customer", "report", "JOHN@example.com"])
    assert report.exit_code == 0, report.output
    assert len(json.loads(report.output)["orders"]) == 1
    result = runner.invoke(build_cli(), ["customer", "forget", "JOHN@example.com"])
    assert result.exit_code == 0, result.output
    assert "john@example.com" not in result.output.lower()
    _nothing_personal_left(engine)
    _order_and_shipment(url, suffix="-again")
    drain(pipeline)
    assert len(_rows(engine, OutboxEmailRow)) == 2


def test_retention_empties_finished_bodies_and_messages_and_keeps_what_is_still_needed(
    url: str, engine: Engine, pipeline: Pipeline
) -> None:
    _order_and_shipment(url)
    drain(pipeline)
    later = shopify_sample("orders_create", cancelled_at=None, id=1)
    assert _post(url, "orders/create", "evt-pending", later).status_code == 200
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    assert purge_expired(sessions, now, timedelta(days=90)).deliveries == 0
    purged = purge_expired(sessions, now + timedelta(days=91), timedelta(days=90))
    assert (purged.deliveries, purged.emails) == (2, 2)
    inbox = _rows(engine, InboxEventRow)
    assert [r.raw_body is None for r in inbox] == [True, True, False]  # pending kept
    assert all(e.mime == b"" and e.idempotency_key for e in _rows(engine, OutboxEmailRow))
    again = purge_expired(sessions, now + timedelta(days=91), timedelta(days=90))
    assert (again.deliveries, again.emails) == (0, 0)
