"""The webhook endpoint's answers when the inbox is slow, and its HTTP details.

``test_webhook_receiver.py`` covers what each delivery means; these pin down what a store
sees when the inbox writer does not answer in time, and that the endpoint answers like the
rest of the Starlette app.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from aftercare.receiver import Receiver, build_app, endpoint
from aftercare.settings import Settings
from aftercare.stores.registry import build_adapters
from tests.test_webhook_receiver import SHOPIFY_SECRET, shopify_headers, shopify_sample
from tests.webhook_server import running_receiver


@dataclass
class SilentWriter:
    """An inbox writer whose database never confirms (a hung connection)."""

    alive: bool = True
    rows: list[dict[str, Any]] = field(default_factory=list)

    def stored(self, row: dict[str, Any]) -> asyncio.Future[bool]:
        self.rows.append(row)
        return asyncio.get_running_loop().create_future()


@pytest.fixture
def silent() -> SilentWriter:
    return SilentWriter()


@pytest.fixture
def receiver(silent: SilentWriter, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    monkeypatch.setattr(endpoint, "STORE_TIMEOUT_SECONDS", 0.2)
    settings = Settings(
        database_url="sqlite://",
        shopify={"webhook_secret": SecretStr(SHOPIFY_SECRET)},
        _env_file=None,
    )
    return Receiver(
        sessions=None,  # type: ignore[arg-type] - /healthz is not called
        writer=silent,  # type: ignore[arg-type]
        adapters=build_adapters(settings),
        nudge=lambda: pytest.fail("nothing was stored: no nudge"),
        clock=lambda: datetime(2026, 11, 16, 9, 30, tzinfo=UTC),
    )


@pytest.fixture
def url(receiver: Receiver) -> Iterator[str]:
    with running_receiver(receiver) as base:
        yield base


def test_an_inbox_that_does_not_confirm_in_time_gets_503_so_the_store_retries(
    url: str, silent: SilentWriter
) -> None:
    body = shopify_sample("orders_create", cancelled_at=None)
    answer = httpx.post(
        f"{url}/webhooks/shopify",
        content=body,
        headers=shopify_headers(body, "orders/create", "evt-slow"),
    )
    assert answer.status_code == 503 and "retry" in answer.json()["error"]
    assert [row["source_event_id"] for row in silent.rows] == ["evt-slow"]


def test_a_malformed_delivery_not_confirmed_in_time_gets_503_too(
    url: str, silent: SilentWriter
) -> None:
    body = b"<html>not json</html>"
    answer = httpx.post(
        f"{url}/webhooks/shopify",
        content=body,
        headers=shopify_headers(body, "orders/create", "evt-html"),
    )
    assert answer.status_code == 503
    assert [row["status"] for row in silent.rows] == ["invalid"]


def _signed(**headers: str) -> tuple[bytes, dict[str, str]]:
    """A signed Shopify order (the signature covers the body only) with ``headers`` set."""
    body = shopify_sample("orders_create", cancelled_at=None)
    return body, {**shopify_headers(body, "orders/create", "evt-1"), **headers}


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        pytest.param({"X-Shopify-Topic": "orders/" + "x" * 3000}, "x-shopify-topic", id="topic"),
        pytest.param(
            {"X-Shopify-Topic": "orders/" + "x" * 150}, "x-shopify-topic", id="topic column"
        ),
        pytest.param({"X-Shopify-Event-Id": "x" * 3000}, "x-shopify-event-id", id="event id"),
        pytest.param(
            {"X-Shopify-Event-Id": "x" * 250}, "x-shopify-event-id", id="dedupe key column"
        ),
        pytest.param({"User-Agent": "Mozilla/5.0 " + "x" * 2000}, "user-agent", id="user agent"),
        pytest.param({"X-Shopify-" + "x" * 1100: "1"}, "x-shopify-…", id="name"),
        pytest.param(
            {f"X-Shopify-Extra-{n}": "x" * 1000 for n in range(9)},
            "the headers the receiver keeps",
            id="total",
        ),
    ],
)
def test_a_kept_header_too_long_for_the_inbox_gets_431_naming_it_and_nothing_is_stored(
    url: str, silent: SilentWriter, headers: dict[str, str], named: str
) -> None:
    body, signed = _signed(**headers)
    answer = httpx.post(f"{url}/webhooks/shopify", content=body, headers=signed)
    assert answer.status_code == 431
    assert named in answer.json()["error"] and "x" * 50 not in answer.text  # never the value
    assert silent.rows == []


def test_dedupe_keys_that_differ_past_the_column_length_are_refused_not_taken_for_one(
    url: str, silent: SilentWriter
) -> None:
    """Cut to fit, the second would be stored as a duplicate of the first: lost."""
    answers = [
        httpx.post(f"{url}/webhooks/shopify", content=body, headers=headers)
        for body, headers in (
            _signed(**{"X-Shopify-Event-Id": "e" * 200 + ending}) for ending in ("-one", "-two")
        )
    ]
    assert [a.status_code for a in answers] == [431, 431]
    assert silent.rows == []


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Shopify-Topic", "orders/\x00create"),
        ("X-Shopify-Event-Id", "evt-1\x00"),
        ("X-Shopify-Shop-Domain", "fern-and-field.myshopify.com\r\nX-Injected: 1"),
        ("User-Agent", "Shopify-Captain-Hook\x7f"),
    ],
)
def test_a_control_character_in_a_kept_header_gets_400_naming_it_and_nothing_is_stored(
    receiver: Receiver, silent: SilentWriter, header: str, value: str
) -> None:
    """Straight to the app: the HTTP server in front (uvicorn's h11) refuses these itself,
    but another one might pass them on."""
    body, signed = _signed(**{header: value})

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=build_app(receiver))
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
            return await client.post("/webhooks/shopify", content=body, headers=signed)

    answer = asyncio.run(post())
    assert answer.status_code == 400
    assert f"the {header.lower()} header contains a control character" in answer.json()["error"]
    assert silent.rows == []


def test_answers_are_json_with_a_length(url: str) -> None:
    answer = httpx.post(f"{url}/webhooks/magento", content=b"{}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    assert int(answer.headers["content-length"]) == len(answer.content)
    assert answer.json()["error"].startswith("no store adapter 'magento'")


def test_only_post_is_routed(url: str) -> None:
    assert httpx.get(f"{url}/webhooks/shopify").status_code == 405


def test_what_the_server_built_before_serving_is_kept_out_of_garbage_collection(
    silent: SilentWriter,
) -> None:
    app = build_app(
        Receiver(
            sessions=None,  # type: ignore[arg-type]
            writer=silent,  # type: ignore[arg-type]
            adapters={},
            nudge=lambda: None,
        )
    )
    built_before = [[n] for n in range(1000)]  # containers: the collector tracks them

    async def start_and_look() -> tuple[int, set[int]]:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count(), {id(o) for o in gc.get_objects()}

    gc.unfreeze()
    try:
        frozen, collectable = asyncio.run(start_and_look())
        assert frozen >= len(built_before)
        assert not collectable & {id(o) for o in built_before}
    finally:
        gc.unfreeze()
