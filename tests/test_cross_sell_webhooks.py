"""A stock change arriving by webhook shows in the next email (issue 11, "done when").

Through the real receiver over HTTP and the real drain, on SQLite and PostgreSQL: Shopify
sends two products (``products/create``, shaped like its sample product), an order comes
in and its confirmation offers both; then ``inventory_levels/update`` says one of them is
sold out at its only location, and the next order's confirmation no longer offers it.
"""

from __future__ import annotations

import copy
import email
from collections.abc import Iterator
from dataclasses import replace
from email import policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from aftercare.drain import Pipeline, build_pipeline, drain
from aftercare.receiver import build_receiver
from aftercare.settings import Settings, StoreFacts
from aftercare.storage.database import session_factory
from aftercare.storage.schema import InboxEventRow, InboxStatus, OutboxEmailRow
from tests import test_store_shopify as shopify
from tests.conftest import TEST_LINK_SECRET
from tests.webhook_server import running_receiver


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        outbox_dir=tmp_path / "outbox",
        shopify={"webhook_secret": SecretStr(shopify.SECRET)},
        store=StoreFacts(default_currency="USD"),  # the sample shop's currency
        link_secret=SecretStr(TEST_LINK_SECRET),
        _env_file=None,
    )


@pytest.fixture
def pipeline(settings: Settings, engine: Engine) -> Pipeline:
    return replace(build_pipeline(settings), sessions=session_factory(engine))


@pytest.fixture
def url(settings: Settings) -> Iterator[str]:
    receiver = build_receiver(settings, nudge=lambda: None)
    try:
        with running_receiver(receiver) as base:
            yield base
    finally:
        receiver.writer.close()


def _product(product_id: int, title: str, price: str, stock: int, item: int) -> dict[str, Any]:
    """Shopify's sample product with one variant of its own (and its inventory item)."""
    product = copy.deepcopy(shopify.sample("product")["product"])
    variant = product["variants"][0] | {
        "id": product_id * 10,
        "product_id": product_id,
        "price": price,
        "inventory_quantity": stock,
        "inventory_item_id": item,
        "sku": f"SKU-{product_id}",
    }
    return product | {
        "id": product_id,
        "title": title,
        "handle": title.lower().replace(" ", "-"),
        "status": "active",
        "variants": [variant],
    }


def _post(url: str, topic: str, body: dict[str, Any], event_id: str) -> None:
    signed = shopify.delivery(body, topic, x_shopify_event_id=event_id)
    headers = {name: value for name, value in signed.headers.items() if name != "host"}
    answer = httpx.post(f"{url}/webhooks/shopify", content=signed.body, headers=headers)
    assert answer.status_code == 200, answer.text


def _confirmation(engine: Engine, order_id: int) -> OutboxEmailRow:
    with Session(engine) as s:
        rows = list(
            s.scalars(select(OutboxEmailRow).where(OutboxEmailRow.kind == "order_confirmation"))
        )
    (row,) = [r for r in rows if str(order_id) in r.idempotency_key]
    return row


def test_a_stock_change_by_webhook_shows_in_the_next_email(
    url: str, pipeline: Pipeline, engine: Engine
) -> None:
    _post(url, "products/create", _product(111, "Polarised lens cloth", "29.00", 4, 9001), "p1")
    _post(url, "products/create", _product(222, "Travel case", "49.00", 12, 9002), "p2")
    _post(url, "orders/paid", shopify.open_order("paid", order_id=5001), "o1")
    drain(pipeline)
    first = _confirmation(engine, 5001)
    assert [p["id"] for p in first.explanation["cross_sell"]] == ["111", "222"]
    html = email.message_from_bytes(first.mime, policy=policy.default).get_body(("html",))
    assert "Polarised lens cloth" in html.get_content()

    sold_out = {
        "inventory_item_id": 9001,
        "location_id": 905684977,
        "available": 0,
        "updated_at": "2030-01-01T00:00:00-05:00",
    }
    _post(url, "inventory_levels/update", sold_out, "s1")
    _post(url, "orders/paid", shopify.open_order("paid", order_id=5002), "o2")
    drain(pipeline)
    second = _confirmation(engine, 5002)
    assert [p["id"] for p in second.explanation["cross_sell"]] == ["222"]
    text = email.message_from_bytes(second.mime, policy=policy.default).get_body(("plain",))
    assert "Polarised lens cloth" not in text.get_content()
    with Session(engine) as s:
        statuses = {row.topic: row.status for row in s.scalars(select(InboxEventRow))}
    assert statuses["inventory_levels/update"] == InboxStatus.PROCESSED
    assert statuses["products/create"] == InboxStatus.PROCESSED


def test_a_malformed_product_webhook_is_kept_as_invalid_and_sending_goes_on(
    url: str, pipeline: Pipeline, engine: Engine
) -> None:
    broken = _product(333, "Broken", "29.00", 4, 9003)
    broken["variants"][0]["price"] = "twenty-nine"
    _post(url, "products/update", broken, "bad")
    _post(url, "orders/paid", shopify.open_order("paid", order_id=5003), "o3")
    drain(pipeline)
    with Session(engine) as s:
        bad = s.scalars(select(InboxEventRow).where(InboxEventRow.topic == "products/update")).one()
    assert bad.status == InboxStatus.INVALID and "price" in (bad.last_error or "")
    assert _confirmation(engine, 5003).status == "sent"
