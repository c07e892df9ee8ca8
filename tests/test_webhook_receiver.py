"""The webhook receiver over real HTTP: official sample payloads, signed as the stores sign.

Every delivery is answered only after it is stored; bad deliveries get the answer a store
(or an operator) can act on, and nothing is lost.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import Pipeline, build_pipeline, drain
from aftercare.drain.replay import ReplayError, replay
from aftercare.receiver import InboxWriter, Receiver, delivery_row
from aftercare.sample_store import orders
from aftercare.settings import Settings
from aftercare.storage.database import make_engine, session_factory
from aftercare.storage.schema import InboxEventRow, InboxStatus, OutboxEmailRow
from aftercare.stores import Delivery
from aftercare.stores.generic import signature as generic_signature
from aftercare.stores.registry import build_adapters
from tests.webhook_server import running_receiver

FIXTURES = Path(__file__).parent / "fixtures"
SHOPIFY_SECRET = "shpss_receiver_test"
WOO_SECRET = "wc_receiver_test"
GENERIC_SECRET = "generic_receiver_test"


def shopify_sample(name: str, **changes: Any) -> bytes:
    data = json.loads((FIXTURES / "shopify" / f"{name}.json").read_text())
    data.update(changes)
    return json.dumps(data).encode()


def shopify_headers(body: bytes, topic: str, event_id: str, secret: str = SHOPIFY_SECRET) -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Shop-Domain": "fern-and-field.myshopify.com",
        "X-Shopify-API-Version": "2026-07",
        "X-Shopify-Webhook-Id": f"webhook-{event_id}",
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Triggered-At": "2026-11-16T09:30:00.000000Z",
    }


@dataclass
class Nudges:
    count: int = 0
    seen: list[int] = field(default_factory=list)

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        outbox_dir=tmp_path / "outbox",
        shopify={"webhook_secret": SecretStr(SHOPIFY_SECRET), "confirm_on": "orders/create"},
        woocommerce={"webhook_secret": SecretStr(WOO_SECRET)},
        generic={"webhook_secret": SecretStr(GENERIC_SECRET)},
        _env_file=None,
    )


@pytest.fixture
def nudges() -> Nudges:
    return Nudges()


@pytest.fixture
def receiver(settings: Settings, engine: Engine, nudges: Nudges) -> Iterator[Receiver]:
    writer = InboxWriter(engine)
    yield Receiver(
        sessions=session_factory(engine),
        writer=writer,
        adapters=build_adapters(settings),
        nudge=nudges,
        max_body_bytes=64 * 1024,
    )
    writer.close()


@pytest.fixture
def pipeline(settings: Settings, engine: Engine) -> Pipeline:
    return replace(build_pipeline(settings), sessions=session_factory(engine))


@pytest.fixture
def url(receiver: Receiver) -> Iterator[str]:
    with running_receiver(receiver) as base:
        yield base


def _inbox(engine: Engine) -> list[InboxEventRow]:
    with Session(engine) as s:
        return list(s.scalars(select(InboxEventRow).order_by(InboxEventRow.id)))


def _emails(engine: Engine) -> list[OutboxEmailRow]:
    with Session(engine) as s:
        return list(s.scalars(select(OutboxEmailRow).order_by(OutboxEmailRow.id)))


def test_healthz_reports_the_database_and_the_stores(url: str) -> None:
    answer = httpx.get(f"{url}/healthz")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "database": "ok",
        "stores": ["generic", "shopify", "woocommerce"],
        "sending": "ok",
        "oldest_due_event_seconds": None,
        "oldest_due_email_seconds": None,
    }


def test_a_signed_shopify_order_is_stored_before_the_200_and_nudges_the_drain(
    url: str, engine: Engine, nudges: Nudges, pipeline: Pipeline
) -> None:
    body = shopify_sample("orders_create", cancelled_at=None)
    answer = httpx.post(
        f"{url}/webhooks/shopify",
        content=body,
        headers=shopify_headers(body, "orders/create", "evt-1"),
    )
    assert answer.status_code == 200 and answer.json()["received"] == 1
    (row,) = _inbox(engine)
    assert (row.source, row.source_event_id, row.status) == ("shopify", "evt-1", "pending")
    assert row.topic == "orders/create"
    assert row.raw_body == body and row.raw_headers["x-shopify-event-id"] == "evt-1"
    assert nudges.count == 1
    drain(pipeline)
    (row,) = _inbox(engine)
    assert (row.status, row.kind) == (InboxStatus.PROCESSED, "order_placed")
    assert [e.kind for e in _emails(engine)] == ["order_confirmation"]


def test_a_delivery_keeps_the_headers_its_store_declares_never_cookies_or_credentials(
    url: str, engine: Engine
) -> None:
    body = shopify_sample("orders_create", cancelled_at=None)
    signed = shopify_headers(body, "orders/create", "evt-1")
    answer = httpx.post(
        f"{url}/webhooks/shopify",
        content=body,
        headers={
            **signed,
            "User-Agent": "Shopify-Captain-Hook",
            "Cookie": "session=from-a-browser",
            "Authorization": "Bearer a-proxy-token",
            "X-Forwarded-For": "203.0.113.9",
            "X-WC-Webhook-Source": "https://elsewhere.example/",  # another store's header
            "webhook-id": "msg-1",  # and the generic webhook's
        },
    )
    assert answer.status_code == 200
    (row,) = _inbox(engine)
    assert row.raw_headers == {
        **{name.lower(): value for name, value in signed.items()},  # X-Shopify-*, Content-Type
        "user-agent": "Shopify-Captain-Hook",
    }


def test_shopify_retries_of_one_event_are_stored_once(
    url: str, engine: Engine, nudges: Nudges
) -> None:
    body = shopify_sample("orders_create", cancelled_at=None)
    headers = shopify_headers(body, "orders/create", "evt-1")
    answers = [
        httpx.post(f"{url}/webhooks/shopify", content=body, headers=headers) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["duplicate"] for a in answers] == [0, 1, 1]
    assert len(_inbox(engine)) == 1
    assert nudges.count == 1


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda h: h.pop("X-Shopify-Hmac-Sha256"), "X-Shopify-Hmac-Sha256"),
        (lambda h: h.update({"X-Shopify-Hmac-Sha256": base64.b64encode(b"x" * 32).decode()}), ""),
    ],
)
def test_a_forged_or_unsigned_delivery_is_refused_and_nothing_is_stored(
    url: str, engine: Engine, nudges: Nudges, mutate, expected: str
) -> None:
    body = shopify_sample("orders_create")
    headers = shopify_headers(body, "orders/create", "evt-forged")
    mutate(headers)
    answer = httpx.post(f"{url}/webhooks/shopify", content=body, headers=headers)
    assert answer.status_code == 401
    assert expected in answer.json()["error"]
    assert _inbox(engine) == [] and nudges.count == 0


def test_a_topic_aftercare_does_not_use_is_answered_200_and_recorded(
    url: str, engine: Engine
) -> None:
    body = b'{"id": 1, "title": "Summer collection"}'
    answer = httpx.post(
        f"{url}/webhooks/shopify",
        content=body,
        headers=shopify_headers(body, "collections/update", "evt-collection"),
    )
    assert answer.status_code == 200 and answer.json()["ignored"]
    (row,) = _inbox(engine)
    assert row.status == InboxStatus.IGNORED and "collections/update" in row.last_error


def test_a_delivery_missing_its_identifying_fields_gets_422_and_is_kept(
    url: str, engine: Engine, nudges: Nudges
) -> None:
    order = json.loads(shopify_sample("orders_create"))
    del order["line_items"]
    body = json.dumps(order).encode()
    answer = httpx.post(
        f"{url}/webhooks/shopify",
        content=body,
        headers=shopify_headers(body, "orders/create", "evt-no-lines"),
    )
    assert answer.status_code == 422
    assert "line_items" in answer.json()["error"] and answer.json()["kept_for_inspection"]
    (row,) = _inbox(engine)
    assert row.status == InboxStatus.INVALID and row.raw_body == body
    assert nudges.count == 0


def test_a_deeper_problem_found_by_the_drain_is_kept_invalid_then_fixed_and_replayed(
    url: str, engine: Engine, pipeline: Pipeline
) -> None:
    good = shopify_sample("orders_create", cancelled_at=None)
    broken = good.replace(b'"presentment_currency": "USD"', b'"presentment_currency": "XYZ"', 1)
    answer = httpx.post(
        f"{url}/webhooks/shopify",
        content=broken,
        headers=shopify_headers(broken, "orders/create", "evt-bad"),
    )
    assert answer.status_code == 200  # stored: the cheap checks of the request path passed
    report = drain(pipeline)
    (row,) = _inbox(engine)
    assert report.prepare.invalid == 1
    assert row.status == InboxStatus.INVALID and "currency" in row.last_error
    assert _emails(engine) == []

    result = replay(pipeline.sessions, row.id, datetime.now(UTC), corrected_body=good)
    assert "queued again" in result.message
    drain(pipeline)
    (row,) = _inbox(engine)
    assert (row.status, row.kind) == (InboxStatus.PROCESSED, "order_placed")
    assert [e.kind for e in _emails(engine)] == ["order_confirmation"]
    with pytest.raises(ReplayError, match="only invalid or dead"):
        replay(pipeline.sessions, row.id, datetime.now(UTC))


def test_a_body_that_is_not_json_gets_400(url: str, engine: Engine) -> None:
    body = b"<html>not json</html>"
    answer = httpx.post(
        f"{url}/webhooks/shopify",
        content=body,
        headers=shopify_headers(body, "orders/create", "evt-html"),
    )
    assert answer.status_code == 400
    assert _inbox(engine)[0].status == InboxStatus.INVALID


def test_an_oversized_body_gets_413_without_being_read_whole(url: str, engine: Engine) -> None:
    body = b'{"padding": "' + b"x" * (65 * 1024) + b'"}'
    answer = httpx.post(
        f"{url}/webhooks/shopify",
        content=body,
        headers=shopify_headers(body, "orders/create", "evt-big"),
    )
    assert answer.status_code == 413
    assert _inbox(engine) == []


def test_a_database_outage_answers_503_so_the_store_retries(receiver: Receiver) -> None:
    unreachable = make_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 1}
    )
    down = replace(receiver, sessions=session_factory(unreachable), writer=InboxWriter(unreachable))
    body = shopify_sample("orders_create", cancelled_at=None)
    with running_receiver(down) as base:
        answer = httpx.post(
            f"{base}/webhooks/shopify",
            content=body,
            headers=shopify_headers(body, "orders/create", "evt-down"),
        )
        health = httpx.get(f"{base}/healthz")
    assert answer.status_code == 503 and "retry" in answer.json()["error"]
    assert health.status_code == 503


def test_an_unknown_store_gets_404_naming_the_routes(url: str) -> None:
    answer = httpx.post(f"{url}/webhooks/magento", content=b"{}")
    assert answer.status_code == 404 and "shopify" in answer.json()["error"]


def test_woocommerce_creation_ping_is_answered_without_a_signature(
    url: str, engine: Engine
) -> None:
    answer = httpx.post(
        f"{url}/webhooks/woocommerce",
        content=b"webhook_id=17",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200 and answer.json()["ping"] is True
    assert _inbox(engine) == []


def test_a_signed_woocommerce_order_is_stored_and_confirmed(
    url: str, engine: Engine, pipeline: Pipeline
) -> None:
    body = (FIXTURES / "woocommerce" / "orders__01_create_an_order.json").read_bytes()
    data = json.loads(body)
    order = data.get("response", data) if isinstance(data, dict) else data
    body = json.dumps(order).encode()
    digest = hmac.new(WOO_SECRET.encode(), body, hashlib.sha256).digest()
    answer = httpx.post(
        f"{url}/webhooks/woocommerce",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Event": "created",
            "X-WC-Webhook-Signature": base64.b64encode(digest).decode(),
            "X-WC-Webhook-ID": "17",
            "X-WC-Webhook-Delivery-ID": "1001",
        },
    )
    assert answer.status_code == 200, answer.text
    drain(pipeline)
    (row,) = _inbox(engine)
    assert (row.source, row.status, row.kind) == ("woocommerce", "processed", "order_placed")
    assert [e.kind for e in _emails(engine)] == ["order_confirmation"]


def _generic_post(base: str, body: bytes, webhook_id: str, timestamp: int) -> httpx.Response:
    return httpx.post(
        f"{base}/webhooks/generic",
        content=body,
        headers={
            "Content-Type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": generic_signature(GENERIC_SECRET, webhook_id, timestamp, body),
        },
    )


def test_a_generic_event_signed_long_ago_is_refused_as_a_replay(url: str, engine: Engine) -> None:
    body = orders.welcome(source="generic").model_dump_json().encode()
    stale = _generic_post(url, body, "msg-1", int(time.time()) - 3600)
    fresh = _generic_post(url, body, "msg-1", int(time.time()))
    assert stale.status_code == 401 and fresh.status_code == 200
    assert len(_inbox(engine)) == 1


def test_a_generic_delivery_keeps_its_standard_webhooks_headers_and_no_other_stores(
    url: str, engine: Engine
) -> None:
    body = orders.welcome(source="generic").model_dump_json().encode()
    timestamp = int(time.time())
    envelope = {
        "webhook-id": "msg-1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": generic_signature(GENERIC_SECRET, "msg-1", timestamp, body),
    }
    answer = httpx.post(
        f"{url}/webhooks/generic",
        content=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "erp-sync/2.1",
            **envelope,
            "X-Shopify-Topic": "orders/create",
            "Authorization": "Basic c2VjcmV0",
        },
    )
    assert answer.status_code == 200, answer.text
    (row,) = _inbox(engine)
    assert row.raw_headers == {
        "content-type": "application/json",
        "user-agent": "erp-sync/2.1",
        **envelope,
    }


def test_a_shipment_that_overtakes_its_order_loses_no_email(
    url: str, engine: Engine, pipeline: Pipeline
) -> None:
    shipment = shopify_sample("fulfillments_create")
    order = shopify_sample("orders_create", cancelled_at=None)
    httpx.post(
        f"{url}/webhooks/shopify",
        content=shipment,
        headers=shopify_headers(shipment, "fulfillments/create", "evt-ship"),
    )
    drain(pipeline)
    assert _emails(engine) == []
    assert _inbox(engine)[0].status == InboxStatus.PENDING  # waiting for its order
    httpx.post(
        f"{url}/webhooks/shopify",
        content=order,
        headers=shopify_headers(order, "orders/create", "evt-order"),
    )
    drain(pipeline)
    # the shipment's retry is due after its backoff
    drain(replace(pipeline, clock=lambda: datetime.now(UTC) + timedelta(hours=1)))
    assert sorted(e.kind for e in _emails(engine)) == ["order_confirmation", "order_shipped"]


def test_a_request_that_gave_up_does_not_stop_the_inbox_writer(
    engine: Engine, settings: Settings
) -> None:
    shopify = build_adapters(settings)["shopify"]
    writer = InboxWriter(engine)
    try:
        body = shopify_sample("orders_create", cancelled_at=None)
        headers = {k.lower(): v for k, v in shopify_headers(body, "orders/create", "e").items()}
        now = datetime.now(UTC)
        abandoned = writer.submit(
            delivery_row(shopify, "gone", Delivery(headers, body, now), topic="orders/create")
        )
        abandoned.cancel()  # what asyncio does when the request task is cancelled
        later = writer.submit(
            delivery_row(shopify, "later", Delivery(headers, body, now), topic="orders/create")
        )
        assert later.result(timeout=10) is True
        assert writer.alive
    finally:
        writer.close()
    assert {r.source_event_id for r in _inbox(engine)} >= {"later"}
