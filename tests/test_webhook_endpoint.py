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
def url(silent: SilentWriter, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(endpoint, "STORE_TIMEOUT_SECONDS", 0.2)
    settings = Settings(
        database_url="sqlite://",
        shopify={"webhook_secret": SecretStr(SHOPIFY_SECRET)},
        _env_file=None,
    )
    receiver = Receiver(
        sessions=None,  # type: ignore[arg-type] - /healthz is not called
        writer=silent,  # type: ignore[arg-type]
        adapters=build_adapters(settings),
        nudge=lambda: pytest.fail("nothing was stored: no nudge"),
        clock=lambda: datetime(2026, 11, 16, 9, 30, tzinfo=UTC),
    )
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
